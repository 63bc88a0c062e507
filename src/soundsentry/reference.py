"""Reference detectors that need no training, the yardstick every learned recipe must beat.

``rms``: the clip's RMS energy is the anomaly score (a trivial detector; on a well-built benchmark it sits near
chance). ``logmel_1nn``: the clip's mean log-mel spectrum (128 mels, 1024-point STFT, hop 512, dB), scored by the
Euclidean distance to the nearest training clip of the same machine type and section.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm import tqdm

from soundsentry.errors import ConfigError
from soundsentry.types import Clip

DETECTORS = ("logmel_1nn", "rms")


def clip_features(clips: Sequence[Clip], detector: str, sample_rate: int = 16000, progress: bool = True) -> np.ndarray:
    """(N, D) features of each clip for a reference detector: (N, 1) RMS or (N, 128) mean log-mel."""
    from soundsentry.data.audio import load_audio
    from soundsentry.registry import FRONTENDS

    if detector not in DETECTORS:
        raise ConfigError(f"unknown reference detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    logmel = None
    if detector == "logmel_1nn":
        import soundsentry.frontends  # noqa: F401  (registers the front-ends)

        logmel = FRONTENDS.create("logmel", sample_rate=sample_rate, n_fft=1024, hop_length=512, n_mels=128, scale="db")
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


def reference_scores(
    clips: Sequence[Clip], detector: str = "logmel_1nn", sample_rate: int = 16000, progress: bool = True
) -> np.ndarray:
    """(N,) anomaly scores of every clip; training clips of ``logmel_1nn`` are scored out of fold."""
    from soundsentry.scoring import score_clips

    feats = clip_features(clips, detector, sample_rate=sample_rate, progress=progress)
    if detector == "rms":
        return feats[:, 0]
    return score_clips(feats, clips, "knn:k=1,metric=euclidean")
