"""Reference detectors that need no training, the yardstick every learned recipe must beat.

``rms``: the clip's RMS energy is the anomaly score (a trivial detector; on a well-built benchmark it sits near
chance). ``logmel_1nn``: the clip's mean log-mel spectrum (128 mels, 1024-point STFT, hop 512, dB), scored by the
Euclidean distance to the nearest training clip of the same machine type and section. ``logmel_patch_1nn``:
every window of 5 consecutive log-mel frames of the clip (the 640-d input vector of the DCASE 2023-2025
autoencoder baseline) is compared with the windows of the group's training clips; a window's score is the
Euclidean distance to its nearest training window, and the clip's score the mean over its windows. It keeps the
time structure the clip mean throws away, and needs no training.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm import tqdm

from soundsentry.errors import ConfigError, DataError
from soundsentry.types import Clip

DETECTORS = ("logmel_1nn", "logmel_patch_1nn", "rms")
#: The chunk scorer of ``logmel_patch_1nn``: nearest training window, mean over the clip's windows.
PATCH_SPEC = "chunks:inner=knn;k=1;metric=euclidean,pool=mean"
PATCH_FRAMES = 5


def clip_features(clips: Sequence[Clip], detector: str, sample_rate: int = 16000, progress: bool = True) -> np.ndarray:
    """(N, D) features of each clip for a clip-level reference detector: (N, 1) RMS or (N, 128) mean log-mel."""
    from soundsentry.data.audio import load_audio

    _check_detector(detector)
    if detector == "logmel_patch_1nn":
        raise ConfigError("logmel_patch_1nn scores windows, not clip features; use patch_features for it")
    logmel = _logmel(sample_rate) if detector == "logmel_1nn" else None
    rows = []
    for clip in tqdm(clips, desc=f"{detector} features", disable=not progress, unit="clip"):
        wave = load_audio(clip.path, sample_rate)
        if logmel is None:
            rows.append([float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))])
            continue
        with torch.no_grad():
            feats = logmel(torch.from_numpy(wave).unsqueeze(0))  # (1, 1, F, T)
        rows.append(feats.mean(dim=-1).flatten().double().numpy())
    return np.asarray(rows, dtype=np.float64)


def _check_detector(detector: str) -> None:
    if detector not in DETECTORS:
        raise ConfigError(f"unknown reference detector {detector!r}; choose one of {', '.join(DETECTORS)}")


def _logmel(sample_rate: int):
    import soundsentry.frontends  # noqa: F401  (registers the front-ends)
    from soundsentry.registry import FRONTENDS

    return FRONTENDS.create("logmel", sample_rate=sample_rate, n_fft=1024, hop_length=512, n_mels=128, scale="db")


def patch_features(
    clips: Sequence[Clip], sample_rate: int = 16000, frames: int = PATCH_FRAMES, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``frames`` consecutive log-mel frames of every clip, flattened frame by frame.

    Returns:
        (windows (M, frames * 128) float32, chunk_clip (M,) index of each window's clip).
    """
    from soundsentry.data.audio import load_audio

    logmel = _logmel(sample_rate)
    parts, owners = [], []
    for i, clip in enumerate(tqdm(clips, desc="log-mel windows", disable=not progress, unit="clip")):
        wave = load_audio(clip.path, sample_rate)
        with torch.no_grad():
            spec = logmel(torch.from_numpy(wave).unsqueeze(0))[0, 0].T  # (T, 128)
        n = spec.shape[0] - frames + 1
        if n < 1:
            raise DataError(
                f"{clip.path}: {spec.shape[0]} log-mel frames, fewer than the {frames} of one window; "
                "use clips of at least 0.2 s"
            )
        windows = torch.stack([spec[t : t + n] for t in range(frames)], dim=1).reshape(n, -1)
        parts.append(windows.numpy().astype(np.float32))
        owners.append(np.full(n, i, dtype=np.int64))
    return np.concatenate(parts), np.concatenate(owners)


def reference_scores(
    clips: Sequence[Clip], detector: str = "logmel_1nn", sample_rate: int = 16000, progress: bool = True
) -> np.ndarray:
    """(N,) anomaly scores of every clip; training clips of ``logmel_1nn`` are scored out of fold."""
    from soundsentry.scoring import score_clips

    _check_detector(detector)
    if detector == "logmel_patch_1nn":
        from soundsentry.chunk_scoring import score_chunk_clips

        windows, owner = patch_features(clips, sample_rate=sample_rate, progress=progress)
        return score_chunk_clips(windows, owner, clips, PATCH_SPEC)
    feats = clip_features(clips, detector, sample_rate=sample_rate, progress=progress)
    if detector == "rms":
        return feats[:, 0]
    return score_clips(feats, clips, "knn:k=1,metric=euclidean")
