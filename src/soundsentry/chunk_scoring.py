"""Score clips from their chunk embeddings with a ``chunks`` scorer, per (machine type, section), out of fold.

The clip-level counterpart is :func:`soundsentry.scoring.score_clips`; this one fits the scorer on the chunks of
a group's training clips, scores every chunk of the other clips, and pools each clip's chunk scores. Training
clips are scored out of fold with the same fold assignment as :func:`~soundsentry.scoring.score_clips` (by clip:
all chunks of a clip are held out together, so a clip never meets its own chunks).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from soundsentry.errors import DataError
from soundsentry.scoring import Centres, fit_scorer_on, fold_plan
from soundsentry.types import Clip, Domain


class ChunkIndex:
    """Where each clip's chunks are: ``rows(clips)`` gives the chunk rows of a set of clips, in clip order."""

    def __init__(self, chunk_clip: np.ndarray, n_clips: int) -> None:
        chunk_clip = np.asarray(chunk_clip, dtype=np.int64)
        if chunk_clip.size and (chunk_clip.min() < 0 or chunk_clip.max() >= n_clips):
            raise DataError(f"chunk_clip indices must lie in [0, {n_clips}); rerun `soundsentry extract`")
        order = np.argsort(chunk_clip, kind="stable")
        bounds = np.searchsorted(chunk_clip[order], np.arange(n_clips + 1))
        self._order, self._bounds = order, bounds

    def rows(self, clip_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(chunk rows, position in ``clip_rows`` of each chunk's clip) of the clips ``clip_rows``."""
        parts = [self._order[self._bounds[i] : self._bounds[i + 1]] for i in clip_rows]
        owner = [np.full(len(p), j, dtype=np.int64) for j, p in enumerate(parts)]
        if not parts:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        return np.concatenate(parts), np.concatenate(owner)


def _as_float(chunk_features: np.ndarray) -> np.ndarray:
    """The chunk features as they are when already floating point (float32 from embeddings.npz): the scorers cast
    one group's rows at a time, so a set's windows are never all held in float64 at once (8.5 GB for the flagship
    on the 10 s, 4-section generated set)."""
    arr = np.asarray(chunk_features)
    return arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float64)


def _fit(spec: str, chunks: np.ndarray, index: ChunkIndex, clips: Sequence[Clip], fit_rows: np.ndarray, centres):
    rows, owner = index.rows(fit_rows)
    if rows.size == 0:
        raise DataError(f"the training clips of {clips[int(fit_rows[0])].group} have no chunks; rerun extract")
    group = clips[int(fit_rows[0])].group
    return fit_scorer_on(
        spec,
        chunks[rows],
        domains=[clips[int(fit_rows[j])].domain for j in owner],
        centres=None if centres is None else centres.get(group),
        clip_index=owner,
        where=f"{group[0]} section {group[1]}",
    )


def _score(scorer, chunks: np.ndarray, index: ChunkIndex, clips: Sequence[Clip], rows: np.ndarray, domain):
    chunk_rows, owner = index.rows(rows)
    domains = [domain or clips[int(rows[j])].domain for j in owner] if scorer.uses_domains else None
    return scorer.score_clips(chunks[chunk_rows], owner, len(rows), domains=domains)


def score_chunk_clips(
    chunk_features: np.ndarray,
    chunk_clip: np.ndarray,
    clips: Sequence[Clip],
    spec: str,
    *,
    n_folds: int = 5,
    seed: int = 0,
    centres: Centres | None = None,
    domain: Domain | None = None,
) -> np.ndarray:
    """Anomaly scores for every clip from its chunk embeddings and a ``chunks:...`` scorer spec.

    Args:
        chunk_features: (M, D) chunk embeddings.
        chunk_clip: (M,) index into ``clips`` of each chunk's clip.
        clips: the clips, with their machine type, section, domain and split.
        spec: a spec of a scorer with ``input_kind == "chunks"`` (``chunks:inner=knn_cosine;k=1,pool=max``).
        n_folds, seed, centres, domain: as :func:`soundsentry.scoring.score_clips`.

    Returns:
        (N,) scores, higher = more anomalous; NaN for training clips of a group with a single training clip and
        for clips without chunks.
    """
    chunk_features = _as_float(chunk_features)
    if chunk_features.ndim != 2 or len(chunk_features) != len(chunk_clip):
        raise DataError(
            f"chunk features have shape {chunk_features.shape} but {len(chunk_clip)} chunk indices were given"
        )
    index = ChunkIndex(chunk_clip, len(clips))
    scores = np.full(len(clips), np.nan)
    for kept, held in fold_plan(clips, n_folds, seed):
        scorer = _fit(spec, chunk_features, index, clips, kept, centres)
        scores[held] = _score(scorer, chunk_features, index, clips, held, domain)
    return scores


def fill_unscored_train_chunks(
    chunk_features: np.ndarray,
    chunk_clip: np.ndarray,
    clips: Sequence[Clip],
    scores: np.ndarray,
    spec: str,
    centres: Centres | None = None,
) -> np.ndarray:
    """Training clips left without an out-of-fold score (a group with one training clip) scored in sample."""
    from soundsentry.types import Split

    chunk_features = _as_float(chunk_features)
    index = ChunkIndex(chunk_clip, len(clips))
    for group in sorted({clips[i].group for i in np.flatnonzero(~np.isfinite(scores))}):
        idx = np.array([i for i, c in enumerate(clips) if c.group == group and c.split is Split.TRAIN])
        if idx.size == 0:
            continue
        scorer = _fit(spec, chunk_features, index, clips, idx, centres)
        fresh = _score(scorer, chunk_features, index, clips, idx, None)
        scores[idx] = np.where(np.isfinite(scores[idx]), scores[idx], fresh)
    return scores
