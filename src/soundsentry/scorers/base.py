"""The scorer contract: scikit-learn estimators with one named sign, higher = more anomalous.

Every scorer follows the scikit-learn estimator contract, so ``get_params``, ``set_params`` and
``sklearn.base.clone`` work:

* ``__init__`` stores its keyword arguments unchanged and does nothing else;
* ``fit(X)`` learns from normal training embeddings ``X: (N, D)`` and returns ``self``;
  everything it learns lives in attributes ending in ``_``;
* ``anomaly_score(X)`` maps test embeddings ``X: (M, D)`` to ``(M,)`` float64 scores, higher = more anomalous.

:class:`BaseScorer` does the checks every scorer needs (2-D finite input, fitted, same feature width) so a
subclass only implements ``_fit`` and ``_score``. scikit-learn's own detectors say "higher = more normal";
:class:`NormalityScorer` flips that sign, and it is the only place in soundsentry that does.
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Collection
from typing import Any, ClassVar, TypeVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from soundsentry.errors import ConfigError, DataError

S = TypeVar("S", bound="BaseScorer")


class NotFittedScorerError(DataError, NotFittedError):
    """``anomaly_score`` was called before ``fit``.

    Catchable both as a :class:`~soundsentry.errors.DataError` (one line in the CLI) and as scikit-learn's
    ``NotFittedError``.
    """


def check_embeddings(X: Any, *, owner: str, what: str = "X", min_samples: int = 0) -> np.ndarray:
    """Convert ``X`` to a C-contiguous float64 array of shape (n_samples, n_features) or raise a DataError.

    Args:
        X: array-like of embeddings, (n_samples, n_features).
        owner: who is checking (a class name), put at the front of the message.
        what: what ``X`` is, e.g. ``"training embeddings"``.
        min_samples: fewest rows accepted.
    """
    try:
        arr = np.ascontiguousarray(X, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(
            f"{owner}: {what} must be a numeric array of shape (n_samples, n_features); "
            f"could not convert {type(X).__name__} ({err})"
        ) from err
    if arr.ndim != 2:
        hint = "; for a single embedding pass x.reshape(1, -1)" if arr.ndim == 1 else ""
        raise DataError(f"{owner}: {what} must be 2-D (n_samples, n_features), got shape {arr.shape}{hint}")
    if arr.shape[1] == 0:
        raise DataError(f"{owner}: {what} has shape {arr.shape}: zero features per embedding")
    if arr.shape[0] < min_samples:
        raise DataError(f"{owner}: {what} has {arr.shape[0]} rows but at least {min_samples} are needed")
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise DataError(
            f"{owner}: {what} contains NaN or infinite values in {bad.size} of {arr.shape[0]} rows "
            f"(first: row {bad[0]}); check the feature extraction or drop those clips"
        )
    return arr


def check_positive_int(owner: str, name: str, value: Any) -> None:
    """Raise a ConfigError unless ``value`` is an integer >= 1 (``True`` does not count)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"{owner}: {name} must be a positive integer, got {value!r}")


def check_choice(owner: str, name: str, value: Any, choices: Collection[str]) -> None:
    """Raise a ConfigError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{owner}: {name} must be one of {', '.join(sorted(choices))}, got {value!r}")


class BaseScorer(BaseEstimator, ABC):
    """Base of every scorer: validates input and state, then calls the ``_fit`` / ``_score`` hooks.

    Subclasses define ``__init__`` with explicit keyword arguments (stored unchanged), ``check_params`` to
    validate them, ``_fit(X)`` and ``_score(X)``. Inputs reaching the hooks are finite float64 (N, D) arrays.

    Attributes:
        n_features_in_: embedding width seen in ``fit``.
        n_samples_fit_: number of training embeddings seen in ``fit``.
    """

    #: Fewest training embeddings ``fit`` accepts.
    min_train_samples: ClassVar[int] = 1
    #: What X holds: "embedding" (backbone outputs) or "logits" (classifier-head outputs, e.g. softmax_id).
    input_kind: ClassVar[str] = "embedding"

    def check_params(self) -> None:
        """Raise a ConfigError naming the bad parameter; ``fit`` calls it, and so does ``create_scorer``."""

    def fit(self: S, X: Any, y: Any = None) -> S:
        """Learn the distribution of normal embeddings.

        Args:
            X: training embeddings (N, D), all normal.
            y: ignored; accepted so scorers drop into scikit-learn pipelines.

        Returns:
            self, fitted.
        """
        self.check_params()
        X = check_embeddings(X, owner=self._owner, what="training embeddings", min_samples=self.min_train_samples)
        self._fit(X)
        # Set last: a fit that fails half-way leaves the scorer reported as unfitted.
        self.n_samples_fit_ = X.shape[0]
        self.n_features_in_ = X.shape[1]
        return self

    def anomaly_score(self, X: Any) -> np.ndarray:
        """Score test embeddings, higher = more anomalous.

        Args:
            X: test embeddings (M, D), D as in ``fit``.

        Returns:
            (M,) float64 anomaly scores.
        """
        X = self._check_test_input(X)
        if X.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        return np.asarray(self._score(X), dtype=np.float64).reshape(X.shape[0])

    def _check_test_input(self, X: Any, what: str = "test embeddings") -> np.ndarray:
        """``X`` as finite float64 (M, D) of the fitted width, after checking the scorer was fitted."""
        self._check_fitted()
        X = check_embeddings(X, owner=self._owner, what=what)
        if X.shape[1] != self.n_features_in_:
            raise DataError(
                f"{self._owner}: expected embeddings with {self.n_features_in_} features (the width it was fitted "
                f"on), got {X.shape[1]}; score embeddings from the same extractor or refit the scorer on them"
            )
        return X

    @property
    def _owner(self) -> str:
        return type(self).__name__

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise NotFittedScorerError(
                f"{self._owner} is not fitted yet; call fit(X_train) with normal training embeddings first"
            )

    @abstractmethod
    def _fit(self, X: np.ndarray) -> None:
        """Learn from X: (N, D) finite float64; store the state in attributes ending in ``_``."""

    @abstractmethod
    def _score(self, X: np.ndarray) -> np.ndarray:
        """(M,) anomaly scores of X: (M, D) finite float64 of the fitted width, higher = more anomalous."""


class NormalityScorer(BaseScorer):
    """Wraps a scikit-learn estimator whose scores mean "higher = more normal"; the sign flips here, only here.

    Subclasses build the unfitted estimator in ``_make_estimator`` and name the method that gives its
    normality scores in ``normality_method`` (``score_samples`` or ``decision_function``).

    Attributes:
        estimator_: the fitted scikit-learn estimator.
    """

    normality_method: ClassVar[str] = "score_samples"

    @abstractmethod
    def _make_estimator(self) -> Any:
        """A new, unfitted scikit-learn estimator built from this scorer's parameters."""

    def _fit(self, X: np.ndarray) -> None:
        self.estimator_ = self._make_estimator().fit(X)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return -getattr(self.estimator_, self.normality_method)(X)
