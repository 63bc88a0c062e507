"""Nearest-neighbour scorers: distance from a test embedding to the closest normal training embeddings.

``knn_cosine`` is the S1 score of the ArcFace MobileFaceNet system (DCASE 2020): 1 - mean of the top K = 10
cosine similarities to the training embeddings of the same machine ID. ``knn`` with ``k=1`` and the default
Euclidean metric is the 1-nearest-neighbour score of the self-supervised MobileNetV2 system (DCASE 2022).

When ``k`` exceeds the number of training embeddings (DCASE target domains can have 3 clips per section),
``fit`` warns and uses all of them; the effective value is stored in ``k_``.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.neighbors import NearestNeighbors

from soundsentry.registry import register_scorer
from soundsentry.scorers.base import BaseScorer, check_choice, check_positive_int

# Rows of test embeddings scored at once, so the (rows, N) similarity block stays small.
_CHUNK_ROWS = 1024


def _effective_k(owner: str, k: int, n_train: int) -> int:
    """``k`` clipped to the number of training embeddings, with a warning when it had to be clipped."""
    if k <= n_train:
        return k
    warnings.warn(
        f"{owner}: k={k} but only {n_train} training embeddings; using k={n_train}. "
        f"Lower k or add training clips to silence this.",
        UserWarning,
        stacklevel=4,
    )
    return n_train


def _unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; an all-zero row stays zero (cosine similarity 0 to everything)."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norms, np.finfo(np.float64).tiny)


@register_scorer("knn")
class KNNScorer(BaseScorer):
    """Distance to the k nearest training embeddings.

    Args:
        k: number of neighbours (clipped to the training size with a warning).
        metric: ``euclidean`` or ``cosine`` (cosine distance = 1 - cosine similarity).
        aggregate: how the k distances become one score: ``mean``; ``kth``, the distance to the k-th nearest;
            ``max``, the largest of the k distances, which is the same number as ``kth`` (both names are in use).

    Attributes:
        k_: the number of neighbours actually used.
        index_: the fitted ``sklearn.neighbors.NearestNeighbors``.
    """

    metrics = ("euclidean", "cosine")
    aggregates = ("mean", "max", "kth")

    def __init__(self, k: int = 1, metric: str = "euclidean", aggregate: str = "mean") -> None:
        self.k = k
        self.metric = metric
        self.aggregate = aggregate

    def check_params(self) -> None:
        check_positive_int(self._owner, "k", self.k)
        check_choice(self._owner, "metric", self.metric, self.metrics)
        check_choice(self._owner, "aggregate", self.aggregate, self.aggregates)

    def _fit(self, X: np.ndarray) -> None:
        self.k_ = _effective_k(self._owner, int(self.k), X.shape[0])
        self.index_ = NearestNeighbors(n_neighbors=self.k_, metric=self.metric).fit(X)

    def _score(self, X: np.ndarray) -> np.ndarray:
        distances, _ = self.index_.kneighbors(X)  # (M, k_), sorted nearest first
        if self.aggregate == "mean":
            return distances.mean(axis=1)
        return distances[:, -1]


@register_scorer("knn_cosine")
class CosineKNNScorer(BaseScorer):
    """S1 (ArcFace MobileFaceNet, DCASE 2020): score = 1 - mean of the top-K cosine similarities.

    For a test embedding x and training embeddings t_1..t_N, with cos(x, t) = x.t / (|x| |t|)::

        score(x) = 1 - mean(K largest of cos(x, t_1), ..., cos(x, t_N))

    Args:
        k: K, number of most similar training embeddings averaged (clipped to N with a warning).

    Attributes:
        k_: the K actually used.
        bank_: (N, D) training embeddings scaled to unit length.
    """

    def __init__(self, k: int = 10) -> None:
        self.k = k

    def check_params(self) -> None:
        check_positive_int(self._owner, "k", self.k)

    def _fit(self, X: np.ndarray) -> None:
        self.k_ = _effective_k(self._owner, int(self.k), X.shape[0])
        self.bank_ = _unit_rows(X)

    def _score(self, X: np.ndarray) -> np.ndarray:
        n_train = self.bank_.shape[0]
        scores = np.empty(X.shape[0], dtype=np.float64)
        for start in range(0, X.shape[0], _CHUNK_ROWS):
            rows = slice(start, start + _CHUNK_ROWS)
            cos_sim = _unit_rows(X[rows]) @ self.bank_.T  # (rows, N)
            top_k = np.partition(cos_sim, n_train - self.k_, axis=1)[:, n_train - self.k_ :]
            scores[rows] = 1.0 - top_k.mean(axis=1)
        return scores
