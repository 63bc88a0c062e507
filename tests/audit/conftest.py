"""Fixtures for the audit tests (issue 15): a prepared tiny manifest and the CLI options of a tiny S1 run."""

from __future__ import annotations

from pathlib import Path

import pytest

# A net1-like model small enough for 2 CPU cores (as tests/training/conftest.py), one unit for all machine types.
TINY_SETS = [
    "frontend.n_fft=126",
    "frontend.hop_length=64",
    "features.chunk_hop=16",
    "backbone.input_size=[64,32]",
    "backbone.width=0.25",
    "backbone.embed_dim=32",
    "train.mode=all",
    "train.batch_size=16",
    "train.val_fraction=0.4",
    "train.progress_bar=false",
    "train.accelerator=cpu",
    "train.devices=1",
    "score.scorers=['knn_cosine:k=3']",
]


@pytest.fixture
def tiny_train_args() -> list[str]:
    """``--set`` options of the tiny S1 recipe (add ``--set train.epochs=N``)."""
    return [arg for value in TINY_SETS for arg in ("--set", value)]


@pytest.fixture(scope="session")
def tiny_manifest_file(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manifest of the session's tiny generated set (tests/conftest.py ``tiny_data``)."""
    from soundsentry import pipeline

    path = tmp_path_factory.mktemp("audit_manifest") / "manifest.jsonl"
    pipeline.prepare(tiny_data, path, verbose=False)
    return path
