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
from soundsentry.errors import AudioError, ConfigError
from soundsentry.training.features import (
    build_feature_pipeline,
    chunk_shape,
    compute_chunks,
    condition_recipe_audio,
    iter_wave_chunks,
    load_recipe_audio,
)
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


# --- features.channel: both -----------------------------------------------------------------------------------
BOTH = ["features.channel=both", "backbone.in_chans=2"]


def _one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_both_keeps_the_two_channels_as_input_channels(clips: dict[str, Path]) -> None:
    recipe = load_recipe(RECIPE, BOTH)
    clip = Clip(path=str(clips["stereo"]), machine_type="ToyDrone", section="00")
    got = compute_chunks([clip], build_feature_pipeline(recipe), recipe.features).chunks
    near, far = _features(clips["left"], "left"), _features(clips["right"], "left")
    assert got.shape == (near.shape[0], 2, *near.shape[2:])
    assert torch.equal(got, torch.cat([near, far], dim=1))  # channel 0 near (left), channel 1 far (right)
    assert chunk_shape(build_feature_pipeline(recipe), recipe.features) == tuple(got.shape[1:])


@pytest.mark.parametrize(
    ("overrides", "channels"),
    [([], 2), (["features.fold=2", "backbone.in_chans=4", "backbone.input_size=[64,32]"], 4)],
)
def test_pipeline_folds_channels_into_the_batch_and_mono_is_unchanged(overrides: list[str], channels: int) -> None:
    """(B, 2, N) -> the two channels' mono chunks side by side, fold included; (B, N) exactly as front-end, fold,
    chunk composed by hand (the mono path before channel support)."""
    from soundsentry.frontends import chunk_frames, fold_frequency

    recipe = load_recipe(RECIPE, [*BOTH, *overrides])
    pipeline = build_feature_pipeline(recipe)
    wave = torch.from_numpy(np.stack([np.stack(_signals(4000)), np.stack(_signals(4000))[::-1]]).copy())
    got = pipeline(wave)
    per_channel = [pipeline(wave[:, c]) for c in range(2)]
    assert got.shape[:3] == (2, per_channel[0].shape[1], channels)
    assert torch.equal(got, torch.cat(per_channel, dim=2))
    fold = recipe.features.fold
    by_hand = chunk_frames(fold_frequency(pipeline.frontend(wave[:, 0]), fold), recipe.features.chunk_width)
    assert torch.equal(per_channel[0], by_hand.contiguous())
    assert chunk_shape(pipeline, recipe.features) == tuple(got.shape[2:])


def test_multichannel_frontend_output_is_kept_per_audio_channel() -> None:
    """A front-end with K output channels (stft_chunks folds=2) gives 2 x K channels: audio channel-major."""
    recipe = load_recipe(RECIPE, [*BOTH[:1], "frontend.folds=2", "backbone.in_chans=4", "backbone.input_size=[64,32]"])
    pipeline = build_feature_pipeline(recipe)
    wave = torch.from_numpy(np.stack(_signals(4000)))[None]
    got = pipeline(wave)
    assert got.shape[2] == 4
    assert torch.equal(got, torch.cat([pipeline(wave[:, 0]), pipeline(wave[:, 1])], dim=2))


def test_iter_wave_chunks_stacks_two_channel_waves_of_equal_length() -> None:
    recipe = load_recipe(RECIPE, BOTH)
    pipeline = build_feature_pipeline(recipe)
    left, right = _signals(4000)
    waves = [np.stack([left, right]), np.stack([right, left]), np.stack([left, right])[:, :3000]]
    batches = list(iter_wave_chunks(enumerate(waves), pipeline, batch_clips=8))
    assert [keys for keys, _ in batches] == [[0, 1], [2]]  # grouped by length (samples), not by channel count
    for keys, chunks in batches:
        for key, got in zip(keys, chunks, strict=True):
            assert torch.equal(got, pipeline(torch.from_numpy(waves[key])[None])[0])


def test_both_refuses_a_mono_or_three_channel_file_in_one_line(clips: dict[str, Path], tmp_path: Path) -> None:
    features = load_recipe(RECIPE, BOTH).features
    with pytest.raises(AudioError) as info:
        load_recipe_audio(clips["left"], features)
    assert str(clips["left"]) in _one_line(info) and "channel='both' needs a multi-channel file" in str(info.value)
    samples, _ = sf.read(clips["left"], dtype="float32", always_2d=True)
    with pytest.raises(AudioError, match="channel='both' needs a multi-channel file"):
        condition_recipe_audio(clips["left"], samples, RATE, features)
    three = tmp_path / "three.wav"
    sf.write(three, np.stack([*_signals(), _signals()[0]], axis=1), RATE, subtype="FLOAT")
    with pytest.raises(AudioError) as info:
        load_recipe_audio(three, features)
    assert _one_line(info).startswith(f"{three}: features.channel 'both' takes two-channel clips")
    assert "has 3 channels" in str(info.value)
    with pytest.raises(AudioError, match="has 3 channels"):
        condition_recipe_audio(three, sf.read(three, dtype="float32")[0], RATE, features)


def test_detector_loads_both_channels(clips: dict[str, Path]) -> None:
    detector = SimpleNamespace(recipe=recipe_from_dict(load_recipe(RECIPE, BOTH).to_dict()))
    wave = Detector.load_clip(detector, clips["stereo"])  # type: ignore[arg-type]
    np.testing.assert_array_equal(wave, sf.read(clips["stereo"], dtype="float32")[0].T)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            [],
            "features.channel 'both' gives 2 input channels but backbone.in_chans is 1; set backbone.in_chans=2 "
            "(or channel mean/left/right)",
        ),
        (
            ["backbone.in_chans=2", "features.fold=4"],
            "features.channel 'both' gives 8 input channels (2 audio "
            "channels x fold 4) but backbone.in_chans is 2; set backbone.in_chans=8",
        ),
        (
            ["backbone.in_chans=2", "frontend.folds=2"],
            "features.channel 'both' gives 4 input channels (2 audio "
            "channels x 2 front-end channels) but backbone.in_chans is 2; set backbone.in_chans=4",
        ),
    ],
)
def test_both_needs_in_chans_to_match_in_one_line(overrides: list[str], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_recipe(RECIPE, ["features.channel=both", *overrides])
    assert expected in _one_line(info) and RECIPE in str(info.value)


def test_both_is_refused_where_one_channel_is_read() -> None:
    with pytest.raises(ConfigError) as info:
        load_recipe("dcase_ae_baseline_demo", ["features.channel=both"])
    assert "train.phase=autoencoder (the AE baseline) reads frame vectors of one channel" in _one_line(info)
    noise = ["train.noise_mix={prob: 0.5}"]
    with pytest.raises(ConfigError) as info:
        load_recipe(RECIPE, [*BOTH, *noise])
    assert "train.noise_mix mixes mono noise clips" in _one_line(info)
    draft = {
        "name": "dual_branch_both",
        "frontend": {"name": "waveform"},
        "features": {"sample_rate": 16000, "chunk_width": 8000, "standardize": "none", "channel": "both"},
        "backbone": {"name": "dual_branch", "input_size": 8000},
        "head": {"name": "arcface"},
    }
    with pytest.raises(ConfigError) as info:
        recipe_from_dict(draft, "probe.yaml")
    assert _one_line(info).startswith("probe.yaml: features.channel 'both' gives 2 input channels but backbone ")
    assert "'dual_branch' takes one (it has no in_chans)" in str(info.value)


def test_both_is_accepted_with_two_input_channels() -> None:
    assert load_recipe(RECIPE, BOTH).features.channel == "both"
    assert load_recipe("sentry_flagship", BOTH).backbone.kwargs["in_chans"] == 2
