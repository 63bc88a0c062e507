"""Channel policies of load_audio on generated two-channel clips (DCASE 2026: left = near mic, right = far mic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundsentry.data.audio import load_audio
from soundsentry.errors import AudioError


@pytest.fixture
def stereo(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A 0.1 s clip whose left channel is a 440 Hz sine and right a quieter 1 kHz sine, as (n, 2)."""
    t = np.arange(1600) / 16000
    x = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 1000 * t)], axis=1).astype(np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    return path, x


def test_left_right_mean_and_both(stereo: tuple[Path, np.ndarray]) -> None:
    path, x = stereo
    np.testing.assert_array_equal(load_audio(path, 16000, channel="left"), x[:, 0])
    np.testing.assert_array_equal(load_audio(path, 16000, channel="right"), x[:, 1])
    np.testing.assert_array_equal(load_audio(path, 16000, channel=1), x[:, 1])
    np.testing.assert_allclose(load_audio(path, 16000), x.mean(axis=1), atol=1e-7)  # the default down-mixes
    both = load_audio(path, 16000, channel="both")
    assert both.shape == (2, 1600) and both.dtype == np.float32 and both.flags.c_contiguous
    np.testing.assert_array_equal(both, x.T)


def test_both_is_resampled_and_length_fixed_per_channel(stereo: tuple[Path, np.ndarray]) -> None:
    path, x = stereo
    both = load_audio(path, 8000, channel="both", duration=0.2, length_policy="pad")
    assert both.shape == (2, 1600)
    np.testing.assert_array_equal(both[:, 800:], 0.0)  # zero-padded after the 0.1 s of signal
    left = load_audio(path, 8000, channel="left", duration=0.2, length_policy="pad")
    np.testing.assert_allclose(both[0], left, atol=1e-6)  # each row as its channel alone
    tiled = load_audio(path, 16000, channel="both", duration=0.25, length_policy="tile")
    np.testing.assert_array_equal(tiled[:, 1600:3200], x.T)
    np.testing.assert_array_equal(load_audio(path, 16000, channel="both", duration=0.05), x.T[:, :800])


def test_mono_file_keeps_the_default_and_refuses_right_and_both(tmp_path: Path) -> None:
    path = tmp_path / "mono.wav"
    x = (0.3 * np.sin(np.arange(1600) / 5)).astype(np.float32)
    sf.write(path, x, 16000, subtype="FLOAT")
    for channel in ("mean", "left", 0):
        y = load_audio(path, 16000, channel=channel)  # type: ignore[arg-type]
        assert y.shape == (1600,)
        np.testing.assert_array_equal(y, x)
    with pytest.raises(AudioError, match=r"mono.wav: channel 'right' \(index 1\) was asked but the file has 1"):
        load_audio(path, 16000, channel="right")
    with pytest.raises(AudioError, match=r"mono.wav: channel='both' needs a multi-channel file .*channel='mean'"):
        load_audio(path, 16000, channel="both")
