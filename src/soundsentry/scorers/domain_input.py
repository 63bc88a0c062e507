"""Shared pieces of the domain-generalisation back-ends: domain-typed fit / score, out-of-fold training scores.

:class:`DomainInputScorer` is the base of scorers that take each row's :class:`~soundsentry.types.Domain` in
``fit`` (``kmeans_knn``, ``smote_knn``, ``domain_standardize``, ``fusion``). It keeps :class:`BaseScorer`'s checks
and hands the hooks the domains as a string array; without domains every training row counts as source and every
test row as :attr:`Domain.UNKNOWN` (as a deployed detector sees new clips).

:func:`out_of_fold_scores` gives honest training scores for the wrappers that z-normalise on them: a k-NN scorer
scores its own training rows 0, so they are scored by a copy fitted on the other folds.
"""

from __future__ import annotations

import numbers
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from soundsentry.errors import ConfigError, DataError
from soundsentry.scorers.base import BaseScorer, check_embeddings
from soundsentry.scorers.domain import _inner as inner_scorer
from soundsentry.types import Domain

SOURCE, TARGET, UNKNOWN = Domain.SOURCE.value, Domain.TARGET.value, Domain.UNKNOWN.value


def domain_values(owner: str, domains: Sequence[Domain] | None, n: int, what: str, default: Domain) -> np.ndarray:
    """(n,) domain values as plain strings (numpy compares ``str`` enums element-wise only as strings)."""
    if domains is None:
        return np.array([default.value] * n)
    try:
        out = np.array([Domain(d).value for d in domains])
    except ValueError as err:
        raise DataError(f"{owner}: {what}: {err}; domains are source, target or unknown") from None
    if len(out) != n:
        raise DataError(f"{owner}: {what} has {n} rows but {len(out)} domains; pass one Clip.domain per row")
    return out


def check_seed(owner: str, value: Any) -> None:
    """Raise a ConfigError unless ``value`` is an integer >= 0 (``True`` does not count)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ConfigError(f"{owner}: seed must be an integer >= 0, got {value!r}")


def checked_inner(owner: str, name: str, spec: Any) -> BaseScorer:
    """The unfitted scorer of a nested spec (``;`` between its options); a bad one names the option."""
    try:
        return inner_scorer(spec)
    except ConfigError as err:
        raise ConfigError(f"{owner}: {name}: {err}") from None


def fit_inner(scorer: BaseScorer, X: np.ndarray, doms: np.ndarray, centres: np.ndarray | None) -> BaseScorer:
    """Fit ``scorer`` on ``X``, passing the domains / centres only to a scorer that asks for them."""
    kwargs: dict[str, Any] = {}
    if getattr(scorer, "uses_domains", False):
        kwargs["domains"] = [Domain(d) for d in doms]
    if getattr(scorer, "wants_centres", False):
        kwargs["centres"] = centres
    return scorer.fit(X, **kwargs)


def score_inner(scorer: BaseScorer, X: np.ndarray, doms: np.ndarray) -> np.ndarray:
    """(M,) anomaly scores of ``X`` by a fitted scorer, with the domains if it takes them."""
    if getattr(scorer, "uses_domains", False):
        return scorer.anomaly_score(X, domains=[Domain(d) for d in doms])
    return scorer.anomaly_score(X)


def out_of_fold_scores(
    spec: str, X: np.ndarray, doms: np.ndarray, centres: np.ndarray | None, n_folds: int, seed: int
) -> np.ndarray:
    """(N,) scores of the training rows, each by a copy of ``spec`` fitted on the other folds; NaN if N < 2.

    Folds are stratified by domain so that each fold keeps most of the few target rows.
    """
    scores = np.full(X.shape[0], np.nan)
    folds = min(int(n_folds), X.shape[0])
    if folds < 2:
        return scores
    rng = np.random.default_rng(seed)
    assignment = np.empty(X.shape[0], dtype=np.int64)
    offset = 0
    for domain in (SOURCE, TARGET):
        rows = np.flatnonzero(doms == domain)
        assignment[rows] = rng.permutation((np.arange(rows.size) + offset) % folds)
        offset += rows.size
    for fold in range(folds):
        held, kept = assignment == fold, assignment != fold
        if held.any() and kept.any():
            scorer = fit_inner(inner_scorer(spec), X[kept], doms[kept], centres)
            scores[held] = score_inner(scorer, X[held], doms[held])
    return scores


def z_stats(values: np.ndarray) -> tuple[float, float] | None:
    """(mean, std) of the finite ``values``, or None when fewer than two or all equal."""
    values = values[np.isfinite(values)]
    if values.size < 2:
        return None
    std = float(values.std())
    if std <= 1e-12 * max(1.0, abs(float(values.mean()))):
        return None
    return float(values.mean()), std


class DomainInputScorer(BaseScorer):
    """A scorer whose hooks get each row's domain: ``_fit_domains(X, doms, centres)``, ``_score_domains(X, doms)``.

    ``doms`` is an (N,) array of ``"source"`` / ``"target"`` (``"unknown"`` too at test time).
    """

    uses_domains = True

    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        domains: Sequence[Domain] | None = None,
        centres: np.ndarray | None = None,
    ) -> DomainInputScorer:
        """Learn from normal training embeddings.

        Args:
            X: training embeddings (N, D), all normal.
            y: ignored.
            domains: N domains (``Clip.domain``); ``None`` treats every row as source.
            centres: learned centres, passed on to an inner scorer with ``init=centres``.
        """
        self.check_params()
        X = check_embeddings(X, owner=self._owner, what="training embeddings", min_samples=self.min_train_samples)
        doms = domain_values(self._owner, domains, X.shape[0], "training embeddings", Domain.SOURCE)
        if (doms == UNKNOWN).any():
            raise DataError(f"{self._owner}: training embeddings need a known domain (source or target)")
        self._fit_domains(X, doms, centres)
        self.n_samples_fit_ = X.shape[0]
        self.n_features_in_ = X.shape[1]
        return self

    def anomaly_score(self, X: Any, *, domains: Sequence[Domain] | None = None) -> np.ndarray:
        """(M,) float64 scores, higher = more anomalous.

        Args:
            X: test embeddings (M, D).
            domains: M domains (``Clip.domain``), or ``None`` when no domain is known.
        """
        X = self._check_test_input(X)
        doms = domain_values(self._owner, domains, X.shape[0], "test embeddings", Domain.UNKNOWN)
        if X.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        return np.asarray(self._score_domains(X, doms), dtype=np.float64).reshape(X.shape[0])

    @abstractmethod
    def _fit_domains(self, X: np.ndarray, doms: np.ndarray, centres: np.ndarray | None) -> None:
        """Learn from X: (N, D) and its (N,) domains; store the state in attributes ending in ``_``."""

    @abstractmethod
    def _score_domains(self, X: np.ndarray, doms: np.ndarray) -> np.ndarray:
        """(M,) anomaly scores of X: (M, D) with its (M,) domains (``unknown`` allowed)."""

    def _fit(self, X: np.ndarray) -> None:  # fit is overridden: it takes the domains
        self._fit_domains(X, np.array([SOURCE] * X.shape[0]), None)

    def _score(self, X: np.ndarray) -> np.ndarray:  # anomaly_score is overridden: it takes the domains
        return self._score_domains(X, np.array([UNKNOWN] * X.shape[0]))
