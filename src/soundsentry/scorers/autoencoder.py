"""The two scores of the DCASE 2023-2025 autoencoder baseline (``ae_mse``, ``selective_mahalanobis``), from
reconstruction errors.

A clip's error vectors ``e: (T', frames * n_mels)`` (input minus reconstruction) are reduced to two sufficient
statistics, which is all either score needs:

* ``mse``: the mean of ``e ** 2`` over every value -- the "simple autoencoder" score;
* ``m``: the mean of the ``frames * T'`` frame slices of ``e`` -- ``e.reshape(T' * frames, n_mels).mean(0)``.

The "selective Mahalanobis" score is ``min(m @ P_source @ m, m @ P_target @ m)`` with ``P_d`` the inverse of the
domain's error covariance. The baseline writes it as the mean over all pairs ``(i, j)`` of frame slices of
``d_i @ P @ d_j``, which is exactly ``m @ P @ m``: the quadratic form of the *mean* error, not a mean of per-frame
distances, and not centred.

The covariances are accumulated the baseline's way (:class:`ErrorCovariance`): over shuffled training batches, the
frame slices of each batch's source (target) vectors are centred on their own batch mean, the outer products are
summed, and the sum is divided by the number of *vectors* minus one (not slices). A domain without training vectors
takes the other's matrix, as the baseline does for the target.

:class:`AEMSEScorer` and :class:`SelectiveMahalanobisScorer` follow the scorer contract on rows of
``[mse, m_1 .. m_n_mels]`` (:func:`clip_statistics`), one row per clip (``input_kind = "ae_statistics"``: a run
trained with ``train.phase: autoencoder`` extracts these rows as its clip embeddings). The score stage passes each
(machine type, section)'s covariances from the unit's ``model.pt`` to ``selective_mahalanobis`` (``wants_covariances``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from soundsentry.errors import DataError
from soundsentry.registry import register_scorer
from soundsentry.scorers.base import BaseScorer, check_embeddings, check_positive_int
from soundsentry.types import Domain


def clip_statistics(errors: np.ndarray, n_mels: int) -> np.ndarray:
    """``[mse, m]`` of one clip: ``errors: (T', frames * n_mels) -> (1 + n_mels,)`` float64."""
    e = np.asarray(errors, dtype=np.float64)
    if e.ndim != 2 or e.shape[0] == 0 or e.shape[1] % n_mels:
        raise DataError(f"error vectors must be (T' >= 1, frames * {n_mels}), got shape {e.shape}")
    slices = e.reshape(-1, n_mels)
    return np.concatenate([[np.mean(e * e)], slices.mean(axis=0)])


def quadratic_form(m: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """``m_i @ precision @ m_i`` for each row of ``m: (N, F)`` -> (N,)."""
    return np.einsum("nf,fg,ng->n", m, precision, m)


def inverse(cov: np.ndarray) -> np.ndarray:
    """The inverse the baseline takes (``torch.inverse``), or the pseudo-inverse of a rank-deficient matrix.

    A covariance of fewer frame slices than bins (a handful of short target clips) is singular; its plain inverse
    is round-off noise that can make quadratic forms negative, so the pseudo-inverse is taken instead.
    """
    cov = np.asarray(cov, dtype=np.float64)
    if np.linalg.matrix_rank(cov, hermitian=True) < cov.shape[0]:
        return np.linalg.pinv(cov, hermitian=True)
    return np.linalg.inv(cov)


@dataclass
class ErrorCovariance:
    """Accumulates one domain's error covariance over training batches, as the baseline does.

    Attributes:
        n_mels: width of a frame slice (the matrix is ``n_mels x n_mels``).
        scatter: running sum of the batch-centred outer products.
        n_vectors: number of frame vectors seen (the divisor is ``n_vectors - 1``).
    """

    n_mels: int
    scatter: np.ndarray = field(init=False)
    n_vectors: int = 0

    def __post_init__(self) -> None:
        self.scatter = np.zeros((self.n_mels, self.n_mels))

    def add(self, errors: np.ndarray) -> None:
        """Add one batch's vectors of this domain: ``errors: (b, frames * n_mels)``, centred on their own mean."""
        if len(errors) == 0:
            return
        slices = np.asarray(errors, dtype=np.float64).reshape(-1, self.n_mels)
        centred = slices - slices.mean(axis=0)
        self.scatter += centred.T @ centred
        self.n_vectors += len(errors)

    def covariance(self) -> np.ndarray | None:
        """``scatter / (n_vectors - 1)``, or None with fewer than two vectors."""
        return self.scatter / (self.n_vectors - 1) if self.n_vectors > 1 else None


@dataclass
class DomainCovariances:
    """Source and target error covariances of one group (a section of a machine type), ``(n_mels, n_mels)`` each."""

    source: np.ndarray
    target: np.ndarray

    @classmethod
    def from_accumulators(cls, source: ErrorCovariance, target: ErrorCovariance) -> DomainCovariances:
        """Finish two accumulators; a domain with fewer than two vectors borrows the other's matrix."""
        cov_s, cov_t = source.covariance(), target.covariance()
        if cov_s is None and cov_t is None:
            raise DataError("no training error vectors in either domain; the selective Mahalanobis score needs some")
        cov_s = cov_t if cov_s is None else cov_s
        cov_t = cov_s if cov_t is None else cov_t
        return cls(source=np.asarray(cov_s), target=np.asarray(cov_t))

    def to_dict(self) -> dict[str, Any]:
        return {Domain.SOURCE.value: self.source.tolist(), Domain.TARGET.value: self.target.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DomainCovariances:
        return cls(source=np.asarray(d[Domain.SOURCE.value]), target=np.asarray(d[Domain.TARGET.value]))


def selective_mahalanobis(m: np.ndarray, covariances: DomainCovariances) -> np.ndarray:
    """``min`` over the two domains of ``m @ inv(cov_d) @ m`` for each row of ``m: (N, n_mels)`` -> (N,)."""
    m = np.asarray(m, dtype=np.float64)
    source = quadratic_form(m, inverse(covariances.source))
    target = quadratic_form(m, inverse(covariances.target))
    return np.minimum(source, target)


class _AEStatisticsScorer(BaseScorer):
    """Shared by both scores: rows ``[mse, m]``; ``n_mels`` (when set) pins the width to ``1 + n_mels``."""

    input_kind = "ae_statistics"

    def __init__(self, n_mels: int | None = None) -> None:
        self.n_mels = n_mels

    def check_params(self) -> None:
        if self.n_mels is not None:
            check_positive_int(self._owner, "n_mels", self.n_mels)

    def _check_width(self, X: np.ndarray) -> None:
        if X.shape[1] < 2 or (self.n_mels is not None and X.shape[1] != 1 + self.n_mels):
            want = "at least 2" if self.n_mels is None else str(1 + self.n_mels)
            raise DataError(
                f"{self._owner}: rows must be AE clip statistics [mse, m] with {want} columns, got {X.shape[1]}; "
                "score the clip embeddings of a run trained with train.phase: autoencoder"
            )


@register_scorer("ae_mse")
class AEMSEScorer(_AEStatisticsScorer):
    """The "simple autoencoder" score: a clip's mean squared reconstruction error, column 0 of its statistics.

    Input rows are :func:`clip_statistics`, ``[mse, m]``; nothing is learned (``fit`` checks and records the width).

    Args:
        n_mels: width of the error slices; ``None`` accepts any width of at least 2.
    """

    def _fit(self, X: np.ndarray) -> None:
        self._check_width(X)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return X[:, 0]


@register_scorer("selective_mahalanobis")
class SelectiveMahalanobisScorer(_AEStatisticsScorer):
    """The "selective Mahalanobis" score: ``min`` over domains of ``m @ inv(cov_d) @ m`` on rows ``[mse, m]``.

    The covariances are of frame-level errors, which clip statistics cannot give back, so ``fit`` takes them as a
    typed argument (the baseline computes them once after training; the ``autoencoder`` phase stores them per
    section in ``model.pt`` and the score stage passes them, ``wants_covariances``). Without them (a scorer used
    outside an AE run) one covariance of the training rows' ``m`` serves both domains: a plain, uncentred
    Mahalanobis-type norm of the mean error, not the baseline's score.

    Args:
        n_mels: width of the error slices; ``None`` accepts any width of at least 2.

    Attributes:
        precision_source_, precision_target_: inverses of the two covariances, ``(n_mels, n_mels)``.
    """

    wants_covariances = True

    def fit(self, X: Any, y: Any = None, *, covariances: DomainCovariances | None = None) -> SelectiveMahalanobisScorer:
        """Check the training statistics ``X: (N, 1 + n_mels)`` and store the inverses of ``covariances``."""
        self.check_params()
        X = check_embeddings(X, owner=self._owner, what="training statistics", min_samples=1)
        self._check_width(X)
        width = X.shape[1] - 1
        if covariances is None:
            m = X[:, 1:]
            cov = np.atleast_2d(np.cov(m, rowvar=False)) if len(m) > 1 else np.eye(width)
            covariances = DomainCovariances(source=cov, target=cov)
        for name, cov in (("source", covariances.source), ("target", covariances.target)):
            if np.shape(cov) != (width, width):
                raise DataError(
                    f"{self._owner}: the {name} covariance is {np.shape(cov)} but the statistics have {width} error "
                    f"bins after the MSE column; use covariances from the same AE model"
                )
        self.precision_source_ = inverse(np.asarray(covariances.source, dtype=np.float64))
        self.precision_target_ = inverse(np.asarray(covariances.target, dtype=np.float64))
        self.n_samples_fit_ = X.shape[0]
        self.n_features_in_ = X.shape[1]
        return self

    def _fit(self, X: np.ndarray) -> None:
        """Unused: :meth:`fit` is overridden because it takes the covariances."""

    def _score(self, X: np.ndarray) -> np.ndarray:
        m = X[:, 1:]
        return np.minimum(quadratic_form(m, self.precision_source_), quadratic_form(m, self.precision_target_))
