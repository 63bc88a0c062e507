"""S5 front-end: scaled natural-log HTK mel plus HPSS channels, against librosa."""

from __future__ import annotations

import librosa
import numpy as np
import torch

from soundsentry.registry import FRONTENDS
from soundsentry.scenes.features import LogMelHPSS, extract_features, minmax_scale


def _reference(y: np.ndarray) -> np.ndarray:
    """S5 section 2 written directly with librosa."""
    mel = librosa.feature.melspectrogram(y=y, sr=44100, n_fft=2048, hop_length=1024, n_mels=128, htk=True)
    logmel = np.log(mel + 1e-10)
    scaled = (logmel - logmel.min()) / (logmel.max() - logmel.min())
    h, p = librosa.decompose.hpss(scaled)
    return np.stack([scaled, h, p])


def test_matches_librosa_and_has_the_documented_shape() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(441000) / 44100
    y = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    y[::22050] += 0.8  # clicks: something percussive
    frontend = FRONTENDS.create("logmel_hpss")
    x = frontend(torch.as_tensor(y)[None])
    assert x.shape == (1, 3, 128, 431)  # "the input tensor size is 128 x 431 x 3" for 10 s
    ref = _reference(y)
    np.testing.assert_allclose(x[0].numpy(), ref, atol=2e-4)
    assert float(x[0, 0].min()) == 0.0 and abs(float(x[0, 0].max()) - 1.0) < 1e-6
    # the harmonic channel keeps the steady tone, the percussive one the clicks
    tone_bin = int(np.argmax(ref[0].mean(axis=1)))
    assert x[0, 1, tone_bin].mean() > x[0, 2, tone_bin].mean()


def test_without_hpss_and_batched_extraction() -> None:
    frontend = LogMelHPSS(hpss=False)
    waves = np.random.default_rng(1).standard_normal((5, 22050)).astype(np.float32)
    x = extract_features(frontend, waves, batch=2)
    assert x.shape == (5, 1, 128, 22) and frontend.out_channels == 1
    np.testing.assert_allclose(x[3], frontend(torch.as_tensor(waves[3:4]))[0].numpy(), atol=1e-6)


def test_minmax_scale_per_item() -> None:
    x = torch.stack([torch.arange(6.0).reshape(1, 2, 3), 5 * torch.ones(1, 2, 3)])
    out = minmax_scale(x)
    torch.testing.assert_close(out[0].flatten(), torch.arange(6.0) / 5)
    assert torch.all(out[1] == 0)
