"""Per-domain standardisation of scores: z-normalise an inner scorer's output with its domain's training scores.

The inner scorer (any registered one, given its domains if it takes them) is fitted on all training embeddings of
the group. Its scores of the training rows are taken out of fold (a small internal k-fold: in-sample k-NN scores
would all be 0), and their mean and standard deviation per domain turn a test clip's score into a z-score of its
own domain. A clip of unknown domain (DCASE 2022-2024 evaluation data, a deployed detector) gets the lower, i.e.
more normal, of its two z-scores, as :class:`~soundsentry.scorers.domain.DomainAwareScorer` does.

Spec: ``domain_standardize:inner=knn_cosine;k=1,n_folds=5`` (``;`` between the inner scorer's options).
"""

from __future__ import annotations

import numpy as np

from soundsentry.registry import register_scorer
from soundsentry.scorers.base import check_positive_int
from soundsentry.scorers.domain_input import (
    SOURCE,
    TARGET,
    DomainInputScorer,
    check_seed,
    checked_inner,
    fit_inner,
    out_of_fold_scores,
    score_inner,
    z_stats,
)


@register_scorer("domain_standardize")
class DomainStandardizeScorer(DomainInputScorer):
    """score(x) = (inner(x) - mean_d) / std_d over the out-of-fold training scores of x's domain d.

    Args:
        inner: spec of the scorer to standardise, options separated by ``;`` (``knn_cosine;k=1``).
        n_folds: folds of the internal out-of-fold training scores (at most the number of training rows).
        seed: seed of the fold assignment.

    A domain with fewer than two training scores (or constant ones) uses the statistics of all training scores;
    with none usable the scores pass unchanged (mean 0, std 1).

    Attributes:
        inner_: the inner scorer fitted on all training rows.
        train_scores_: (N,) out-of-fold inner scores of the training rows (NaN when N < 2).
        stats_: {"source": (mean, std), "target": (mean, std)}.
    """

    def __init__(self, inner: str = "knn_cosine;k=1", n_folds: int = 5, seed: int = 0) -> None:
        self.inner = inner
        self.n_folds = n_folds
        self.seed = seed

    def check_params(self) -> None:
        checked_inner(self._owner, "inner", self.inner)
        check_positive_int(self._owner, "n_folds", self.n_folds)
        check_seed(self._owner, self.seed)

    @property
    def wants_centres(self) -> bool:
        """True when the inner scorer needs the learned centres in ``fit``."""
        return bool(getattr(checked_inner(self._owner, "inner", self.inner), "wants_centres", False))

    def _fit_domains(self, X: np.ndarray, doms: np.ndarray, centres: np.ndarray | None) -> None:
        self.inner_ = fit_inner(checked_inner(self._owner, "inner", self.inner), X, doms, centres)
        oof = out_of_fold_scores(self.inner, X, doms, centres, self.n_folds, self.seed)
        pooled = z_stats(oof) or (0.0, 1.0)
        self.train_scores_ = oof
        self.stats_ = {d: z_stats(oof[doms == d]) or pooled for d in (SOURCE, TARGET)}

    def _score_domains(self, X: np.ndarray, doms: np.ndarray) -> np.ndarray:
        raw = score_inner(self.inner_, X, doms)
        z = {d: (raw - mean) / std for d, (mean, std) in self.stats_.items()}
        scores = np.minimum(z[SOURCE], z[TARGET])
        for domain, values in z.items():
            scores = np.where(doms == domain, values, scores)
        return scores
