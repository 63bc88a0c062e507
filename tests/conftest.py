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


@pytest.fixture
def device() -> str:
    """Device for tests that can run on a GPU: SOUNDSENTRY_TEST_DEVICE, default cpu."""
    return os.environ.get("SOUNDSENTRY_TEST_DEVICE", "cpu")


def write_tiny_dcase2022_tree(root: Path, *, seconds: float = 0.5, sample_rate: int = 16000) -> Path:
    """A tiny DCASE 2022-2024 tree: 2 machine types x 1 section, tonal normals, anomalies with an extra tone.

    Normal clips of a type share a fundamental; anomalies add a strong off-harmonic tone and a noise burst, so
    a mean-spectrum detector separates them easily. 8 source + 2 target training clips, 3+3 test clips per domain.
    """
    import numpy as np

    from soundsentry.data.audio import write_audio

    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    for type_index, machine in enumerate(("pumpy", "fanny")):
        f0 = 200.0 * (type_index + 1)

        def clip(domain: str, anomaly: bool, f0: float = f0) -> np.ndarray:
            shift = 1.0 if domain == "source" else 1.15
            x = 0.3 * np.sin(2 * np.pi * f0 * shift * t + rng.uniform(0, 6.28))
            x += 0.02 * rng.standard_normal(t.size)
            if anomaly:
                x += 0.2 * np.sin(2 * np.pi * 3170.0 * t)
            return (x / np.max(np.abs(x)) * 0.5).astype(np.float32)

        for domain, n_train in (("source", 8), ("target", 2)):
            for i in range(n_train):
                name = f"section_00_{domain}_train_normal_{i:04d}_spd_{i}.wav"
                write_audio(root / machine / "train" / name, clip(domain, False), sample_rate)
            for i in range(6):
                label = "anomaly" if i % 2 else "normal"
                name = f"section_00_{domain}_test_{label}_{i:04d}_spd_{i}.wav"
                write_audio(root / machine / "test" / name, clip(domain, label == "anomaly"), sample_rate)
    return root


@pytest.fixture
def tiny_dcase2022(tmp_path: Path) -> Path:
    """Path of a freshly written tiny DCASE 2022-layout data set."""
    return write_tiny_dcase2022_tree(tmp_path / "data")


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 types x 2 sections, 5 training clips per section (4 source + 1 target), 0.5 s at 16 kHz."""
    from soundsentry.data.synth import generate

    root = tmp_path_factory.mktemp("tiny_data")
    generate(root, scale=0.1, seconds=0.5)
    return root


@pytest.fixture(scope="session")
def tiny_manifest(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manifest of :func:`tiny_data`."""
    from soundsentry.data.layouts import parse_dataset
    from soundsentry.data.manifest import write_manifest

    path = tmp_path_factory.mktemp("tiny_manifest") / "manifest.jsonl"
    write_manifest(parse_dataset(tiny_data).clips, path)
    return path
