"""MagnitudeSTFT ("stft_chunks", S1) against librosa.stft, and frequency folding."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from soundsentry.errors import ConfigError
from soundsentry.frontends import MagnitudeSTFT, apply_log_scale, fold_frequency
from soundsentry.registry import FRONTENDS


@pytest.fixture(scope="module")
def waves() -> np.ndarray:
    rng = np.random.default_rng(1)
    t = np.arange(8000) / 16000
    return (0.1 * rng.standard_normal((2, 8000)) + 0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)


def test_s1_defaults_give_1024_bins(waves: np.ndarray) -> None:
    frontend = FRONTENDS.create("stft_chunks")
    out = frontend(torch.from_numpy(waves))
    assert out.shape == (2, 1, 1024, 1 + 8000 // 512)
    assert (frontend.n_fft, frontend.hop_length, frontend.out_channels, frontend.n_bins) == (2046, 512, 1, 1024)
    assert frontend.state_dict() == {}


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_magnitude_matches_librosa(waves: np.ndarray, power: float) -> None:
    out = MagnitudeSTFT(power=power)(torch.from_numpy(waves)).numpy()
    for i, y in enumerate(waves):
        ref = np.abs(librosa.stft(y, n_fft=2046, hop_length=512)) ** power
        np.testing.assert_allclose(out[i, 0], ref, rtol=1e-4, atol=1e-4 * ref.max())


def test_db_scale_matches_power_to_db(waves: np.ndarray) -> None:
    # float64: bins ~80 dB below the tone are at float32 FFT round-off (~2e-3 dB), which is not what this checks
    x = waves.astype(np.float64)
    out = MagnitudeSTFT(power=2.0, scale="db", n_fft=1024)(torch.from_numpy(x)).numpy()
    ref = librosa.power_to_db(np.abs(librosa.stft(x[0], n_fft=1024, hop_length=512)) ** 2, top_db=None)
    np.testing.assert_allclose(out[0, 0], ref, rtol=0, atol=1e-3)


def test_batch_independence(waves: np.ndarray, device: str) -> None:
    x = torch.from_numpy(waves).to(device)
    frontend = MagnitudeSTFT(folds=4, scale="ln").to(device)
    batched = frontend(x)
    for i in range(len(x)):
        torch.testing.assert_close(batched[i : i + 1], frontend(x[i : i + 1]), rtol=1e-5, atol=1e-5)


def test_fold_content() -> None:
    x = torch.arange(2 * 1 * 8 * 3, dtype=torch.float32).reshape(2, 1, 8, 3)
    folded = fold_frequency(x, 4)
    assert folded.shape == (2, 4, 2, 3)
    for k in range(4):  # channel k holds contiguous bins 2k, 2k+1
        torch.testing.assert_close(folded[:, k], x[:, 0, 2 * k : 2 * k + 2])
    torch.testing.assert_close(fold_frequency(x, 1), x)


def test_fold_multichannel_order() -> None:
    x = torch.randn(1, 2, 6, 5)
    folded = fold_frequency(x, 3)
    assert folded.shape == (1, 6, 2, 5)
    torch.testing.assert_close(folded[:, 1 * 3 + 2], x[:, 1, 4:6])


def test_s1_network2_folded_frontend(waves: np.ndarray) -> None:
    frontend = MagnitudeSTFT(folds=4)
    x = torch.from_numpy(waves)
    folded = frontend(x)
    assert folded.shape[1:3] == (4, 256) and (frontend.out_channels, frontend.n_bins) == (4, 256)
    torch.testing.assert_close(folded, fold_frequency(MagnitudeSTFT()(x), 4))
    chunks = frontend.chunks(folded)
    assert chunks.shape == (2, 1, 4, 256, 32)  # 16 frames < 32: one padded chunk


def test_fold_errors() -> None:
    with pytest.raises(ConfigError, match="cannot fold 1024 bins"):
        MagnitudeSTFT(folds=3)
    with pytest.raises(ConfigError, match="cannot fold 10"):
        fold_frequency(torch.zeros(1, 1, 10, 4), 4)
    with pytest.raises(ConfigError, match=r"\(B, C, F, T\)"):
        fold_frequency(torch.zeros(10, 4), 2)


def test_top_db_is_per_item() -> None:
    x = torch.tensor([[1.0, 1e-6], [1e-2, 1e-8]]).reshape(2, 1, 1, 2)
    out = apply_log_scale(x, "db", top_db=30.0).flatten(1)
    torch.testing.assert_close(out, torch.tensor([[0.0, -30.0], [-20.0, -50.0]]))
