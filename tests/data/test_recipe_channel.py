"""The recipe-level channel policy ``features.channel``: two-channel (DCASE 2026) and mono clips through the
training / extraction feature pipeline and the deploy detector's loader."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from soundsentry.config import load_recipe, recipe_from_dict
from soundsentry.deploy.detector import Detector
from soundsentry.errors import ConfigError
from soundsentry.training.features import build_feature_pipeline, compute_chunks
from soundsentry.types import Clip

RATE = 16000
RECIPE = "s1_arcface_mfn_demo"


def _signals(n: int = RATE // 2) -> tuple[np.ndarray, np.ndarray]:
    """A 440 Hz tone on the left (near) channel, a 3 kHz tone plus noise on the right (far) one."""
    t = np.arange(n) / RATE
    left = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    right = 0.3 * np.sin(2 * np.pi * 3000.0 * t) + 0.05 * np.random.default_rng(0).standard_normal(n)
    return left.astype(np.float32), right.astype(np.float32)


@pytest.fixture
def clips(tmp_path: Path) -> dict[str, Path]:
    """One two-channel WAV (left != right), its channels written as mono WAVs, and their float mean as mono."""
    left, right = _signals()
    paths = {k: tmp_path / f"{k}.wav" for k in ("stereo", "left", "right", "mean")}
    sf.write(paths["stereo"], np.stack([left, right], axis=1), RATE, subtype="FLOAT")
    sf.write(paths["left"], left, RATE, subtype="FLOAT")
    sf.write(paths["right"], right, RATE, subtype="FLOAT")
    sf.write(paths["mean"], np.stack([left, right], axis=1).mean(axis=1, dtype=np.float32), RATE, subtype="FLOAT")
    return paths


def _recipe(channel: str | None):
    overrides = [] if channel is None else [f"features.channel={channel}"]
    return load_recipe(RECIPE, overrides)


def _features(path: Path, channel: str | None) -> torch.Tensor:
    recipe = _recipe(channel)
    clip = Clip(path=str(path), machine_type="ToyDrone", section="00")
    return compute_chunks([clip], build_feature_pipeline(recipe), recipe.features).chunks


@pytest.mark.parametrize("channel", ["left", "right", "mean"])
def test_feature_pipeline_takes_the_recipe_channel(clips: dict[str, Path], channel: str) -> None:
    got = _features(clips["stereo"], channel)
    assert torch.equal(got, _features(clips[channel], channel))
    for other in {"left", "right", "mean"} - {channel}:
        assert not torch.allclose(got, _features(clips[other], channel))


def test_default_is_mean_and_unchanged(clips: dict[str, Path]) -> None:
    assert _recipe(None).features.channel == "mean"
    assert torch.equal(_features(clips["stereo"], None), _features(clips["mean"], "mean"))


@pytest.mark.parametrize("channel", ["left", "right", "mean"])
def test_a_mono_clip_gives_its_signal_under_every_policy(clips: dict[str, Path], channel: str) -> None:
    assert torch.equal(_features(clips["right"], channel), _features(clips["right"], None))


@pytest.mark.parametrize("channel", ["left", "right", "mean"])
def test_detector_loads_clips_with_the_bundled_policy(clips: dict[str, Path], channel: str) -> None:
    # A bundle stores recipe.to_dict(); the detector rebuilds the recipe from it (Detector.__init__).
    stored = recipe_from_dict(_recipe(channel).to_dict())
    detector = SimpleNamespace(recipe=stored)
    wave = Detector.load_clip(detector, clips["stereo"])  # type: ignore[arg-type]
    expected, _ = sf.read(clips[channel], dtype="float32")
    np.testing.assert_array_equal(wave, expected)
    mono = Detector.load_clip(detector, clips["left"])  # type: ignore[arg-type]
    np.testing.assert_array_equal(mono, sf.read(clips["left"], dtype="float32")[0])


def test_an_invalid_channel_is_one_line_naming_the_valid_values() -> None:
    with pytest.raises(ConfigError) as info:
        _recipe("middle")
    message = str(info.value)
    assert "\n" not in message
    assert "features.channel is 'middle'; valid values: left, right, mean, both" in message


def test_both_is_refused_at_validation_in_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        _recipe("both")
    message = str(info.value)
    assert "\n" not in message
    assert "features.channel 'both' needs a front-end taking (B, C, n)" in message and "in_chans" in message
