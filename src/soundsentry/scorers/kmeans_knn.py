"""k-NN over a domain-balanced bank: k-means centres of the source embeddings plus every target embedding.

Wilkinghoff (ICASSP 2023, "Design choices for learning embeddings from auxiliary tasks for domain generalization
in anomalous sound detection"): with ~1000 source but ~10 target training clips per section, the nearest-neighbour
distance of a normal target clip is much larger than that of a normal source clip, so one threshold cannot serve
both domains. Replacing the source clips by a few k-means centres (16 in the paper) and keeping every target clip
makes the two domains about equally dense in the bank. Scoring needs no domain: the test clip's distance to the
nearest bank entry (cosine distance by default) works for clips of an unknown domain as it does for known ones.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans

from soundsentry.registry import register_scorer
from soundsentry.scorers.base import check_choice, check_positive_int
from soundsentry.scorers.domain_input import SOURCE, TARGET, DomainInputScorer, check_seed
from soundsentry.scorers.knn import KNNScorer, _unit_rows


def kmeans_centres(X: np.ndarray, n_centres: int, *, cosine: bool, seed: int) -> np.ndarray:
    """(min(n_centres, distinct rows), D) k-means centres of X: (N, D); of the unit-length rows when ``cosine``."""
    data = _unit_rows(X) if cosine else X
    n = min(int(n_centres), np.unique(data, axis=0).shape[0])
    if n == data.shape[0]:
        return data.copy()
    return KMeans(n_clusters=n, n_init=4, random_state=int(seed)).fit(data).cluster_centers_


@register_scorer("kmeans_knn")
class KMeansKNNScorer(DomainInputScorer):
    """score(x) = mean distance from x to its k nearest entries of [k-means centres of source; all target rows].

    Args:
        n_centres: k-means centres of the source embeddings (capped at the number of distinct source rows).
        k: bank entries averaged (clipped to the bank size with a warning); the paper uses 1.
        metric: ``cosine`` (1 - cosine similarity; k-means then runs on unit-length embeddings) or ``euclidean``.
        seed: seed of k-means.

    Training rows without domains count as source (the bank is then only the centres). Test domains are ignored.

    Attributes:
        centres_: (C, D) the source centres.
        bank_: (C + N_target, D) the bank.
        knn_: the fitted :class:`~soundsentry.scorers.knn.KNNScorer` over the bank.
    """

    metrics = ("cosine", "euclidean")

    def __init__(self, n_centres: int = 16, k: int = 1, metric: str = "cosine", seed: int = 0) -> None:
        self.n_centres = n_centres
        self.k = k
        self.metric = metric
        self.seed = seed

    def check_params(self) -> None:
        check_positive_int(self._owner, "n_centres", self.n_centres)
        check_positive_int(self._owner, "k", self.k)
        check_choice(self._owner, "metric", self.metric, self.metrics)
        check_seed(self._owner, self.seed)

    def _fit_domains(self, X: np.ndarray, doms: np.ndarray, centres: np.ndarray | None) -> None:
        source, target = X[doms == SOURCE], X[doms == TARGET]
        cosine = self.metric == "cosine"
        self.centres_ = (
            kmeans_centres(source, self.n_centres, cosine=cosine, seed=self.seed)
            if source.shape[0]
            else np.empty((0, X.shape[1]))
        )
        self.bank_ = np.vstack([self.centres_, target])
        self.knn_ = KNNScorer(k=self.k, metric=self.metric).fit(self.bank_)

    def _score_domains(self, X: np.ndarray, doms: np.ndarray) -> np.ndarray:
        return self.knn_.anomaly_score(X)
