"""Fixtures for the training tests: a tiny generated data set and a tiny S1-like recipe."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from soundsentry.config import Recipe, load_recipe

# A net1-like model small enough for 2 CPU cores: 64 bins x 32 frames, width 0.25, 32-d embeddings.
TINY_OVERRIDES = [
    "frontend.n_fft=126",
    "frontend.hop_length=64",
    "features.chunk_hop=16",
    "backbone.input_size=[64,32]",
    "backbone.width=0.25",
    "backbone.embed_dim=32",
    "train.mode=per_machine_type",
    "train.epochs=2",
    "train.batch_size=16",
    "train.val_fraction=0.4",
    "train.progress_bar=false",
    "train.accelerator=cpu",
    "train.devices=1",
    "score.scorers=['knn_cosine:k=3']",
]


@pytest.fixture(scope="session")
def tiny_overrides() -> list[str]:
    return list(TINY_OVERRIDES)


@pytest.fixture(scope="session")
def tiny_recipe() -> Callable[..., Recipe]:
    """``tiny_recipe("train.epochs=1", ...)``: the demo recipe shrunk by TINY_OVERRIDES plus extra overrides."""

    def make(*extra: str) -> Recipe:
        return load_recipe("s1_arcface_mfn_demo", [*TINY_OVERRIDES, *extra])

    return make


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 types x 2 sections, 5 training clips per section, 0.5 s at 16 kHz."""
    from soundsentry.data.synth import generate

    root = tmp_path_factory.mktemp("tiny_data")
    generate(root, scale=0.1, seconds=0.5)
    return root


@pytest.fixture(scope="session")
def tiny_manifest(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from soundsentry.data.layouts import parse_dataset
    from soundsentry.data.manifest import write_manifest

    path = tmp_path_factory.mktemp("tiny_manifest") / "manifest.jsonl"
    write_manifest(parse_dataset(tiny_data).clips, path)
    return path
