"""Gaussian mixture scorer: negative log-likelihood under a GMM fitted on the normal training embeddings.

The sub-cluster AdaCos system (S3, DCASE 2021 sec. 2.5) scores the source domain this way, one GMM per (machine
type, section) "which number of components is equal to number of sub-clusters ... using learned sub-cluster
centers as initial mean vectors": ``gmm:init=centres`` takes those centres as a typed ``fit`` argument (the score
stage passes a run's head centres of the group's class), and then has one component per centre. Wrap this scorer
in :class:`~soundsentry.scorers.grouped.GroupedScorer`, or use ``soundsentry.scoring.score_clips``, to fit per group.

The document then scores a clip "by largest negative log-likelihood of all components of GMM". ``rule`` chooses how
the fitted mixture turns into a score (docs/s3.md argues which reading is the document's):

* ``mixture``: ``-log sum_k w_k N(x | mu_k, Sigma_k)``, the negative log-likelihood of the whole mixture;
* ``best_component``: ``-max_k log N(x | mu_k, Sigma_k)``, the negative of the largest log-likelihood over the
  components, i.e. the NLL under the component that explains the clip best (its sub-cluster);
* ``worst_component``: ``max_k -log N(x | mu_k, Sigma_k)``, the literal largest NLL over the components, i.e. the
  NLL under the component that explains the clip worst.

A component's log-likelihood is its own Gaussian density, without the mixture weight ``w_k``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.mixture import GaussianMixture

from soundsentry.errors import ConfigError, DataError
from soundsentry.registry import register_scorer
from soundsentry.scorers.base import NormalityScorer, check_choice, check_positive_int


@register_scorer("gmm")
class GMMScorer(NormalityScorer):
    """score(x) = -log p(x) under ``sklearn.mixture.GaussianMixture`` (whole mixture or one component, ``rule``).

    Args:
        n_components: mixture components; needs at least this many training embeddings.
        covariance_type: ``full``, ``tied``, ``diag`` or ``spherical``.
        reg_covar: added to the covariance diagonals, keeps them invertible when N < D.
        max_iter: EM iterations.
        random_state: seed of the k-means initialisation, so fits are reproducible.
        init: ``kmeans`` (scikit-learn's k-means initialisation) or ``centres``: the initial means are the
            centres passed to ``fit`` (unit vectors from a cosine head, scaled by the median norm of the training
            embeddings so they lie where the embeddings are), one component per centre.
        rule: ``mixture``, ``best_component`` or ``worst_component`` (module docstring); the fit is the same.

    Attributes:
        estimator_: the fitted ``GaussianMixture``.
    """

    covariance_types = ("full", "tied", "diag", "spherical")
    inits = ("kmeans", "centres")
    rules = ("mixture", "best_component", "worst_component")

    def __init__(
        self,
        n_components: int = 1,
        covariance_type: str = "full",
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        random_state: int = 0,
        init: str = "kmeans",
        rule: str = "mixture",
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.random_state = random_state
        self.init = init
        self.rule = rule

    @property
    def wants_centres(self) -> bool:
        """True when ``fit`` needs ``centres`` (``init=centres``)."""
        return self.init == "centres"

    def fit(self, X: Any, y: Any = None, *, centres: np.ndarray | None = None) -> GMMScorer:
        """Fit the mixture; ``centres: (K, D)`` are the initial means when ``init=centres``.

        Args:
            X: training embeddings (N, D), all normal.
            y: ignored.
            centres: (K, D) initial mean directions, e.g. the sub-cluster AdaCos centres of the group's class.
        """
        if self.wants_centres:
            if centres is None:
                raise ConfigError(
                    f"{self._owner}: init=centres needs the learned sub-cluster centres; pass fit(X, centres=...) "
                    "or score a run whose head is subcluster_adacos / adacos"
                )
            centres = np.asarray(centres, dtype=np.float64)
            if centres.ndim != 2 or self.n_components not in (1, centres.shape[0]):
                raise ConfigError(
                    f"{self._owner}: init=centres gives one component per centre, got centres of shape "
                    f"{centres.shape} and n_components={self.n_components}; leave n_components out or match them"
                )
        self._centres = centres
        try:
            return super().fit(X, y)
        finally:
            del self._centres

    def check_params(self) -> None:
        check_positive_int(self._owner, "n_components", self.n_components)
        check_choice(self._owner, "covariance_type", self.covariance_type, self.covariance_types)
        check_choice(self._owner, "init", self.init, self.inits)
        check_choice(self._owner, "rule", self.rule, self.rules)
        check_positive_int(self._owner, "max_iter", self.max_iter)
        if isinstance(self.reg_covar, bool) or not isinstance(self.reg_covar, numbers.Real) or not self.reg_covar >= 0:
            raise ConfigError(f"{self._owner}: reg_covar must be a number >= 0, got {self.reg_covar!r}")

    def _make_estimator(self) -> GaussianMixture:
        return GaussianMixture(
            n_components=self.n_components if self._means_init is None else len(self._means_init),
            means_init=self._means_init,
            covariance_type=self.covariance_type,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            random_state=self.random_state,
        )

    def _fit(self, X: np.ndarray) -> None:
        centres = getattr(self, "_centres", None)
        self._means_init = None
        if self.wants_centres and centres is not None:
            if centres.shape[1] != X.shape[1]:
                raise DataError(
                    f"{self._owner}: centres have {centres.shape[1]} features but the embeddings {X.shape[1]}; "
                    "pass the centres of the head that was trained with this backbone"
                )
            directions = centres / np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
            self._means_init = directions * np.median(np.linalg.norm(X, axis=1))
        n = self.n_components if self._means_init is None else len(self._means_init)
        if X.shape[0] < n:
            raise DataError(
                f"{self._owner}: n_components={n} needs at least as many training embeddings, "
                f"got {X.shape[0]}; lower n_components (or the number of sub-clusters) or add training clips"
            )
        try:
            super()._fit(X)
        finally:
            del self._means_init

    def _score(self, X: np.ndarray) -> np.ndarray:
        if self.rule == "mixture":
            return super()._score(X)
        est = self.estimator_
        log_dens = component_log_density(X, est.means_, est.precisions_cholesky_, est.covariance_type)
        return -log_dens.max(axis=1) if self.rule == "best_component" else -log_dens.min(axis=1)


def component_log_density(
    X: np.ndarray, means: np.ndarray, precisions_cholesky: np.ndarray, covariance_type: str
) -> np.ndarray:
    """log N(x | mu_k, Sigma_k) of every row under every component, from a fitted ``GaussianMixture``'s attributes.

    Args:
        X: (N, D) embeddings.
        means: (K, D) component means.
        precisions_cholesky: Cholesky factors of the precisions as scikit-learn stores them: (K, D, D) ``full``,
            (D, D) ``tied``, (K, D) ``diag``, (K,) ``spherical``.
        covariance_type: which of those four.

    Returns:
        (N, K) log densities (no mixture weights).
    """
    K, n_features = means.shape
    if covariance_type in ("full", "tied"):
        chol = (
            precisions_cholesky
            if covariance_type == "full"
            else np.broadcast_to(precisions_cholesky, (K, *precisions_cholesky.shape))
        )
        maha = np.stack([(((X - means[k]) @ chol[k]) ** 2).sum(axis=1) for k in range(K)], axis=1)
        log_det = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    else:
        prec = (
            precisions_cholesky if covariance_type == "diag" else np.repeat(precisions_cholesky[:, None], n_features, 1)
        )
        maha = np.stack([(((X - means[k]) * prec[k]) ** 2).sum(axis=1) for k in range(K)], axis=1)
        log_det = np.log(prec).sum(axis=1)
    # log_det is log |Sigma_k|^(-1/2): the sum of the logs of the precision factor's diagonal.
    return -0.5 * (n_features * np.log(2 * np.pi) + maha) + log_det
