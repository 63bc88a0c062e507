"""Mahalanobis distance to one Gaussian fitted on the normal training embeddings."""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
from scipy.linalg import pinvh
from sklearn.covariance import OAS, EmpiricalCovariance, LedoitWolf, ShrunkCovariance

from soundsentry.errors import ConfigError
from soundsentry.registry import register_scorer
from soundsentry.scorers.base import BaseScorer

_NAMED_SHRINKAGE = ("ledoit_wolf", "oas")


@register_scorer("mahalanobis")
class MahalanobisScorer(BaseScorer):
    """score(x) = sqrt((x - mu)^T P (x - mu)), P the inverse of the (shrunk) training covariance.

    With ``shrinkage=None`` and ``eps=0`` this is exactly ``scipy.spatial.distance.mahalanobis`` with the
    maximum-likelihood covariance (divided by N). With fewer training embeddings than features that covariance is
    singular, so the default shrinks it (Ledoit-Wolf), which keeps every direction's variance positive.

    Args:
        shrinkage: ``"ledoit_wolf"`` (default) or ``"oas"`` for automatic shrinkage, a float in [0, 1] for a fixed
            shrinkage towards a scaled identity, or None for the plain empirical covariance.
        eps: ridge added to the covariance diagonal after shrinkage (0 = none).

    Attributes:
        location_: (D,) training mean.
        covariance_: (D, D) covariance used, shrinkage and ridge included.
        precision_: (D, D) its (pseudo-)inverse.
    """

    min_train_samples = 2

    def __init__(self, shrinkage: str | float | None = "ledoit_wolf", eps: float = 0.0) -> None:
        self.shrinkage = shrinkage
        self.eps = eps

    def check_params(self) -> None:
        s = self.shrinkage
        fixed = isinstance(s, numbers.Real) and not isinstance(s, bool) and 0.0 <= s <= 1.0
        if not (s is None or s in _NAMED_SHRINKAGE or fixed):
            raise ConfigError(
                f"{self._owner}: shrinkage must be ledoit_wolf, oas, a number in [0, 1] or none, got {s!r}"
            )
        if isinstance(self.eps, bool) or not isinstance(self.eps, numbers.Real) or not self.eps >= 0:
            raise ConfigError(f"{self._owner}: eps must be a number >= 0, got {self.eps!r}")

    def _covariance_estimator(self) -> Any:
        if self.shrinkage is None:
            return EmpiricalCovariance()
        if self.shrinkage == "ledoit_wolf":
            return LedoitWolf()
        if self.shrinkage == "oas":
            return OAS()
        return ShrunkCovariance(shrinkage=float(self.shrinkage))

    def _fit(self, X: np.ndarray) -> None:
        n, d = X.shape
        if self.shrinkage is None and self.eps == 0 and n <= d:
            warnings.warn(
                f"{self._owner}: {n} training embeddings for {d} features make the covariance singular, so "
                f"directions unseen in training add no distance; use shrinkage=ledoit_wolf or eps > 0",
                UserWarning,
                stacklevel=3,
            )
        estimator = self._covariance_estimator().fit(X)
        self.location_ = estimator.location_
        self.covariance_ = estimator.covariance_ + float(self.eps) * np.eye(d)
        self.precision_ = pinvh(self.covariance_)

    def _score(self, X: np.ndarray) -> np.ndarray:
        centred = X - self.location_
        squared = np.einsum("ij,jk,ik->i", centred, self.precision_, centred)
        return np.sqrt(np.maximum(squared, 0.0))  # rounding can make a tiny squared distance negative
