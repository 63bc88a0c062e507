"""A tiny generated TAU-layout scene set shared by the scene tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from soundsentry.scenes.synth import SceneSynthConfig, synth_scenes

TINY = SceneSynthConfig(
    n_scenes=2, cities=("barcelona", "lisbon"), devices=("a", "b"), clips_per_group=3, seconds=0.5, seed=3
)


@pytest.fixture(scope="session")
def tiny_config() -> SceneSynthConfig:
    return TINY


@pytest.fixture(scope="session")
def tiny_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_scenes(tmp_path_factory.mktemp("scenes") / "tau", TINY)
