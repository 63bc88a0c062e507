"""Scorers against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist, mahalanobis
from scipy.stats import multivariate_normal

from soundsentry.errors import DataError
from soundsentry.scorers import CosineKNNScorer, GMMScorer, KNNScorer, LOFScorer, MahalanobisScorer, OCSVMScorer


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.normal(size=(60, 16)), rng.normal(size=(9, 16))


def s1_reference(train: np.ndarray, test: np.ndarray, k: int) -> np.ndarray:
    """1 - mean of the top-k cosine similarities, one test embedding at a time."""
    out = []
    for x in test:
        sims = [float(x @ t / (np.linalg.norm(x) * np.linalg.norm(t))) for t in train]
        out.append(1.0 - np.mean(sorted(sims, reverse=True)[:k]))
    return np.array(out)


def test_knn_cosine_is_one_minus_mean_top10_cosine(data: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = data
    scores = CosineKNNScorer(k=10).fit(train).anomaly_score(test)
    np.testing.assert_allclose(scores, s1_reference(train, test, 10), rtol=0, atol=1e-12)


def test_knn_cosine_ignores_length(data: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = data
    scorer = CosineKNNScorer(k=3).fit(train)
    np.testing.assert_allclose(scorer.anomaly_score(test * 7.5), scorer.anomaly_score(test), atol=1e-12)


def test_k_larger_than_training_set_is_clipped_with_warning(data: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = data
    with pytest.warns(UserWarning, match=r"k=10 but only 3 training embeddings; using k=3"):
        scorer = CosineKNNScorer(k=10).fit(train[:3])
    assert scorer.k_ == 3 and scorer.k == 10
    np.testing.assert_allclose(scorer.anomaly_score(test), s1_reference(train[:3], test, 3), atol=1e-12)
    with pytest.warns(UserWarning, match="using k=3"):
        KNNScorer(k=5).fit(train[:3])


def test_knn_euclidean_k1_is_min_distance(data: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = data
    scores = KNNScorer(k=1).fit(train).anomaly_score(test)
    np.testing.assert_allclose(scores, cdist(test, train).min(axis=1), atol=1e-10)


def test_knn_aggregates(data: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = data
    nearest = np.sort(cdist(test, train), axis=1)[:, :4]
    np.testing.assert_allclose(KNNScorer(k=4).fit(train).anomaly_score(test), nearest.mean(axis=1), atol=1e-10)
    for aggregate in ("max", "kth"):
        scores = KNNScorer(k=4, aggregate=aggregate).fit(train).anomaly_score(test)
        np.testing.assert_allclose(scores, nearest[:, 3], atol=1e-10)


def test_knn_cosine_metric_mean_matches_s1(data: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = data
    scores = KNNScorer(k=10, metric="cosine").fit(train).anomaly_score(test)
    np.testing.assert_allclose(scores, CosineKNNScorer(k=10).fit(train).anomaly_score(test), atol=1e-10)


def test_mahalanobis_without_shrinkage_matches_scipy() -> None:
    rng = np.random.default_rng(2)
    mixing = np.array([[2.0, 0.3, 0.0, 0.1], [0.0, 1.0, 0.5, 0.0], [0.0, 0.0, 0.7, 0.2], [0.0, 0.0, 0.0, 1.5]])
    train = rng.normal(size=(400, 4)) @ mixing + 3.0
    test = rng.normal(size=(10, 4)) * 2 + 3.0
    scores = MahalanobisScorer(shrinkage=None).fit(train).anomaly_score(test)
    inverse = np.linalg.inv(np.cov(train, rowvar=False, bias=True))
    expected = [mahalanobis(x, train.mean(axis=0), inverse) for x in test]
    np.testing.assert_allclose(scores, expected, rtol=1e-9)


def test_mahalanobis_works_with_fewer_samples_than_features() -> None:
    rng = np.random.default_rng(3)
    train = rng.normal(size=(10, 32))
    test = np.vstack([rng.normal(size=(5, 32)), np.full((1, 32), 6.0)])
    for scorer in (MahalanobisScorer(), MahalanobisScorer(shrinkage="oas"), MahalanobisScorer(0.3, eps=1e-3)):
        scores = scorer.fit(train).anomaly_score(test)
        assert np.isfinite(scores).all() and scores[-1] > scores[:-1].max()
    with pytest.warns(UserWarning, match="covariance singular"):
        MahalanobisScorer(shrinkage=None).fit(train)
    with pytest.raises(DataError, match="at least 2"):
        MahalanobisScorer().fit(train[:1])


def test_gmm_one_component_is_gaussian_negative_log_likelihood(data: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = data
    scores = GMMScorer(n_components=1).fit(train).anomaly_score(test)
    cov = np.cov(train, rowvar=False, bias=True) + 1e-6 * np.eye(train.shape[1])
    expected = -multivariate_normal(train.mean(axis=0), cov).logpdf(test)
    np.testing.assert_allclose(scores, expected, rtol=1e-6)


def test_gmm_needs_as_many_samples_as_components(data: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(DataError, match="n_components=4 needs at least .* got 3; lower n_components"):
        GMMScorer(n_components=4).fit(data[0][:3])


def test_gmm_is_seeded(data: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = data
    first = GMMScorer(n_components=3, covariance_type="diag").fit(train).anomaly_score(test)
    second = GMMScorer(n_components=3, covariance_type="diag").fit(train).anomaly_score(test)
    np.testing.assert_array_equal(first, second)


def test_sklearn_wrappers_flip_the_sign(data: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = data
    lof = LOFScorer(n_neighbors=5).fit(train)
    np.testing.assert_array_equal(lof.anomaly_score(test), -lof.estimator_.score_samples(test))
    ocsvm = OCSVMScorer(nu=0.2, gamma=0.05).fit(train)
    np.testing.assert_array_equal(ocsvm.anomaly_score(test), -ocsvm.estimator_.decision_function(test))
