"""Issue 15, item 5: a forced layout that recognises none of the files is one line and exit 2, never an empty
manifest with exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from soundsentry.cli import main


def _touch(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    return root


@pytest.mark.parametrize("layout", ["dcase2020", "mimii"])
def test_2022_tree_forced_to_another_layout_exits_2(tiny_dcase2022: Path, tmp_path: Path, capsys, layout: str):
    manifest = tmp_path / "manifest.jsonl"
    assert main(["prepare", str(tiny_dcase2022), "-o", str(manifest), "--layout", layout]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"layout {layout!r} recognises none of the audio files under {tiny_dcase2022}" in err
    assert "detection picks 'dcase2022'" in err
    assert not manifest.exists()


@pytest.mark.parametrize("layout", ["dcase2021", "dcase2022", "mimii"])
def test_2020_tree_forced_to_another_layout_exits_2(tmp_path: Path, capsys, layout: str) -> None:
    root = _touch(tmp_path / "d", "fan/train/normal_id_00_00000000.wav", "fan/test/anomaly_id_00_00000001.wav")
    manifest = tmp_path / "manifest.jsonl"
    assert main(["prepare", str(root), "-o", str(manifest), "--layout", layout]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"layout {layout!r} recognises none" in err and "detection picks 'dcase2020'" in err
    assert not manifest.exists()
