"""S2 front-end from existing parts: clip-mean subtraction, 64 ms / 32 ms log-mel with 128 mels, P = 64, L = 8."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from soundsentry.frontends import LogMel, chunk_frames, context_windows, num_chunks, num_context_windows

SR = 16000
# Section 2.1: 64 ms frames, 32 ms hop, 128 mel bins, P = 64, L = 8.
N_FFT, HOP, N_MELS, P, L = int(0.064 * SR), int(0.032 * SR), 128, 64, 8


def s2_logmel() -> LogMel:
    return LogMel(sample_rate=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, subtract_mean=True)


def test_document_sizes() -> None:
    assert (N_FFT, HOP) == (1024, 512)
    frontend = s2_logmel()
    assert frontend.num_frames(10 * SR) == 313  # "the total spectrogram size T is equal to 313"
    assert num_context_windows(313, P, L) == 32


@pytest.mark.parametrize(("T", "expected"), [(313, 32), (65, 1), (72, 1), (73, 2), (80, 2), (81, 3), (64, 1)])
def test_window_count_is_ceil_formula_by_hand(T: int, expected: int) -> None:
    # B = ceil((T - P) / L): e.g. T = 81 -> ceil(17 / 8) = 3; T <= P gives one (padded) window.
    assert num_context_windows(T, P, L) == expected
    if T > P:
        assert expected == math.ceil((T - P) / L)
    x = torch.arange(T, dtype=torch.float32).reshape(1, 1, 1, T)
    windows = context_windows(x, P, L)
    assert windows.shape == (1, expected, 1, 1, P)


def test_ten_second_clip_gives_32_windows_of_the_right_frames() -> None:
    wave = torch.randn(2, 10 * SR, generator=torch.Generator().manual_seed(0))
    feats = s2_logmel()(wave)
    assert feats.shape == (2, 1, 128, 313)
    windows = context_windows(feats, P, L)
    assert windows.shape == (2, 32, 1, 128, 64)
    for i in (0, 7, 31):
        torch.testing.assert_close(windows[:, i], feats[..., i * L : i * L + P])


def test_clip_mean_is_subtracted_before_the_stft() -> None:
    wave = torch.randn(1, SR, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 0.1
    frontend = s2_logmel()
    torch.testing.assert_close(frontend(wave + 0.5), frontend(wave), rtol=1e-6, atol=1e-6)
    centred = wave - wave.mean()
    plain = LogMel(sample_rate=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)
    torch.testing.assert_close(frontend(wave + 0.5), plain(centred), rtol=1e-6, atol=1e-6)
    assert not np.allclose(plain(wave + 0.5).numpy(), plain(wave).numpy(), atol=1e-3)


def test_fixed_width_chunks_differ_from_the_formula_when_a_window_fits_exactly() -> None:
    # What training/features.py does today (chunk_frames, tail="drop") equals the formula for T = 313 but keeps
    # one more window whenever (T - P) is a multiple of L; the S2 pipeline should call context_windows.
    assert num_chunks(313, P, L, tail="drop") == num_context_windows(313, P, L) == 32
    assert num_chunks(72, P, L, tail="drop") == 2 and num_context_windows(72, P, L) == 1
    x = torch.randn(1, 1, 4, 313)
    torch.testing.assert_close(chunk_frames(x, P, L), context_windows(x, P, L))
