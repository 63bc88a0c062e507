"""Atomic output: the target appears whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from soundsentry.io import atomic_output, atomic_write_text


def test_atomic_write_text_creates_folders_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.csv"
    atomic_write_text(target, "x\n")
    atomic_write_text(target, "y\n")
    assert target.read_text() == "y\n"
    assert [p.name for p in target.parent.iterdir()] == ["b.csv"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError, match="disk full"), atomic_output(target) as tmp:
        tmp.write_text("half a fi")
        raise RuntimeError("disk full")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_temporary_keeps_the_suffix_for_format_detection(tmp_path: Path) -> None:
    with atomic_output(tmp_path / "clip.flac") as tmp:
        assert tmp.suffix == ".flac" and tmp.parent == tmp_path
        tmp.write_bytes(b"")


def test_outputs_get_ordinary_permissions_not_the_temporary_files_private_ones(tmp_path: Path) -> None:
    import os

    from soundsentry.io import _UMASK

    path = atomic_write_text(tmp_path / "report.html", "<html></html>")
    assert path.stat().st_mode & 0o777 == 0o666 & ~_UMASK
    assert os.umask(_UMASK) == _UMASK  # reading it back leaves it unchanged
