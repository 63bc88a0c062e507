"""One-class SVM scorer; the sub-cluster AdaCos system (DCASE 2021) scores the target domain with it."""

from __future__ import annotations

import numbers

from sklearn.svm import OneClassSVM

from soundsentry.errors import ConfigError
from soundsentry.registry import register_scorer
from soundsentry.scorers.base import NormalityScorer, check_choice


@register_scorer("ocsvm")
class OCSVMScorer(NormalityScorer):
    """score(x) = -signed distance to the one-class SVM boundary (``-OneClassSVM.decision_function``).

    Args:
        nu: upper bound on the fraction of training embeddings outside the boundary, in (0, 1].
        kernel: ``rbf``, ``linear``, ``poly`` or ``sigmoid``.
        gamma: kernel coefficient: ``scale``, ``auto`` or a positive number.

    Attributes:
        estimator_: the fitted ``OneClassSVM``.
    """

    normality_method = "decision_function"
    kernels = ("rbf", "linear", "poly", "sigmoid")

    def __init__(self, nu: float = 0.1, kernel: str = "rbf", gamma: str | float = "scale") -> None:
        self.nu = nu
        self.kernel = kernel
        self.gamma = gamma

    def check_params(self) -> None:
        if isinstance(self.nu, bool) or not isinstance(self.nu, numbers.Real) or not 0 < self.nu <= 1:
            raise ConfigError(f"{self._owner}: nu must be a number in (0, 1], got {self.nu!r}")
        check_choice(self._owner, "kernel", self.kernel, self.kernels)
        numeric = isinstance(self.gamma, numbers.Real) and not isinstance(self.gamma, bool) and self.gamma > 0
        if not (numeric or self.gamma in ("scale", "auto")):
            raise ConfigError(f"{self._owner}: gamma must be scale, auto or a positive number, got {self.gamma!r}")

    def _make_estimator(self) -> OneClassSVM:
        return OneClassSVM(nu=self.nu, kernel=self.kernel, gamma=self.gamma)
