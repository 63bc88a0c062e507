"""Fixtures for the audit tests (issue 15): a prepared tiny manifest and the CLI options of a tiny S1 run."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def tiny_train_args(tiny_overrides: list[str]) -> list[str]:
    """``--set`` options of the tiny S1 recipe (tests/conftest.py), one unit for all machine types (add
    ``--set train.epochs=N``)."""
    return [arg for value in [*tiny_overrides, "train.mode=all"] for arg in ("--set", value)]


@pytest.fixture(scope="session")
def tiny_manifest_file(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manifest of the session's tiny generated set (tests/conftest.py ``tiny_data``)."""
    from soundsentry import pipeline

    path = tmp_path_factory.mktemp("audit_manifest") / "manifest.jsonl"
    pipeline.prepare(tiny_data, path, verbose=False)
    return path
