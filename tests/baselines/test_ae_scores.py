"""Both baseline scores and the covariance accumulation on tiny hand cases, checked against independent sums."""

from __future__ import annotations

import numpy as np
import pytest

from soundsentry.baselines import (
    AEMSEScorer,
    DomainCovariances,
    ErrorCovariance,
    SelectiveMahalanobisScorer,
    clip_statistics,
    selective_mahalanobis,
)
from soundsentry.errors import DataError

# One clip: 2 vectors of 2 frames x 2 mels (dim 4).
ERRORS = np.array([[1.0, 0.0, 2.0, -1.0], [0.0, 1.0, -1.0, 3.0]])


def test_mse_by_hand() -> None:
    stats = clip_statistics(ERRORS, n_mels=2)
    assert stats[0] == pytest.approx((1 + 0 + 4 + 1 + 0 + 1 + 1 + 9) / 8)  # 17 / 8
    # m: the mean of the 4 frame slices [1,0], [2,-1], [0,1], [-1,3]
    np.testing.assert_allclose(stats[1:], [0.5, 0.75])
    scorer = AEMSEScorer().fit(stats[None])
    assert scorer.anomaly_score(stats[None]).tolist() == [17 / 8]


def _official_pairwise(errors: np.ndarray, precision: np.ndarray, n_mels: int) -> float:
    """The baseline's formula: mean over all pairs (i, j) of frame slices of d_i @ P @ d_j."""
    d = errors.reshape(-1, n_mels)
    total = sum(float(d[i] @ precision @ d[j]) for i in range(len(d)) for j in range(len(d)))
    return total / len(d) ** 2


def test_selective_mahalanobis_by_hand() -> None:
    cov_s = np.array([[2.0, 0.0], [0.0, 0.5]])
    cov_t = np.array([[1.0, 0.5], [0.5, 1.0]])
    covs = DomainCovariances(source=cov_s, target=cov_t)
    stats = clip_statistics(ERRORS, 2)
    # m = [0.5, 0.75]: source 0.25/2 + 0.5625/0.5 = 1.25; target m @ [[4/3, -2/3], [-2/3, 4/3]] @ m = 0.5833..
    expected_t = (4 / 3) * 0.25 - 2 * (2 / 3) * 0.375 + (4 / 3) * 0.5625
    assert _official_pairwise(ERRORS, np.linalg.inv(cov_s), 2) == pytest.approx(1.25)
    assert _official_pairwise(ERRORS, np.linalg.inv(cov_t), 2) == pytest.approx(expected_t)
    assert selective_mahalanobis(stats[None, 1:], covs)[0] == pytest.approx(min(1.25, expected_t))
    scorer = SelectiveMahalanobisScorer().fit(stats[None], covariances=covs)
    assert scorer.anomaly_score(stats[None])[0] == pytest.approx(expected_t)
    # A clip closer to the source geometry picks the source distance.
    other = np.array([[0.0, 0.0, 1.0, -1.0]])
    s_other = clip_statistics(other, 2)
    assert scorer.anomaly_score(s_other[None])[0] == pytest.approx(_official_pairwise(other, np.linalg.inv(cov_s), 2))


def test_covariance_is_batch_centred_over_vectors_minus_one() -> None:
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(3, 4)), rng.normal(size=(2, 4))]
    acc = ErrorCovariance(n_mels=2)
    for b in batches:
        acc.add(b)
    expected = np.zeros((2, 2))
    for b in batches:
        rows = b.reshape(-1, 2)
        rows = rows - rows.mean(axis=0)
        for r in rows:
            expected += np.outer(r, r)
    np.testing.assert_allclose(acc.covariance(), expected / (5 - 1))
    empty = ErrorCovariance(n_mels=2)
    covs = DomainCovariances.from_accumulators(acc, empty)  # no target vectors: the target borrows the source's
    np.testing.assert_allclose(covs.target, covs.source)


def test_mahalanobis_without_covariances_uses_one_of_the_training_rows() -> None:
    rng = np.random.default_rng(0)
    stats = np.hstack([np.ones((30, 1)), rng.normal(size=(30, 3))])
    cov = np.cov(stats[:, 1:], rowvar=False)
    got = SelectiveMahalanobisScorer().fit(stats).anomaly_score(stats[:4])
    expected = np.einsum("nf,fg,ng->n", stats[:4, 1:], np.linalg.inv(cov), stats[:4, 1:])
    np.testing.assert_allclose(got, expected)
    with pytest.raises(DataError, match="with 3 columns, got 4"):
        SelectiveMahalanobisScorer(n_mels=2).fit(stats)


def test_mahalanobis_needs_covariances_of_the_right_width() -> None:
    with pytest.raises(DataError, match="3 error bins"):
        SelectiveMahalanobisScorer().fit(np.zeros((1, 4)), covariances=DomainCovariances(np.eye(2), np.eye(2)))
