"""Shared test fixtures: everything runs on CPU with tiny generated data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Two xdist workers on two cores: one intra-op thread each avoids oversubscription.
os.environ.setdefault("OMP_NUM_THREADS", "1")

SHARED_REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return
    torch.set_num_threads(1)
    torch.manual_seed(0)


@pytest.fixture
def device() -> str:
    """Device for tests that can run on a GPU: SOUNDSENTRY_TEST_DEVICE, default cpu."""
    return os.environ.get("SOUNDSENTRY_TEST_DEVICE", "cpu")
