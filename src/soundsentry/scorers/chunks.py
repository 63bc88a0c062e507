"""Chunk-level scoring: each chunk of a clip against the training chunks of its group, then one score per clip.

The clip-mean embedding hides a fault that lives in a few chunks of a clip (a click, a short rub). This scorer
fits any embedding scorer (``inner``) on the *chunk* embeddings of a group's training clips, scores each chunk of
a test clip, and pools the chunk scores of the clip: their ``mean``, their ``max``, or a ``quantile`` ``q``
(0.9: the 90th percentile, robust to one odd chunk). The S1 document compares "the test sample's embedding with
all the ID's embeddings of training data"; ``chunks:inner=knn_cosine;k=10,pool=mean`` is the chunk-level reading
of that sentence, the clip-mean embedding with ``knn_cosine:k=10`` the other.

The scorer keeps the estimator contract on chunk rows: ``fit(X)`` takes (N_chunks, D) training chunks and
``anomaly_score(X)`` gives one score per chunk row; :meth:`ChunkPoolScorer.pool_clips` then turns chunk scores into
clip scores. :func:`soundsentry.chunk_scoring.score_chunk_clips` does both for every group, training clips out
of fold (all chunks of a clip in the same fold).

Spec: ``chunks:inner=knn_cosine;k=1,pool=max`` (``;`` separates the inner scorer's options, as in
``domain_aware``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from soundsentry.errors import ConfigError, DataError
from soundsentry.registry import register_scorer
from soundsentry.scorers.base import BaseScorer, check_choice, check_embeddings
from soundsentry.types import Domain

POOLS = ("mean", "max", "quantile")


def inner_scorer(spec: str) -> BaseScorer:
    """A scorer from a nested spec whose options are separated by ``;`` (``knn_cosine;k=1``)."""
    from soundsentry.scorers.spec import create_scorer

    name, *options = str(spec).split(";")
    return create_scorer(f"{name}:{','.join(options)}" if options else name)


def pool_scores(chunk_scores: np.ndarray, chunk_clip: np.ndarray, n_clips: int, pool: str, q: float) -> np.ndarray:
    """(n_clips,) pooled scores of each clip's chunks; NaN for a clip without chunks.

    Args:
        chunk_scores: (M,) scores of the chunks.
        chunk_clip: (M,) index in ``[0, n_clips)`` of each chunk's clip.
        n_clips: number of clips.
        pool: ``mean``, ``max`` or ``quantile``.
        q: the quantile for ``quantile`` (in [0, 1]).
    """
    chunk_scores = np.asarray(chunk_scores, dtype=np.float64)
    chunk_clip = np.asarray(chunk_clip, dtype=np.int64)
    out = np.full(n_clips, np.nan)
    if chunk_scores.size == 0:
        return out
    order = np.argsort(chunk_clip, kind="stable")
    clips, starts = np.unique(chunk_clip[order], return_index=True)
    for clip, values in zip(clips, np.split(chunk_scores[order], starts[1:]), strict=True):
        if pool == "mean":
            out[clip] = values.mean()
        elif pool == "max":
            out[clip] = values.max()
        else:
            out[clip] = np.quantile(values, q)
    return out


@register_scorer("chunks")
class ChunkPoolScorer(BaseScorer):
    """Fits ``inner`` on training chunks; scores chunks; :meth:`pool_clips` makes one score per clip.

    Args:
        inner: spec of the chunk scorer, options separated by ``;`` (``knn_cosine;k=1``, ``knn;k=1``).
        pool: how a clip's chunk scores become its score: ``mean``, ``max`` or ``quantile``.
        q: the quantile of ``pool=quantile`` (0.9 = 90th percentile).

    Attributes:
        inner_: the fitted inner scorer.
    """

    #: The score stage gives this scorer chunk embeddings and pools its scores per clip.
    input_kind = "chunks"

    def __init__(self, inner: str = "knn_cosine;k=1", pool: str = "mean", q: float = 0.9) -> None:
        self.inner = inner
        self.pool = pool
        self.q = q

    def check_params(self) -> None:
        try:
            probe = inner_scorer(self.inner)
        except ConfigError as err:
            raise ConfigError(f"{self._owner}: inner: {err}") from None
        if getattr(probe, "input_kind", "embedding") != "embedding":
            raise ConfigError(f"{self._owner}: inner must score embeddings, got {self.inner!r}")
        check_choice(self._owner, "pool", self.pool, POOLS)
        if isinstance(self.q, bool) or not isinstance(self.q, int | float) or not 0.0 <= float(self.q) <= 1.0:
            raise ConfigError(f"{self._owner}: q must be a number in [0, 1] (0.9 = 90th percentile), got {self.q!r}")

    @property
    def uses_domains(self) -> bool:
        """True when the inner scorer needs the chunks' domains."""
        return bool(getattr(inner_scorer(self.inner), "uses_domains", False))

    @property
    def wants_centres(self) -> bool:
        """True when the inner scorer needs learned centres."""
        return bool(getattr(inner_scorer(self.inner), "wants_centres", False))

    def fit(self, X: Any, y: Any = None, **kwargs: Any) -> ChunkPoolScorer:
        """Fit the inner scorer on training chunk embeddings ``X: (N_chunks, D)``; ``domains`` (one per chunk)
        and ``centres`` are passed on when the inner scorer asks for them."""
        self.check_params()
        X = check_embeddings(X, owner=self._owner, what="training chunk embeddings", min_samples=1)
        self.inner_ = inner_scorer(self.inner).fit(X, **kwargs)
        self.n_samples_fit_ = X.shape[0]
        self.n_features_in_ = X.shape[1]
        return self

    def anomaly_score(self, X: Any, *, domains: Sequence[Domain] | None = None) -> np.ndarray:
        """(M,) chunk scores of chunk embeddings ``X: (M, D)``, higher = more anomalous."""
        self._check_fitted()
        X = check_embeddings(X, owner=self._owner, what="test chunk embeddings")
        if X.shape[1] != self.n_features_in_:
            raise DataError(
                f"{self._owner}: expected embeddings with {self.n_features_in_} features (the width it was fitted "
                f"on), got {X.shape[1]}; score embeddings from the same extractor or refit the scorer on them"
            )
        if X.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        if domains is not None and self.uses_domains:
            return np.asarray(self.inner_.anomaly_score(X, domains=domains), dtype=np.float64)
        return np.asarray(self.inner_.anomaly_score(X), dtype=np.float64)

    def pool_clips(self, chunk_scores: np.ndarray, chunk_clip: np.ndarray, n_clips: int) -> np.ndarray:
        """(n_clips,) clip scores from chunk scores (see :func:`pool_scores`)."""
        return pool_scores(chunk_scores, chunk_clip, n_clips, self.pool, float(self.q))

    def _fit(self, X: np.ndarray) -> None:  # fit is overridden: it passes keyword arguments on
        self.fit(X)

    def _score(self, X: np.ndarray) -> np.ndarray:  # anomaly_score is overridden: it passes domains on
        return self.anomaly_score(X)
