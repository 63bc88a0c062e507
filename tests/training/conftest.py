"""Fixtures for the training tests: a tiny S1-like recipe (the tiny data set is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

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
