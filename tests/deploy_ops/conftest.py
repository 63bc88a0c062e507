"""Fixtures for the operations tests: one tiny trained detector (1 machine type x 2 sections) and its test clips."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

from soundsentry.deploy import Detector


@pytest.fixture(scope="session")
def ops_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated DCASE 2022-layout set: fan, sections 00 and 01, 0.5 s clips."""
    from soundsentry.data.synth import generate

    root = tmp_path_factory.mktemp("ops_data")
    generate(root, scale=0.1, seconds=0.5, machine_types=["fan"], sections=2)
    return root


@pytest.fixture(scope="session")
def detector_dir(ops_data: Path, tiny_overrides: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detector exported from a one-epoch tiny S1 run on :func:`ops_data`, thresholds at a 50 % false-alarm rate."""
    from soundsentry import stages
    from soundsentry.deploy import export_detector

    run_dir = tmp_path_factory.mktemp("ops_run")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stages.run("s1_arcface_mfn_demo", ops_data, run_dir, [*tiny_overrides, "train.epochs=1"])
    # a false-alarm rate of 0.5 (threshold at the training median) makes sure some test clips raise alarms
    return export_detector(run_dir, tmp_path_factory.mktemp("ops_bundle") / "detector", percentile=0.5)


@pytest.fixture(scope="session")
def detector(detector_dir: Path) -> Detector:
    return Detector(detector_dir)


@pytest.fixture
def recordings(ops_data: Path, tmp_path: Path) -> Path:
    """A fresh folder holding copies of the set's test clips (some in a sub-folder), for one test to watch."""
    folder = tmp_path / "incoming"
    for i, clip in enumerate(sorted((ops_data / "fan" / "test").glob("*.wav"))):
        target = folder / ("later" if i % 2 else "") / clip.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, target)
    return folder
