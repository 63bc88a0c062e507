"""S5 augmentations: seeded, shape kept, effect measured."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soundsentry.errors import ConfigError
from soundsentry.scenes import augment as A

SR = 44100


def _sine(freq: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / SR)[np.argmax(spec)])


def test_gaussian_noise() -> None:
    x = _sine(440)
    y = A.gaussian_noise(x, np.random.default_rng(0), std=0.2)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_array_equal(y, A.gaussian_noise(x, np.random.default_rng(0), std=0.2))
    rms = np.sqrt(np.mean(x.astype(np.float64) ** 2))
    assert abs(np.std(y - x) / (0.2 * rms) - 1) < 0.05


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pitch_shift_moves_a_tone_by_the_drawn_amount(seed: int) -> None:
    x = _sine(1000)
    y = A.pitch_shift(x, np.random.default_rng(seed), SR)
    semitones = np.random.default_rng(seed).uniform(-3, 3)  # +-1/4 octave
    assert y.shape == x.shape
    assert abs(_peak_hz(y) / (1000 * 2 ** (semitones / 12)) - 1) < 0.02


def test_time_stretch_changes_duration_and_keeps_length() -> None:
    x = np.zeros(SR, np.float32)
    x[: SR // 2] = _sine(500, 0.5)  # sound in the first half, silence after
    for seed in range(4):
        rate = np.random.default_rng(seed).uniform(0.5, 2.0)
        y = A.time_stretch(x, np.random.default_rng(seed), SR)
        assert y.shape == x.shape
        env = np.convolve(np.abs(y), np.ones(441) / 441, mode="same")
        sounding = np.flatnonzero(env > 0.1).max() / SR  # end of the stretched tone, seconds
        assert abs(sounding - min(0.5 / rate, 1.0)) < 0.05


@pytest.mark.parametrize("curve", A.VOLUME_CURVES)
def test_volume_change_follows_the_curve(curve: str) -> None:
    x = np.full(1000, 0.1, np.float32)
    y = A.volume_change(x, np.random.default_rng(4), max_db=10, curve=curve)
    gain = np.random.default_rng(4).uniform(-10, 10)
    u = np.linspace(0, 1, 1000)
    expected_db = {
        "constant": gain + 0 * u,
        "fade": gain * u,
        "sine": gain * np.sin(np.pi * u),
        "cosine": gain * np.cos(np.pi * u),
    }[curve]
    np.testing.assert_allclose(20 * np.log10(y / x), expected_db, atol=1e-3)
    with pytest.raises(ConfigError, match="unknown volume curve"):
        A.volume_curve(10, 1.0, "square")


def test_augment_wave_names() -> None:
    x = _sine(300)
    for name in A.WAVE_AUGMENTATIONS:
        assert A.augment_wave(x, name, np.random.default_rng(0), SR).shape == x.shape
    with pytest.raises(ConfigError, match="known: noise, pitch_shift"):
        A.augment_wave(x, "reverb", np.random.default_rng(0), SR)


def test_mixup_is_a_convex_combination_of_features_and_labels() -> None:
    x = torch.randn(6, 3, 4, 5)
    y = torch.nn.functional.one_hot(torch.arange(6) % 3, 3).float()
    xm, ym = A.mixup(x, y, np.random.default_rng(0), alpha=0.4)
    rng = np.random.default_rng(0)
    lam, perm = torch.as_tensor(rng.beta(0.4, 0.4, 6), dtype=torch.float32), torch.as_tensor(rng.permutation(6))
    torch.testing.assert_close(xm, lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x[perm])
    torch.testing.assert_close(ym.sum(dim=1), torch.ones(6))
    torch.testing.assert_close(ym, lam[:, None] * y + (1 - lam[:, None]) * y[perm])


def test_spec_augment_masks_ten_percent_of_each_axis() -> None:
    x = torch.ones(3, 2, 40, 50)
    out = A.spec_augment(x, np.random.default_rng(0), 0.1)
    assert out.shape == x.shape and torch.all(x == 1)  # input untouched
    for item in out:
        zero_rows = (item[0] == 0).all(dim=1).sum()
        zero_cols = (item[0] == 0).all(dim=0).sum()
        assert (zero_rows, zero_cols) == (4, 5)
        assert torch.equal(item[0] == 0, item[1] == 0)  # same mask on every channel
    assert torch.equal(out, A.spec_augment(x, np.random.default_rng(0), 0.1))


def test_temporal_shuffle_swaps_two_parts() -> None:
    x = torch.arange(20.0).reshape(1, 1, 1, 20).repeat(8, 2, 3, 1)
    out = A.temporal_shuffle(x, np.random.default_rng(1))
    swapped = 0
    for item in out:
        t = item[0, 0]
        cut = int(torch.argmin(t))
        assert torch.equal(t, torch.roll(torch.arange(20.0), cut))  # a rotation: parts swapped, order kept
        assert torch.equal(item, item[0, 0].expand_as(item))
        swapped += cut != 0
    assert 0 < swapped < 8
