"""k-NN over source plus a SMOTE-oversampled target bank.

With many source and few target training clips, a normal target clip finds its nearest training neighbour much
farther away than a normal source clip does. SMOTE (Chawla et al., 2002) fills the target region with synthetic
points: each lies on the segment between a target embedding and one of its ``n_neighbors`` nearest target
embeddings, at a uniform random position. The target bank is grown to ``ratio`` times the source count, then the
score is the k-NN distance to the union of source, target and synthetic rows. Scoring needs no domain.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.spatial.distance import cdist

from soundsentry.errors import ConfigError
from soundsentry.registry import register_scorer
from soundsentry.scorers.base import check_choice, check_positive_int
from soundsentry.scorers.domain_input import SOURCE, TARGET, DomainInputScorer, check_seed
from soundsentry.scorers.knn import KNNScorer, _unit_rows


def smote(points: np.ndarray, n_new: int, n_neighbors: int, rng: np.random.Generator, *, cosine: bool) -> np.ndarray:
    """(n_new, D) synthetic rows interpolated between rows of points: (N, D) and their nearest neighbours.

    Neighbours are found by cosine distance when ``cosine`` (on unit-length rows), else Euclidean. With one row
    there is no segment and the synthetic rows are copies of it; with none, or ``n_new <= 0``, none are made.
    """
    if n_new <= 0 or points.shape[0] == 0:
        return np.empty((0, points.shape[1]))
    base = _unit_rows(points) if cosine else points
    if points.shape[0] == 1:
        return np.repeat(base, n_new, axis=0)
    distances = cdist(base, base, metric="cosine" if cosine else "euclidean")
    np.fill_diagonal(distances, np.inf)
    k = min(int(n_neighbors), points.shape[0] - 1)
    neighbours = np.argsort(distances, axis=1, kind="stable")[:, :k]  # (N, k), nearest first
    anchor = rng.integers(points.shape[0], size=n_new)
    partner = neighbours[anchor, rng.integers(k, size=n_new)]
    gap = rng.random(n_new)[:, None]
    return base[anchor] + gap * (base[partner] - base[anchor])


@register_scorer("smote_knn")
class SmoteKNNScorer(DomainInputScorer):
    """score(x) = mean distance from x to its k nearest rows of [source; target; SMOTE samples of target].

    Args:
        k: nearest rows averaged (clipped to the bank size with a warning).
        n_neighbors: target neighbours each synthetic point may be interpolated towards.
        ratio: grow the target rows (real + synthetic) to ``ratio`` x the number of source rows; never shrinks.
        metric: ``cosine`` (interpolation between unit-length embeddings) or ``euclidean``.
        seed: seed of the sampling.

    Attributes:
        synthetic_: (S, D) the synthetic target rows.
        knn_: the fitted :class:`~soundsentry.scorers.knn.KNNScorer` over the bank.
    """

    metrics = ("cosine", "euclidean")

    def __init__(
        self, k: int = 1, n_neighbors: int = 5, ratio: float = 1.0, metric: str = "cosine", seed: int = 0
    ) -> None:
        self.k = k
        self.n_neighbors = n_neighbors
        self.ratio = ratio
        self.metric = metric
        self.seed = seed

    def check_params(self) -> None:
        check_positive_int(self._owner, "k", self.k)
        check_positive_int(self._owner, "n_neighbors", self.n_neighbors)
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, numbers.Real) or not self.ratio >= 0:
            raise ConfigError(
                f"{self._owner}: ratio must be a number >= 0 (1.0 = as many as source), got {self.ratio!r}"
            )
        check_choice(self._owner, "metric", self.metric, self.metrics)
        check_seed(self._owner, self.seed)

    def _fit_domains(self, X: np.ndarray, doms: np.ndarray, centres: np.ndarray | None) -> None:
        source, target = X[doms == SOURCE], X[doms == TARGET]
        n_new = int(round(float(self.ratio) * source.shape[0])) - target.shape[0]
        rng = np.random.default_rng(int(self.seed))
        self.synthetic_ = smote(target, n_new, self.n_neighbors, rng, cosine=self.metric == "cosine")
        self.knn_ = KNNScorer(k=self.k, metric=self.metric).fit(np.vstack([source, target, self.synthetic_]))

    def _score_domains(self, X: np.ndarray, doms: np.ndarray) -> np.ndarray:
        return self.knn_.anomaly_score(X)
