"""Local outlier factor scorer (novelty mode: fitted on normal embeddings, applied to new ones)."""

from __future__ import annotations

from sklearn.neighbors import LocalOutlierFactor

from soundsentry.registry import register_scorer
from soundsentry.scorers.base import NormalityScorer, check_choice, check_positive_int


@register_scorer("lof")
class LOFScorer(NormalityScorer):
    """score(x) = local outlier factor of x, i.e. ``-LocalOutlierFactor(novelty=True).score_samples(x)``.

    Args:
        n_neighbors: neighbourhood size; scikit-learn lowers it (with a warning) to N - 1 for small N.
        metric: ``euclidean``, ``cosine``, ``manhattan`` or ``minkowski`` (p = 2).

    Attributes:
        estimator_: the fitted ``LocalOutlierFactor``.
    """

    min_train_samples = 2
    metrics = ("euclidean", "cosine", "manhattan", "minkowski")

    def __init__(self, n_neighbors: int = 20, metric: str = "euclidean") -> None:
        self.n_neighbors = n_neighbors
        self.metric = metric

    def check_params(self) -> None:
        check_positive_int(self._owner, "n_neighbors", self.n_neighbors)
        check_choice(self._owner, "metric", self.metric, self.metrics)

    def _make_estimator(self) -> LocalOutlierFactor:
        return LocalOutlierFactor(n_neighbors=self.n_neighbors, metric=self.metric, novelty=True)
