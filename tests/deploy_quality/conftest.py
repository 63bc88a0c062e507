"""Fixtures for the input-quality gate tests: one tiny trained detector per session (the training tests' recipe)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from soundsentry import stages
from soundsentry.deploy import Detector, export_detector


@pytest.fixture(scope="session")
def quality_bundle(tiny_data: Path, tiny_overrides: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detector bundle trained for one epoch on the tiny data set (16 kHz, 126-point STFT, 32-frame chunks)."""
    run_dir = tmp_path_factory.mktemp("quality_run")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stages.run("s1_arcface_mfn_demo", tiny_data, run_dir, [*tiny_overrides, "train.epochs=1"])
    return export_detector(run_dir, tmp_path_factory.mktemp("quality_bundle") / "detector")


@pytest.fixture(scope="session")
def quality_detector(quality_bundle: Path) -> Detector:
    return Detector(quality_bundle)


@pytest.fixture(scope="session")
def good_clips(tiny_data: Path) -> list[Path]:
    """Three normal-looking test clips of fan section 00 that every gate check passes."""
    return sorted((tiny_data / "fan" / "test").glob("section_00_*.wav"))[:3]
