"""Local-density score normalisation (Wilkinghoff et al., arXiv 2509.10951): k-NN distance over local distance.

A plain k-NN distance is small in the dense source region and large in the sparse target region, so one threshold
cannot fit both. Dividing by the typical neighbour distance *around* the test point makes the two comparable::

    d_k(x)    = mean distance from x to its k nearest training embeddings
    rho(y)    = mean distance from a training embedding y to its n_ref nearest *other* training embeddings
    score(x)  = d_k(x) / mean(rho(y) for y in the n_ref nearest training embeddings of x)

Our reading: the paper's abstract and summaries describe "a local-density-based anomaly score normalisation"
that rescales each score by a reference density estimated from the K nearest training neighbours; the exact
formula was not available to us, so this is the LOF-like ratio above (a simplified LOF without reachability
distances). ``n_ref`` is that K, used on both levels: a 1-NN distance alone as each neighbour's density is too
noisy in a sparse target region (on the two-domain test case it lost to plain k-NN). Keep ``n_ref`` below the
number of target clips so that a target clip's reference neighbourhood stays inside the target cluster. With one
training embedding there is no leave-one-out distance and the score is the plain distance. Domains are not used.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from soundsentry.registry import register_scorer
from soundsentry.scorers.base import BaseScorer, check_choice, check_positive_int
from soundsentry.scorers.knn import _effective_k


@register_scorer("density_knn")
class DensityKNNScorer(BaseScorer):
    """score(x) = k-NN distance of x / mean leave-one-out ``n_ref``-NN distance of its ``n_ref`` nearest training rows.

    Args:
        k: neighbours of the base distance (clipped to the training size with a warning).
        n_ref: training neighbours of x whose own k-NN distances form the reference (clipped to the training size).
        metric: ``cosine`` (1 - cosine similarity) or ``euclidean``.

    Attributes:
        k_, n_ref_: the values actually used.
        local_: (N,) leave-one-out ``n_ref``-NN distance of each training embedding (floored, see ``floor_``).
        floor_: smallest reference allowed (1e-3 x the median of ``local_``), so duplicates do not divide by 0.
        index_: the fitted ``sklearn.neighbors.NearestNeighbors``.
    """

    metrics = ("cosine", "euclidean")

    def __init__(self, k: int = 1, n_ref: int = 4, metric: str = "cosine") -> None:
        self.k = k
        self.n_ref = n_ref
        self.metric = metric

    def check_params(self) -> None:
        check_positive_int(self._owner, "k", self.k)
        check_positive_int(self._owner, "n_ref", self.n_ref)
        check_choice(self._owner, "metric", self.metric, self.metrics)

    def _fit(self, X: np.ndarray) -> None:
        n = X.shape[0]
        self.k_ = _effective_k(self._owner, int(self.k), n)
        self.n_ref_ = min(int(self.n_ref), n)
        self.index_ = NearestNeighbors(n_neighbors=max(self.k_, self.n_ref_), metric=self.metric).fit(X)
        if n == 1:
            self.local_, self.floor_ = np.ones(1), 1.0
            return
        loo, _ = self.index_.kneighbors(n_neighbors=min(self.n_ref_, n - 1))  # X=None: each row without itself
        local = loo.mean(axis=1)
        self.floor_ = max(1e-3 * float(np.median(local)), 1e-12)
        self.local_ = np.maximum(local, self.floor_)

    def _score(self, X: np.ndarray) -> np.ndarray:
        distances, neighbours = self.index_.kneighbors(X)  # (M, max(k_, n_ref_)), nearest first
        reference = self.local_[neighbours[:, : self.n_ref_]].mean(axis=1)
        return distances[:, : self.k_].mean(axis=1) / reference
