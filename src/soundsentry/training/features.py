"""Clips -> network inputs: load each clip once, run the front-end without gradients, fold, cut into chunks.

Training features are computed once and kept in memory as one tensor of chunks (the network never sees the
waveform), so an epoch is a shuffle over cached chunks. Standardisation is not applied here: the
:class:`~soundsentry.frontends.Standardizer` is fitted on the training split's chunks and lives inside the model,
so it is saved with the weights and applied the same way at extraction.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from soundsentry.config import FeatureConfig, Recipe
from soundsentry.config.sections import BOTH_CHANNELS
from soundsentry.data.audio import audio_info, condition_samples, load_audio
from soundsentry.errors import AudioError, ConfigError
from soundsentry.types import Clip


class FeaturePipeline(nn.Module):
    """Waveforms ``(B, N)`` -> chunks ``(B, n, C, F, W)``: front-end, optional frequency fold, time chunks (or S2's
    context windows with ``features.chunk_tail: context``).

    Multi-channel waveforms ``(B, A, N)`` (``features.channel: both``) go through the front-end with the audio
    channels folded into the batch, and its ``K`` output channels per audio channel become ``A * K`` channels
    (channel ``a * K + k`` is front-end channel ``k`` of audio channel ``a``) before the fold and the chunking.
    """

    def __init__(self, frontend: nn.Module, features: FeatureConfig) -> None:
        super().__init__()
        self.frontend = frontend
        self.fold = features.fold
        self.chunk_width = features.chunk_width
        self.chunk_hop = features.chunk_hop
        self.chunk_tail = features.chunk_tail

    @torch.no_grad()
    def forward(self, wave: Tensor) -> Tensor:
        from soundsentry.frontends import chunk_frames, context_windows, fold_frequency

        x = self.run_frontend(wave)
        if self.fold > 1:
            x = fold_frequency(x, self.fold)
        if self.chunk_tail == "context":  # S2: ceil((T - P) / L) windows of P frames, shifted by L
            return context_windows(x, self.chunk_width, self.chunk_hop or self.chunk_width).contiguous()
        return chunk_frames(x, self.chunk_width, self.chunk_hop, tail=self.chunk_tail).contiguous()

    def run_frontend(self, wave: Tensor) -> Tensor:
        """The front-end's features: ``wave: (B, N) -> (B, K, F, T)``, or ``(B, A, N) -> (B, A * K, F, T)``."""
        if wave.dim() != 3:
            return self.frontend(wave)
        b, a, n = wave.shape
        x = self.frontend(wave.reshape(b * a, n))  # (B * A, K, F, T)
        return x.reshape(b, a * x.shape[1], *x.shape[2:])


def build_feature_pipeline(recipe: Recipe) -> FeaturePipeline:
    """The recipe's front-end (``sample_rate`` taken from ``features``) wrapped with fold and chunking."""
    import soundsentry.frontends  # noqa: F401  (registration)
    from soundsentry.registry import FRONTENDS

    kwargs = dict(recipe.frontend.kwargs)
    kwargs.setdefault("sample_rate", recipe.features.sample_rate)
    return FeaturePipeline(FRONTENDS.create(recipe.frontend.name, **kwargs), recipe.features).eval()


def chunk_shape(pipeline: FeaturePipeline, features: FeatureConfig) -> tuple[int, int, int]:
    """(C, F, W) of one chunk, from a short silent probe through the pipeline (two channels under ``both``)."""
    n = max(int(round((features.clip_seconds or 1.0) * features.sample_rate)), 1)
    probe = torch.zeros(1, BOTH_CHANNELS, n) if features.channel == "both" else torch.zeros(1, n)
    return tuple(pipeline(probe).shape[2:])  # type: ignore[return-value]


def check_backbone_input(recipe: Recipe, shape: tuple[int, int, int], backbone: nn.Module) -> None:
    """Raise a ConfigError when the backbone's ``in_chans`` / ``input_size`` disagree with the chunks."""
    in_chans = getattr(backbone, "in_chans", None)
    input_size = getattr(backbone, "input_size", None) if getattr(backbone, "input_size_fixed", True) else None
    C, F, W = shape
    if (in_chans is not None and in_chans != C) or (input_size is not None and tuple(input_size) != (F, W)):
        raise ConfigError(
            f"recipe {recipe.name!r}: the features give chunks of (C, F, T) = {shape} but backbone "
            f"{recipe.backbone.name!r} expects in_chans={in_chans}, input_size={tuple(input_size or ())}; set "
            f"backbone.in_chans={C} and backbone.input_size=[{F}, {W}] (or change the front-end / fold / chunk_width)"
        )


def load_recipe_audio(
    path: str | os.PathLike[str], features: FeatureConfig, *, max_seconds: float | None = None
) -> np.ndarray:
    """Load one clip as a recipe's ``features`` say: rate, length policy and channel policy (``features.channel``).

    A mono file gives its one signal under every policy (``right`` on a mono file is that signal, not an error),
    so one recipe serves both mono and two-channel (DCASE 2026) data; except ``both``, which gives ``(2, n)`` and
    refuses a file that does not have exactly two channels.
    """
    channel = _channel_policy(features, audio_info(path).channels)
    wave = load_audio(
        path,
        features.sample_rate,
        channel=channel,  # type: ignore[arg-type]
        duration=features.clip_seconds,
        length_policy=features.length_policy,
        max_seconds=max_seconds,
    )
    return _check_both(path, wave, channel)


def condition_recipe_audio(
    path: str | os.PathLike[str], samples: np.ndarray, rate: int, features: FeatureConfig
) -> np.ndarray:
    """:func:`load_recipe_audio` for samples already decoded: ``samples: (n, channels)`` at ``rate`` -> the same
    array :func:`load_recipe_audio` returns for that file (the input-quality gate decodes each file once)."""
    channel = _channel_policy(features, samples.shape[1])
    wave = condition_samples(
        path,
        samples,
        rate,
        features.sample_rate,
        channel=channel,  # type: ignore[arg-type]
        duration=features.clip_seconds,
        length_policy=features.length_policy,
        stacklevel=3,
    )
    return _check_both(path, wave, channel)


def _channel_policy(features: FeatureConfig, n_channels: int) -> str:
    """``features.channel`` for a file of ``n_channels``: ``right`` on a mono file reads its one channel."""
    return "left" if features.channel == "right" and n_channels == 1 else features.channel


def _check_both(path: str | os.PathLike[str], wave: np.ndarray, channel: str) -> np.ndarray:
    """``wave`` unchanged; an :class:`AudioError` when ``both`` gave other than two channels (the loader itself
    refuses a mono file): the network was built for the DCASE 2026 pair."""
    if channel == "both" and wave.shape[0] != BOTH_CHANNELS:
        raise AudioError(
            f"{path}: features.channel 'both' takes two-channel clips (DCASE 2026: near and far microphone) but this "
            f"one has {wave.shape[0]} channels; convert it to two channels or use features.channel mean, left or right"
        )
    return wave


def _load(clip: Clip, features: FeatureConfig) -> np.ndarray:
    return load_recipe_audio(clip.path, features)


def iter_clip_chunks(
    clips: Sequence[Clip], pipeline: FeaturePipeline, features: FeatureConfig
) -> Iterator[tuple[list[int], Tensor]]:
    """Yield ``(clip indices, chunks (b, n, C, F, W))`` over ``clips``, batching clips of equal length.

    Batches come in order of the clips' first appearance within each length, so the result is deterministic.
    """
    waves = ((i, _load(clip, features)) for i, clip in enumerate(clips))
    yield from iter_wave_chunks(waves, pipeline, features.batch_clips)


def iter_wave_chunks(
    waves: Iterable[tuple[int, np.ndarray]], pipeline: FeaturePipeline, batch_clips: int
) -> Iterator[tuple[list[int], Tensor]]:
    """Yield ``(keys, chunks (b, n, C, F, W))`` over ``(key, waveform (n,) or (A, n))`` pairs, batching equal
    lengths by up to ``batch_clips``; batches come in order of each length's first key."""
    pending: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    device = next((b.device for b in pipeline.buffers()), torch.device("cpu"))

    def flush(length: int) -> tuple[list[int], Tensor]:
        items = pending.pop(length)
        wave = torch.from_numpy(np.stack([w for _, w in items])).to(device)
        return [i for i, _ in items], pipeline(wave).cpu()

    for key, wave in waves:
        length = wave.shape[-1]
        pending[length].append((key, wave))
        if len(pending[length]) >= batch_clips:
            yield flush(length)
    for length in list(pending):
        yield flush(length)


@dataclass
class NoisyChunks:
    """Chunks of noisy versions of a unit's training clips (``train.noise_mix``), beside the clean cache.

    Attributes:
        chunks: (N, C, F, W) features of the noisy versions, not standardised.
        lookup: (K, M) row in ``chunks`` of the same chunk of copy ``k`` of the clip of cache chunk ``j``; -1 for
            chunks of clips without copies (held-out clips).
        prob: probability that a training chunk is replaced by one of its noisy copies in an epoch.
    """

    chunks: Tensor
    lookup: Tensor
    prob: float


@dataclass
class ChunkCache:
    """Every chunk of a list of clips, in memory.

    Attributes:
        chunks: (M, C, F, W) features, not standardised.
        clip_index: (M,) index into the clip list of each chunk's clip.
        n_clips: number of clips.
        noisy: noisy versions of the training clips' chunks (``train.noise_mix``); ``None`` without.
    """

    chunks: Tensor
    clip_index: Tensor
    n_clips: int
    noisy: NoisyChunks | None = None


def compute_chunks(clips: Sequence[Clip], pipeline: FeaturePipeline, features: FeatureConfig) -> ChunkCache:
    """Load every clip once and cut its features into chunks; chunks are ordered by clip, then time."""
    per_clip: list[Tensor | None] = [None] * len(clips)
    for indices, chunks in iter_clip_chunks(clips, pipeline, features):
        for i, c in zip(indices, chunks, strict=True):
            per_clip[i] = c
    if not per_clip:
        raise ConfigError("no clips to compute features for")
    tensors = [t for t in per_clip if t is not None]
    clip_index = torch.cat([torch.full((len(t),), i, dtype=torch.long) for i, t in enumerate(tensors)])
    return ChunkCache(torch.cat(tensors), clip_index, len(clips))
