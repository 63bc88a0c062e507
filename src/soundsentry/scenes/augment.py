"""S5's augmentations (section 3), each seeded by a ``numpy.random.Generator``.

Time domain (``wave: (N,)`` float32, length kept), used to make extra training copies and for test-time augmentation:

* :func:`gaussian_noise`: additive Gaussian noise.
* :func:`pitch_shift`: uniform in [-1/4, +1/4] octave (+-3 semitones), by audiomentations' ``PitchShift``.
* :func:`time_stretch`: rate uniform in [0.5, 2], by audiomentations' ``TimeStretch`` (zero-padded / cut back).
* :func:`volume_change`: gain uniform in [-10, +10] dB along a constant, fade, sine or cosine curve.

Feature domain (``x: (B, C, F, T)`` tensors), applied to training batches:

* :func:`mixup`: Beta(0.4, 0.4) mixing of a batch with a shuffled copy of itself, features and labels.
* :func:`spec_augment`: one frequency and one time mask, each 10 % of the axis, set to 0.
* :func:`temporal_shuffle`: cut the time axis at a random point into two parts and put them in random order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from soundsentry.errors import ConfigError

VOLUME_CURVES = ("constant", "fade", "sine", "cosine")


def gaussian_noise(wave: np.ndarray, rng: np.random.Generator, std: float = 0.1) -> np.ndarray:
    """Add zero-mean Gaussian noise of standard deviation ``std`` times the clip's RMS.

    S5 writes sigma = 1; on waveforms in [-1, 1] that buries the scene (0 dB SNR or worse), so the standard
    deviation is taken relative to the clip's RMS and the recipes set it (see docs/scenes.md).
    """
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) or 1.0
    return (wave + std * rms * rng.standard_normal(wave.shape)).astype(np.float32)


def _frozen(transform: Any, **params: float) -> Callable:
    """Run an audiomentations transform with parameters drawn by our generator, not by its global RNG."""
    transform.parameters = {"should_apply": True, **params}
    transform.freeze_parameters()
    return transform


def pitch_shift(wave: np.ndarray, rng: np.random.Generator, sample_rate: int, octaves: float = 0.25) -> np.ndarray:
    """Shift the pitch by a uniform amount in [-octaves, +octaves] (S5: 1/4 octave = 3 semitones)."""
    import audiomentations

    semitones = float(rng.uniform(-12 * octaves, 12 * octaves))
    t = _frozen(audiomentations.PitchShift(min_semitones=-12, max_semitones=12, p=1.0), num_semitones=semitones)
    return np.asarray(t(wave.astype(np.float32), sample_rate), dtype=np.float32)


def time_stretch(
    wave: np.ndarray, rng: np.random.Generator, sample_rate: int, min_rate: float = 0.5, max_rate: float = 2.0
) -> np.ndarray:
    """Speed up or slow down by a rate uniform in [min_rate, max_rate] (S5: [0.5, 2]); the length is kept."""
    import audiomentations

    rate = float(rng.uniform(min_rate, max_rate))
    t = _frozen(audiomentations.TimeStretch(min_rate=0.5, max_rate=2.0, leave_length_unchanged=True, p=1.0), rate=rate)
    return np.asarray(t(wave.astype(np.float32), sample_rate), dtype=np.float32)


def volume_curve(n: int, gain_db: float, curve: str) -> np.ndarray:
    """Gain in dB along the clip, ``u`` running from 0 to 1: constant ``g``, fade ``g * u``, sine ``g * sin(pi u)``,
    cosine ``g * cos(pi u)`` (S5 names the curves but not their formulas)."""
    u = np.linspace(0.0, 1.0, n)
    if curve == "constant":
        return np.full(n, gain_db)
    if curve == "fade":
        return gain_db * u
    if curve == "sine":
        return gain_db * np.sin(np.pi * u)
    if curve == "cosine":
        return gain_db * np.cos(np.pi * u)
    raise ConfigError(f"unknown volume curve {curve!r}; known: {', '.join(VOLUME_CURVES)}")


def volume_change(
    wave: np.ndarray, rng: np.random.Generator, max_db: float = 10.0, curve: str | None = None
) -> np.ndarray:
    """Change the volume by a gain uniform in [-max_db, +max_db] dB along a random (or the given) curve."""
    name = curve or VOLUME_CURVES[int(rng.integers(len(VOLUME_CURVES)))]
    gain = volume_curve(len(wave), float(rng.uniform(-max_db, max_db)), name)
    return (wave * 10 ** (gain / 20)).astype(np.float32)


WAVE_AUGMENTATIONS = ("noise", "pitch_shift", "time_stretch", "volume")


def augment_wave(
    wave: np.ndarray, name: str, rng: np.random.Generator, sample_rate: int, noise_std: float = 0.1
) -> np.ndarray:
    """Apply the time-domain augmentation ``name`` (one of :data:`WAVE_AUGMENTATIONS`) with S5's ranges."""
    if name == "noise":
        return gaussian_noise(wave, rng, noise_std)
    if name == "pitch_shift":
        return pitch_shift(wave, rng, sample_rate)
    if name == "time_stretch":
        return time_stretch(wave, rng, sample_rate)
    if name == "volume":
        return volume_change(wave, rng)
    raise ConfigError(f"unknown augmentation {name!r}; known: {', '.join(WAVE_AUGMENTATIONS)}")


def mixup(x: Tensor, y: Tensor, rng: np.random.Generator, alpha: float = 0.4) -> tuple[Tensor, Tensor]:
    """Mix ``x: (B, ...)`` and soft labels ``y: (B, C)`` with a shuffled copy: ``lam ~ Beta(alpha, alpha)`` per item."""
    lam = torch.as_tensor(rng.beta(alpha, alpha, size=x.shape[0]), dtype=x.dtype, device=x.device)
    perm = torch.as_tensor(rng.permutation(x.shape[0]), device=x.device)
    lx = lam.reshape((-1,) + (1,) * (x.dim() - 1))
    ly = lam.to(y.dtype).reshape(-1, 1)
    return lx * x + (1 - lx) * x[perm], ly * y + (1 - ly) * y[perm]


def spec_augment(x: Tensor, rng: np.random.Generator, fraction: float = 0.1) -> Tensor:
    """Zero one band of ``round(fraction * F)`` bins and one span of ``round(fraction * T)`` frames per item."""
    out = x.clone()
    F_, T_ = x.shape[-2], x.shape[-1]
    wf, wt = max(1, round(fraction * F_)), max(1, round(fraction * T_))
    for i in range(x.shape[0]):
        f0 = int(rng.integers(0, F_ - wf + 1))
        t0 = int(rng.integers(0, T_ - wt + 1))
        out[i, ..., f0 : f0 + wf, :] = 0
        out[i, ..., t0 : t0 + wt] = 0
    return out


def temporal_shuffle(x: Tensor, rng: np.random.Generator) -> Tensor:
    """Cut each item's time axis at a random frame into two parts and swap them with probability 1/2."""
    out = x.clone()
    T_ = x.shape[-1]
    for i in range(x.shape[0]):
        if T_ > 1 and rng.random() < 0.5:
            cut = int(rng.integers(1, T_))
            out[i] = torch.cat([x[i, ..., cut:], x[i, ..., :cut]], dim=-1)
    return out
