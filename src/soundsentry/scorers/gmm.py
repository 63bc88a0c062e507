"""Gaussian mixture scorer: negative log-likelihood under a GMM fitted on the normal training embeddings.

The sub-cluster AdaCos system (DCASE 2021) scores the source domain this way, one GMM per (machine type, section);
wrap this scorer in :class:`~soundsentry.scorers.grouped.GroupedScorer` for that.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.mixture import GaussianMixture

from soundsentry.errors import ConfigError, DataError
from soundsentry.registry import register_scorer
from soundsentry.scorers.base import NormalityScorer, check_choice, check_positive_int


@register_scorer("gmm")
class GMMScorer(NormalityScorer):
    """score(x) = -log p(x) under ``sklearn.mixture.GaussianMixture``.

    Args:
        n_components: mixture components; needs at least this many training embeddings.
        covariance_type: ``full``, ``tied``, ``diag`` or ``spherical``.
        reg_covar: added to the covariance diagonals, keeps them invertible when N < D.
        max_iter: EM iterations.
        random_state: seed of the k-means initialisation, so fits are reproducible.

    Attributes:
        estimator_: the fitted ``GaussianMixture``.
    """

    covariance_types = ("full", "tied", "diag", "spherical")

    def __init__(
        self,
        n_components: int = 1,
        covariance_type: str = "full",
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        random_state: int = 0,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.random_state = random_state

    def check_params(self) -> None:
        check_positive_int(self._owner, "n_components", self.n_components)
        check_choice(self._owner, "covariance_type", self.covariance_type, self.covariance_types)
        check_positive_int(self._owner, "max_iter", self.max_iter)
        if isinstance(self.reg_covar, bool) or not isinstance(self.reg_covar, numbers.Real) or not self.reg_covar >= 0:
            raise ConfigError(f"{self._owner}: reg_covar must be a number >= 0, got {self.reg_covar!r}")

    def _make_estimator(self) -> GaussianMixture:
        return GaussianMixture(
            n_components=self.n_components,
            covariance_type=self.covariance_type,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            random_state=self.random_state,
        )

    def _fit(self, X: np.ndarray) -> None:
        if X.shape[0] < self.n_components:
            raise DataError(
                f"{self._owner}: n_components={self.n_components} needs at least as many training embeddings, "
                f"got {X.shape[0]}; lower n_components or add training clips"
            )
        super()._fit(X)
