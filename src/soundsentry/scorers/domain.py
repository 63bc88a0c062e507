"""A domain-aware scorer: one model on source and one on target training embeddings, each test clip routed by domain.

S3 (DCASE 2021 sec. 2.5) scores source clips with a GMM and target clips with a one-class SVM "due to lack of
samples" in the target domain. The test domain is known in DCASE 2021; in 2022-2024 evaluation data it is not
(:attr:`Domain.UNKNOWN`), and a clip then gets the *more normal* (lower) of its two scores.

Sub-scorers are specs whose options are separated by ``;`` inside the outer spec (commas separate the outer
options): ``domain_aware:source=gmm;init=centres,target=ocsvm;nu=0.1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from soundsentry.errors import ConfigError, DataError
from soundsentry.registry import register_scorer
from soundsentry.scorers.base import BaseScorer, check_embeddings
from soundsentry.scorers.centres import centres_for
from soundsentry.types import Domain


def _inner(spec: str) -> BaseScorer:
    from soundsentry.scorers.spec import create_scorer

    name, *options = str(spec).split(";")
    return create_scorer(f"{name}:{','.join(options)}" if options else name)


@register_scorer("domain_aware")
class DomainAwareScorer(BaseScorer):
    """Routes each embedding to the scorer of its domain; unknown domain -> the more normal of the two scores.

    Args:
        source: spec of the source-domain scorer (``;`` between its options), e.g. ``gmm;init=centres``.
        target: spec of the target-domain scorer, e.g. ``ocsvm``.
        standardize: z-score each sub-scorer's output with the mean and std of its scores on its own training
            embeddings, so source and target scores (and the minimum for unknown clips) share one scale. Off by
            default: the document compares domains separately and does not say how.

    A domain without training embeddings (e.g. a fold of the out-of-fold training scores that holds none of the
    few target clips) is scored by the other domain's model.

    Attributes:
        source_, target_: the fitted sub-scorers (``None`` for a domain without training embeddings).
        offsets_: {domain: (mean, std)} of the training scores used by ``standardize``.
    """

    uses_domains = True

    def __init__(self, source: str = "gmm", target: str = "ocsvm", standardize: bool = False) -> None:
        self.source = source
        self.target = target
        self.standardize = standardize

    def check_params(self) -> None:
        for name in ("source", "target"):
            try:
                _inner(getattr(self, name))
            except ConfigError as err:
                raise ConfigError(f"{self._owner}: {name}: {err}") from None
        if not isinstance(self.standardize, bool):
            raise ConfigError(f"{self._owner}: standardize must be true or false, got {self.standardize!r}")

    @property
    def wants_centres(self) -> bool:
        """True when a sub-scorer needs the learned centres in ``fit``."""
        return any(getattr(_inner(s), "wants_centres", False) for s in (self.source, self.target))

    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        domains: Sequence[Domain] | None = None,
        centres: np.ndarray | None = None,
    ) -> DomainAwareScorer:
        """Fit one sub-scorer on the source rows and one on the target rows.

        Args:
            X: training embeddings (N, D), all normal.
            y: ignored.
            domains: N domains (``Clip.domain``); ``None`` treats every row as source.
            centres: learned centres for a sub-scorer with ``init=centres``; each sub-scorer gets those of its
                domain's classes when they are :class:`~soundsentry.scorers.centres.GroupCentres` tagged by domain
                (``train.classes: section_domain``: the source GMM starts from the source centres only).
        """
        self.check_params()
        X = check_embeddings(X, owner=self._owner, what="training embeddings", min_samples=1)
        doms = self._domains(domains, X.shape[0], "training embeddings")
        if (doms == Domain.UNKNOWN.value).any():
            raise DataError(f"{self._owner}: training embeddings need a known domain (source or target)")
        fitted: dict[Domain, BaseScorer | None] = {}
        offsets: dict[Domain, tuple[float, float]] = {}
        for domain, spec in ((Domain.SOURCE, self.source), (Domain.TARGET, self.target)):
            rows = doms == domain.value
            if not rows.any():
                fitted[domain] = None
                continue
            scorer = _inner(spec)
            kwargs = {"centres": centres_for(centres, domain)} if getattr(scorer, "wants_centres", False) else {}
            fitted[domain] = scorer.fit(X[rows], **kwargs)
            train_scores = fitted[domain].anomaly_score(X[rows])
            offsets[domain] = (float(train_scores.mean()), float(max(train_scores.std(), 1e-12)))
        self.source_, self.target_ = fitted[Domain.SOURCE], fitted[Domain.TARGET]
        self.offsets_ = offsets
        self.n_samples_fit_ = X.shape[0]
        self.n_features_in_ = X.shape[1]
        return self

    def anomaly_score(self, X: Any, *, domains: Sequence[Domain] | None = None) -> np.ndarray:
        """Scores, higher = more anomalous: source rows by the source model, target rows by the target model,
        unknown rows (and ``domains=None``) the minimum of both.

        Args:
            X: test embeddings (M, D).
            domains: M domains (``Clip.domain``), or ``None`` when no domain is known.
        """
        X = self._check_test_input(X)
        doms = self._domains(domains, X.shape[0], "test embeddings", default=Domain.UNKNOWN)
        by_domain = {d: self._score_with(d, X) for d in (Domain.SOURCE, Domain.TARGET)}
        scores = np.minimum(by_domain[Domain.SOURCE], by_domain[Domain.TARGET])
        for domain, values in by_domain.items():
            scores = np.where(doms == domain.value, values, scores)
        return scores

    def _score_with(self, domain: Domain, X: np.ndarray) -> np.ndarray:
        other = Domain.TARGET if domain is Domain.SOURCE else Domain.SOURCE
        scorer = self.source_ if domain is Domain.SOURCE else self.target_
        if scorer is None:
            domain, scorer = other, self.source_ if other is Domain.SOURCE else self.target_
        if scorer is None:
            raise DataError(f"{self._owner} has no fitted model for either domain; fit it on training embeddings")
        values = scorer.anomaly_score(X)
        if self.standardize:
            mean, std = self.offsets_[domain]
            values = (values - mean) / std
        return values

    def _domains(
        self, domains: Sequence[Domain] | None, n: int, what: str, default: Domain = Domain.SOURCE
    ) -> np.ndarray:
        """Domain values as a string array (numpy compares ``str`` enums element-wise only as plain strings)."""
        if domains is None:
            return np.array([default.value] * n)
        out = np.array([Domain(d).value for d in domains])
        if len(out) != n:
            raise DataError(f"{self._owner}: {what} has {n} rows but {len(out)} domains; pass one Clip.domain per row")
        return out

    def _fit(self, X: np.ndarray) -> None:  # fit is overridden: it needs the domains
        self.fit(X)

    def _score(self, X: np.ndarray) -> np.ndarray:  # anomaly_score is overridden: it needs the domains
        return self.anomaly_score(X)
