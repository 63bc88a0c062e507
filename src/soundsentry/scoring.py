"""Fit scorers per (machine type, section) and score every clip, training clips out of fold.

Test clips are scored by a scorer fitted on all training clips of their group. Training clips are scored
out of fold (a scorer fitted on the other folds of the group's training clips), so their scores are honest
samples of "normal" and can set decision thresholds; a k-NN scorer would otherwise give every training clip 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from soundsentry.errors import DataError
from soundsentry.types import Clip, Label, Split


def is_fit_clip(clip: Clip) -> bool:
    """Models are fitted on normal training clips only (a labelled folder may list training anomalies)."""
    return clip.split is Split.TRAIN and clip.label is Label.NORMAL


def _group_indices(clips: Sequence[Clip]) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    train: dict[tuple[str, str], list[int]] = defaultdict(list)
    other: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, clip in enumerate(clips):
        (train if is_fit_clip(clip) else other)[clip.group].append(i)
    missing = sorted(set(other) - set(train))
    if missing:
        names = ", ".join(f"{t} section {s}" for t, s in missing[:5])
        raise DataError(
            f"no training clips for {names}; every tested machine type and section needs normal training clips."
        )
    return {g: (np.array(train[g]), np.array(other.get(g, []), dtype=int)) for g in train}


def score_clips(
    features: np.ndarray, clips: Sequence[Clip], spec: str, *, n_folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Anomaly scores for every clip from a scorer spec such as ``"knn:k=1"``.

    Args:
        features: (N, D) one feature vector (embedding) per clip, aligned with ``clips``.
        clips: the clips, with their machine type, section and split.
        spec: scorer spec ``name:key=value,...`` (see ``soundsentry list``).
        n_folds: folds for the out-of-fold scores of training clips (at most the group's training count).
        seed: seed of the fold assignment.

    Returns:
        (N,) scores, higher = more anomalous; NaN for training clips of a group with a single training clip.
    """
    from soundsentry.scorers import create_scorer

    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) != len(clips):
        raise DataError(f"features have shape {features.shape} but {len(clips)} clips were given; expected (N, D).")
    scores = np.full(len(clips), np.nan)
    rng = np.random.default_rng(seed)
    for train_idx, other_idx in _group_indices(clips).values():
        if other_idx.size:
            scores[other_idx] = create_scorer(spec).fit(features[train_idx]).anomaly_score(features[other_idx])
        folds = min(n_folds, train_idx.size)
        if folds < 2:
            continue
        assignment = rng.permutation(np.arange(train_idx.size) % folds)
        for fold in range(folds):
            held, kept = train_idx[assignment == fold], train_idx[assignment != fold]
            scores[held] = create_scorer(spec).fit(features[kept]).anomaly_score(features[held])
    return scores
