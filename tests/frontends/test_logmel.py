"""LogMel against librosa.feature.melspectrogram + power_to_db / log, clip by clip."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from soundsentry.errors import AudioError, ConfigError
from soundsentry.frontends import LogMel
from soundsentry.registry import FRONTENDS


def _waves(sr: int, seconds: float, batch: int = 2, seed: int = 0) -> np.ndarray:
    """Noise plus a tone per clip, with a DC offset so subtract_mean matters."""
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    tones = np.stack([0.3 * np.sin(2 * np.pi * (440.0 * (i + 1)) * t) for i in range(batch)])
    return (0.1 * rng.standard_normal((batch, n)) + tones + 0.05).astype(np.float32)


def _reference(y: np.ndarray, kw: dict) -> np.ndarray:
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=kw["sample_rate"],
        n_fft=kw["n_fft"],
        hop_length=kw["hop_length"],
        win_length=kw.get("win_length"),
        power=kw.get("power", 2.0),
        n_mels=kw["n_mels"],
        fmin=kw.get("fmin", 0.0),
        fmax=kw.get("fmax"),
        htk=kw.get("htk", False),
        norm=kw.get("norm", "slaney"),
    )
    if kw.get("subtract_mean"):
        raise AssertionError("subtract the mean before calling _reference")
    scale = kw.get("scale", "db")
    if scale == "db":
        return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=kw.get("top_db"))
    if scale == "ln":
        return np.log(mel + 1e-10)
    return np.log10(mel + 1e-10)


CONFIGS = [
    pytest.param(dict(sample_rate=16000, n_fft=1024, hop_length=512, n_mels=128), id="dcase-db-slaney"),
    pytest.param(dict(sample_rate=16000, n_fft=1024, hop_length=512, n_mels=128, htk=True), id="db-htk"),
    pytest.param(dict(sample_rate=16000, n_fft=1024, hop_length=512, n_mels=64, scale="ln"), id="ln"),
    pytest.param(dict(sample_rate=16000, n_fft=1024, hop_length=256, n_mels=64, scale="log10"), id="log10"),
    pytest.param(
        dict(sample_rate=16000, n_fft=1024, hop_length=512, n_mels=64, fmin=50.0, fmax=7000.0, norm=None),
        id="fmin-fmax-nonorm",
    ),
    pytest.param(
        dict(sample_rate=16000, n_fft=1024, hop_length=512, win_length=800, n_mels=64, top_db=40.0), id="win-topdb"
    ),
    pytest.param(dict(sample_rate=16000, n_fft=1024, hop_length=512, n_mels=64, power=1.0), id="power1"),
    pytest.param(
        dict(sample_rate=44100, n_fft=2048, hop_length=1024, n_mels=128, htk=True, scale="ln"), id="s5-44k-htk-ln"
    ),
]


@pytest.mark.parametrize("kw", CONFIGS)
def test_logmel_matches_librosa(kw: dict) -> None:
    waves = _waves(kw["sample_rate"], 0.5)
    frontend = FRONTENDS.create("logmel", **kw)
    out = frontend(torch.from_numpy(waves)).numpy()
    n_frames = 1 + waves.shape[1] // kw["hop_length"]
    assert out.shape == (2, 1, kw["n_mels"], n_frames)
    for i, y in enumerate(waves):
        ref = _reference(y, kw)
        if kw.get("scale", "db") == "db":
            np.testing.assert_allclose(out[i, 0], ref, rtol=0, atol=1e-3)
        else:
            np.testing.assert_allclose(out[i, 0], ref, rtol=1e-4, atol=1e-4)


def test_subtract_mean_matches_librosa_on_centred_wave() -> None:
    kw = dict(sample_rate=16000, n_fft=1024, hop_length=512, n_mels=128)
    waves = _waves(16000, 0.5)
    out = LogMel(**kw, subtract_mean=True)(torch.from_numpy(waves)).numpy()
    plain = LogMel(**kw)(torch.from_numpy(waves)).numpy()
    for i, y in enumerate(waves):
        np.testing.assert_allclose(out[i, 0], _reference(y - y.mean(), kw), rtol=0, atol=1e-3)
    assert not np.allclose(out[:, :, :2], plain[:, :, :2], atol=1e-2)  # the 0.05 DC offset shows in low bins


def test_batch_independence(device: str) -> None:
    waves = torch.from_numpy(_waves(16000, 0.5, batch=3)).to(device)
    frontend = LogMel(top_db=60.0).to(device)
    batched = frontend(waves)
    assert batched.device.type == torch.device(device).type
    for i in range(3):
        torch.testing.assert_close(batched[i : i + 1], frontend(waves[i : i + 1]), rtol=1e-5, atol=1e-4)


def test_contract_attributes_and_small_state_dict() -> None:
    frontend = LogMel(sample_rate=16000, n_mels=64)
    assert (frontend.sample_rate, frontend.out_channels, frontend.n_bins) == (16000, 1, 64)
    assert frontend.state_dict() == {}
    assert {name for name, _ in frontend.named_buffers()} == {"window", "mel_basis"}
    assert frontend.num_frames(16000) == frontend(torch.zeros(1, 16000)).shape[-1] == 32


def test_float64_input_stays_float64() -> None:
    out = LogMel(n_mels=32)(torch.from_numpy(_waves(16000, 0.2)).double())
    assert out.dtype == torch.float64


def test_unknown_kwarg_is_config_error() -> None:
    with pytest.raises(ConfigError, match="does not take n_mel"):
        FRONTENDS.create("logmel", n_mel=128)
    with pytest.raises(ConfigError, match="unknown front-end 'logmels'.*logmel"):
        FRONTENDS.create("logmels")


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(scale="log2"), "scale must be one of"),
        (dict(norm="l2"), "norm must be"),
        (dict(fmax=9000.0), "fmax"),
        (dict(win_length=2048), "win_length"),
        (dict(window="no-such-window"), "unknown window"),
        (dict(pad_mode="wrap"), "pad_mode"),
    ],
)
def test_bad_config(kw: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        LogMel(**kw)


def test_bad_input_shape() -> None:
    with pytest.raises(AudioError, match=r"\(B, N\).*unsqueeze"):
        LogMel()(torch.zeros(16000))
