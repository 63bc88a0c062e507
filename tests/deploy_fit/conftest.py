"""Fixtures for ``soundsentry fit`` and per-domain thresholds: tiny folders of generated recordings."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def one_machine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a plain folder ``pump1/`` of one machine's normal clips, renamed so that no name says anything; a folder of
    the same machine's normal and anomalous test clips under the same operating conditions, DCASE names).
    Generated set, fan, one section, its source domain."""
    from soundsentry.data.synth import generate

    root = tmp_path_factory.mktemp("one_machine")
    generate(root / "gen", scale=1.0, machine_types=["fan"], sections=1)
    plain, test = root / "pump1", root / "test"
    plain.mkdir()
    test.mkdir()
    for i, clip in enumerate(sorted((root / "gen" / "fan" / "train").glob("*_source_train_normal_*.wav"))):
        shutil.copy(clip, plain / f"rec_{i:04d}.wav")
    for clip in sorted((root / "gen" / "fan" / "test").glob("*_source_test_*.wav")):
        shutil.copy(clip, test / clip.name)
    return plain, test


def write_two_domain_tree(root: Path, *, seconds: float = 0.5, sample_rate: int = 16000) -> Path:
    """A DCASE 2022-layout tree, one machine (``fan``), one section, with enough target clips for a threshold of
    their own: 30 source + 15 target normal training clips; 3 normal + 3 anomalous test clips per domain. Target
    normals are noisier than source ones, so they score higher against a bank of mostly source clips."""
    from soundsentry.data.audio import write_audio

    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sample_rate)) / sample_rate

    def clip(domain: str, anomaly: bool) -> np.ndarray:
        f0 = 300.0 if domain == "source" else 360.0
        x = 0.3 * np.sin(2 * np.pi * f0 * t + rng.uniform(0, 6.28))
        x += (0.02 if domain == "source" else 0.06) * rng.standard_normal(t.size)
        if anomaly:
            x += 0.2 * np.sin(2 * np.pi * 3170.0 * t)
        return (x / np.max(np.abs(x)) * 0.5).astype(np.float32)

    for domain, n_train in (("source", 30), ("target", 15)):
        for i in range(n_train):
            name = f"section_00_{domain}_train_normal_{i:04d}_spd_{i}.wav"
            write_audio(root / "fan" / "train" / name, clip(domain, False), sample_rate)
        for i in range(6):
            label = "anomaly" if i % 2 else "normal"
            name = f"section_00_{domain}_test_{label}_{i:04d}_spd_{i}.wav"
            write_audio(root / "fan" / "test" / name, clip(domain, label == "anomaly"), sample_rate)
    return root


@pytest.fixture(scope="session")
def two_domains(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a :func:`write_two_domain_tree` data set."""
    return write_two_domain_tree(tmp_path_factory.mktemp("two_domains") / "data")


@pytest.fixture(scope="session")
def tiny_classifier(tiny_overrides: list[str]) -> list[str]:
    """Overrides that shrink ``s1_arcface_mfn_demo`` to a classifier 2 CPU cores train in seconds."""
    return [*tiny_overrides, "train.epochs=1"]
