"""Noise mixing as training augmentation (``train.noise_mix``): noise-only recordings of a clip's machine type added
to its waveform at a random signal-to-noise ratio, before the front-end.

The noise comes from DCASE 2025's ``<type>/supplemental/`` folder: clips of manifest split ``supplemental`` whose
attribute ``kind`` is ``noise`` (see :mod:`soundsentry.data.layouts.dcase2025`). The clean machine clips of that
folder are not used: their domain is often unknown and the classes of a unit are (section, domain, attribute)
keys, so they have no class to be trained as.

Why the mixing happens when the feature cache is built: training never sees a waveform. A unit's features are
computed once (:func:`~soundsentry.training.features.compute_chunks`) and every epoch shuffles cached chunks, so
mixing on the fly would mean keeping every waveform and running the front-end inside the data loader (its workers,
its device). Instead each training clip gets ``copies`` (K) noisy versions, each with its own noise clip, excerpt
and SNR, whose chunks are cached beside the clean ones (:class:`~soundsentry.training.features.NoisyChunks`, K
times the training chunks' memory). Every epoch :class:`NoiseMixSampler` replaces each drawn training chunk, with
probability ``prob``, by the same chunk of one of its clip's noisy versions. What the network sees therefore
differs from per-epoch waveform mixing only in that the noisy versions repeat across epochs (K of them per clip).

The standardiser is fitted on the clean training chunks, held-out and scored clips are never mixed, and S2's
self-supervised pre-training reads the clean chunks. Every draw depends on ``train.seed`` and, for the sampler,
the epoch (and not on the manifest order or the data folder's location), so a run repeats bit for bit and a
resumed run draws what the uninterrupted one would have.
"""

from __future__ import annotations

import dataclasses
import math
import os
import zlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Sampler

from soundsentry.config import FeatureConfig, NoiseMixConfig, Recipe
from soundsentry.errors import DataError
from soundsentry.scoring import is_fit_clip
from soundsentry.training.features import (
    ChunkCache,
    FeaturePipeline,
    NoisyChunks,
    iter_wave_chunks,
    load_recipe_audio,
)
from soundsentry.types import Clip, Split

NOISE_KIND = "noise"
_SAMPLER_SALT = 0x6E6F6973  # keeps the sampler's draws apart from the other samplers' (seed, epoch) streams


def is_noise_clip(clip: Clip) -> bool:
    """A noise-only supplemental clip (DCASE 2025: ``supplemental/section_XX_noise_...``)."""
    return clip.split is Split.SUPPLEMENTAL and clip.attributes.get("kind") == NOISE_KIND


def noise_mix_active(recipe: Recipe) -> bool:
    """True when the recipe mixes noise into training clips (``train.noise_mix`` set with ``prob > 0``)."""
    nm = recipe.train.noise_mix
    return nm is not None and nm.prob > 0


def missing_noise_error(where: str | Path, types: Sequence[str]) -> DataError:
    """The one-line error for machine types that have training clips but no noise clips to mix in."""
    return DataError(
        f"{where}: train.noise_mix mixes noise-only supplemental clips into the training clips, but the manifest has "
        f"none for {', '.join(types)}; use the dcase2025 layout with supplemental/ noise clips "
        "(supplemental/section_XX_noise_..._NNNN.wav), or set train.noise_mix.prob=0"
    )


def noise_clips(recipe: Recipe, clips: Sequence[Clip], where: str | Path) -> list[Clip]:
    """The noise clips training mixes in: every noise-only supplemental clip of ``clips``; none when mixing is off.

    Raises:
        DataError: mixing is on and a machine type with training clips has no noise clip (naming ``where``).
    """
    if not noise_mix_active(recipe):
        return []
    noise = [c for c in clips if is_noise_clip(c)]
    have = {c.machine_type for c in noise}
    missing = sorted({c.machine_type for c in clips if is_fit_clip(c)} - have)
    if missing:
        raise missing_noise_error(where, missing)
    return noise


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``clean + g * noise`` with the gain ``g`` that makes ``10 log10(P(clean) / P(g * noise)) = snr_db``.

    Powers are mean squares over the whole clip. A silent clean clip or a silent noise excerpt has no defined
    ratio; the clean clip is returned unchanged.

    Args:
        clean: (n,) waveform.
        noise: (n,) noise waveform of the same length.
        snr_db: the signal-to-noise ratio of the mix, in dB.

    Returns:
        (n,) the mix, in ``clean``'s dtype (not clipped: it is a front-end input, not a file).
    """
    if clean.shape != noise.shape:
        raise ValueError(f"clean {clean.shape} and noise {noise.shape} must have the same shape")
    p_clean = float(np.mean(np.square(clean, dtype=np.float64)))
    p_noise = float(np.mean(np.square(noise, dtype=np.float64)))
    if p_clean == 0.0 or p_noise == 0.0:
        return clean.copy()
    gain = math.sqrt(p_clean / (p_noise * 10.0 ** (snr_db / 10.0)))
    return (clean.astype(np.float64) + gain * noise.astype(np.float64)).astype(clean.dtype)


def noise_excerpt(noise: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of ``noise`` from a random start; a noise clip shorter than ``n`` is tiled first."""
    if len(noise) == 0:
        raise ValueError("the noise clip has no samples")
    if len(noise) < n:
        noise = np.tile(noise, -(-n // len(noise)))
    start = int(rng.integers(len(noise) - n + 1))
    return noise[start : start + n]


def _clip_seed(seed: int, clip: Clip, copy: int) -> list[int]:
    """Seed of one noisy version: the run's seed, the clip (by type, section and file name, not by its folder) and
    the copy number."""
    key = f"{clip.machine_type}/{clip.section}/{clip.name}"
    return [seed, zlib.crc32(key.encode()), copy]


class _NoiseBank:
    """Noise clips per machine type, loaded once at the recipe's rate and channel policy, at their own length."""

    def __init__(self, clips: Sequence[Clip], features: FeatureConfig) -> None:
        self.by_type: dict[str, list[Clip]] = defaultdict(list)
        for clip in sorted(clips, key=lambda c: (c.machine_type, c.name, c.path)):
            self.by_type[clip.machine_type].append(clip)
        self.features = dataclasses.replace(features, clip_seconds=None)
        self.loaded: dict[str, np.ndarray] = {}

    def draw(self, machine_type: str, rng: np.random.Generator) -> np.ndarray:
        pool = self.by_type[machine_type]
        clip = pool[int(rng.integers(len(pool)))]
        if clip.path not in self.loaded:
            self.loaded[clip.path] = load_recipe_audio(clip.path, self.features)
        return self.loaded[clip.path]


def _noisy_waves(
    clips: Sequence[Clip],
    train_clips: Sequence[int],
    bank: _NoiseBank,
    cfg: NoiseMixConfig,
    features: FeatureConfig,
    seed: int,
) -> Iterator[tuple[int, np.ndarray]]:
    """``(t * copies + k, noisy version k of training clip t)`` in that order."""
    low, high = float(cfg.snr_db[0]), float(cfg.snr_db[1])
    for t, i in enumerate(train_clips):
        clean = load_recipe_audio(clips[i].path, features)
        for k in range(cfg.copies):
            rng = np.random.default_rng(_clip_seed(seed, clips[i], k))
            noise = bank.draw(clips[i].machine_type, rng)
            snr = rng.uniform(low, high)
            yield t * cfg.copies + k, mix_at_snr(clean, noise_excerpt(noise, len(clean), rng), snr)


def noisy_chunks(
    recipe: Recipe,
    clips: Sequence[Clip],
    train_clips: Sequence[int],
    noise: Sequence[Clip],
    cache: ChunkCache,
    pipeline: FeaturePipeline,
) -> NoisyChunks:
    """The chunks of ``train.noise_mix.copies`` noisy versions of each training clip of a unit.

    Args:
        recipe: the resolved recipe (``train.noise_mix`` set).
        clips: the unit's clips, as cached in ``cache``.
        train_clips: indices of the clips that are trained on (held-out clips get no noisy versions).
        noise: noise clips (:func:`noise_clips`); each clip is mixed with those of its machine type.
        cache: the clean chunks of ``clips``.
        pipeline: the feature pipeline the clean chunks came from.

    Raises:
        DataError: a training clip's machine type has no noise clip.
    """
    cfg = recipe.train.noise_mix
    if cfg is None:
        raise ValueError("noisy_chunks needs train.noise_mix")
    bank = _NoiseBank(noise, recipe.features)
    missing = sorted({clips[i].machine_type for i in train_clips} - set(bank.by_type))
    if missing:
        folder = os.path.commonpath([os.path.dirname(os.path.abspath(clips[i].path)) for i in train_clips])
        raise missing_noise_error(folder, missing)
    order = sorted(train_clips)
    counts = torch.bincount(cache.clip_index, minlength=cache.n_clips)
    starts = torch.cumsum(counts, 0) - counts
    parts: dict[int, Tensor] = {}
    waves = _noisy_waves(clips, order, bank, cfg, recipe.features, recipe.train.seed)
    for keys, chunks in iter_wave_chunks(waves, pipeline, recipe.features.batch_clips):
        parts.update(zip(keys, chunks, strict=True))
    lookup = torch.full((cfg.copies, len(cache.chunks)), -1, dtype=torch.long)
    offset = 0
    for key in sorted(parts):
        i, k = order[key // cfg.copies], key % cfg.copies
        n = len(parts[key])
        if n != int(counts[i]):
            raise RuntimeError(f"{clips[i].path}: a noisy version gave {n} chunks, the clip {int(counts[i])}")
        lookup[k, starts[i] : starts[i] + n] = torch.arange(offset, offset + n)
        offset += n
    stacked = torch.cat([parts[key] for key in sorted(parts)]) if parts else cache.chunks[:0]
    return NoisyChunks(stacked, lookup, float(cfg.prob))


def with_noisy(
    chunks: Tensor, labels: Tensor, noisy: NoisyChunks, chunk_labels: Tensor, rows: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """A dataset's chunks and labels followed by the noisy chunks, and the lookup in the dataset's index space.

    Args:
        chunks, labels: the dataset's clean chunks (M', C, F, W) and labels (M',).
        noisy: the unit's noisy chunks.
        chunk_labels: (M,) the class index of every cache chunk.
        rows: (M,) boolean mask of the cache chunks the dataset holds (in order); ``None``: all of them.

    Returns:
        (chunks (M' + N, ...), labels (M' + N,), lookup (K, M') into the returned chunks, -1 where there is none).
    """
    valid = noisy.lookup >= 0
    noisy_labels = torch.zeros(len(noisy.chunks), dtype=labels.dtype)
    noisy_labels[noisy.lookup[valid]] = chunk_labels.expand_as(noisy.lookup)[valid].to(labels.dtype)
    lookup = noisy.lookup if rows is None else noisy.lookup[:, rows]
    lookup = torch.where(lookup >= 0, lookup + len(chunks), lookup)
    return torch.cat([chunks, noisy.chunks.to(chunks.dtype)]), torch.cat([labels, noisy_labels]), lookup


class NoiseMixSampler(Sampler[Any]):
    """Wraps a training sampler: each index it yields (both indices of a mixup pair ``(a, b, lam)``) is replaced,
    with probability ``prob``, by the index of the same chunk of a noisy version of its clip (drawn uniformly).

    The draws depend only on (seed, epoch); :meth:`set_epoch` is passed on to the wrapped sampler.

    Args:
        inner: :class:`~soundsentry.training.data.EpochShuffleSampler` or
            :class:`~soundsentry.training.data.PairSampler`.
        lookup: (K, n) dataset index of copy ``k`` of dataset chunk ``j``; -1 for chunks without copies.
        prob: replacement probability.
        seed: base seed (``train.seed``).
    """

    def __init__(self, inner: Sampler[Any], lookup: Tensor, prob: float, seed: int) -> None:
        self.inner = inner
        self.lookup = lookup.numpy()
        self.prob = prob
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if callable(getattr(self.inner, "set_epoch", None)):
            self.inner.set_epoch(epoch)  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[Any]:
        items = list(self.inner)
        pairs = bool(items) and isinstance(items[0], tuple)
        flat = np.array([i for item in items for i in item[:2]] if pairs else items, dtype=np.int64)
        rng = np.random.default_rng([self.seed, self.epoch, _SAMPLER_SALT])
        use = rng.random(len(flat)) < self.prob
        copy = rng.integers(len(self.lookup), size=len(flat))
        noisy = self.lookup[copy, flat] if len(flat) else flat
        out = np.where(use & (noisy >= 0), noisy, flat).tolist()
        if not pairs:
            return iter(out)
        return iter((out[2 * j], out[2 * j + 1], item[2]) for j, item in enumerate(items))

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]
