"""Frame vectors: 5 consecutive log-mel frames of 128 bins, checked against librosa and a hand-made signal."""

from __future__ import annotations

import sys

import librosa
import numpy as np
import pytest

from soundsentry.baselines import AEFeatureParams, frame_vectors, stack_frames
from soundsentry.errors import ConfigError


def test_stack_frames_layout_by_hand() -> None:
    x = np.arange(2 * 4, dtype=np.float32).reshape(2, 4)  # 2 mels, 4 frames: column t = [t, 4 + t]
    v = stack_frames(x, frames=3)
    assert v.tolist() == [[0, 4, 1, 5, 2, 6], [1, 5, 2, 6, 3, 7]]
    assert stack_frames(x, frames=3, frame_hop=2).tolist() == [[0, 4, 1, 5, 2, 6]]
    assert stack_frames(x, frames=5).shape == (0, 10)


def test_silence_gives_the_log_floor() -> None:
    v = frame_vectors(np.zeros(2048, dtype=np.float32))
    assert v.shape == (1, 640)  # 1 + 2048 // 512 = 5 frames -> one vector
    assert v.dtype == np.float32
    np.testing.assert_allclose(v, 10 * np.log10(sys.float_info.epsilon), rtol=1e-6)  # -156.54 dB


def test_matches_the_baselines_formula_on_a_tone() -> None:
    # Noise keeps every band far above float32 round-off (a pure tone leaves bands at 1e-14, where torch and
    # librosa round differently).
    sr = 16000
    t = np.arange(8000) / sr
    noise = 0.01 * np.random.default_rng(0).standard_normal(t.size)
    wave = (0.5 * np.sin(2 * np.pi * 1000 * t) + noise).astype(np.float32)
    v = frame_vectors(wave)
    assert v.shape == (1 + 8000 // 512 - 4, 640)  # 16 frames -> 12 vectors
    mel = librosa.feature.melspectrogram(y=wave, sr=sr, n_fft=1024, hop_length=512, n_mels=128, power=2.0)
    ref = 20.0 / 2.0 * np.log10(np.maximum(mel, sys.float_info.epsilon))
    for k in range(5):
        np.testing.assert_allclose(v[:, 128 * k : 128 * (k + 1)], ref[:, k : k + 12].T, atol=2e-3)
    assert v[:, 128 * 2 :][0].argmax() % 128 == ref[:, 2].argmax()  # the 1 kHz band is loudest


def test_bad_parameters() -> None:
    with pytest.raises(ConfigError, match="frames"):
        AEFeatureParams(frames=0)
