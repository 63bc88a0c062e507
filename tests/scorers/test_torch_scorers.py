"""PyTorch scorers against scikit-learn (CPU; GPU comparisons skip without CUDA) and the classifier-based scorers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.special import softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import LocalOutlierFactor

from soundsentry.errors import ConfigError, DataError
from soundsentry.registry import SCORERS
from soundsentry.scorers import (
    CentroidCosineScorer,
    GroupedScorer,
    KNNScorer,
    LOFScorer,
    SoftmaxScorer,
    TorchGMMScorer,
    TorchKNNScorer,
    TorchLOFScorer,
    _torch,
)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    train = np.vstack([rng.normal(0, 1, (60, 5)), rng.normal(4, 0.5, (40, 5))])
    test = np.vstack([rng.normal(0, 1, (10, 5)), rng.normal(4, 0.5, (10, 5)), rng.normal(10, 1, (5, 5))])
    return train, test


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "manhattan"])
@pytest.mark.parametrize(("k", "aggregate"), [(1, "mean"), (5, "mean"), (5, "kth")])
def test_knn_torch_equals_sklearn(data, metric: str, k: int, aggregate: str) -> None:
    train, test = data
    expected = KNNScorer(k=k, metric=metric, aggregate=aggregate) if metric != "manhattan" else None
    got = TorchKNNScorer(k=k, metric=metric, aggregate=aggregate).fit(train).anomaly_score(test)
    if expected is not None:
        np.testing.assert_allclose(got, expected.fit(train).anomaly_score(test), rtol=1e-9, atol=1e-9)
    # Independent brute force over all pairs.
    if metric == "euclidean":
        d = np.sqrt(((test[:, None] - train[None]) ** 2).sum(-1))
    elif metric == "manhattan":
        d = np.abs(test[:, None] - train[None]).sum(-1)
    else:
        u = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
        d = 1 - u(test) @ u(train).T
    nearest = np.sort(d, axis=1)[:, :k]
    np.testing.assert_allclose(got, nearest.mean(1) if aggregate == "mean" else nearest[:, -1], atol=1e-9)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "manhattan"])
@pytest.mark.parametrize("n_neighbors", [1, 5, 20])
def test_lof_torch_equals_sklearn(data, metric: str, n_neighbors: int) -> None:
    train, test = data
    ref = LocalOutlierFactor(n_neighbors=n_neighbors, metric=metric, novelty=True).fit(train)
    scorer = TorchLOFScorer(n_neighbors=n_neighbors, metric=metric).fit(train)
    np.testing.assert_allclose(scorer.anomaly_score(test), -ref.score_samples(test), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(scorer.lrd_, ref._lrd, rtol=1e-9)  # training densities too
    assert scorer.n_neighbors_ == ref.n_neighbors_


def test_lof_torch_small_bank_lowers_k_like_sklearn(data) -> None:
    train, test = data[0][:6], data[1]
    with pytest.warns(UserWarning, match="n_neighbors=20 but only 6 training embeddings; using 5"):
        scorer = TorchLOFScorer(n_neighbors=20).fit(train)
    expected = LOFScorer(n_neighbors=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected.fit(train)
    np.testing.assert_allclose(scorer.anomaly_score(test), expected.anomaly_score(test), rtol=1e-9)


def _sklearn_gmm(cov: str, weights, means, precisions, max_iter: int) -> GaussianMixture:
    return GaussianMixture(
        n_components=len(weights),
        covariance_type=cov,
        weights_init=weights,
        means_init=means,
        precisions_init=precisions,
        max_iter=max_iter,
        tol=0.0,
        reg_covar=1e-6,
    )


@pytest.mark.parametrize("cov", ["full", "diag"])
@pytest.mark.parametrize("max_iter", [1, 5])
def test_gmm_torch_equals_sklearn_from_the_same_start(data, cov: str, max_iter: int) -> None:
    train, test = data
    rng = np.random.default_rng(1)
    weights = np.array([0.3, 0.7])
    means = train[rng.choice(len(train), 2, replace=False)]
    precisions = np.stack([np.eye(5), 2 * np.eye(5)]) if cov == "full" else np.array([np.ones(5), 2 * np.ones(5)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = _sklearn_gmm(cov, weights, means, precisions, max_iter).fit(train)
    scorer = TorchGMMScorer(
        n_components=2,
        covariance_type=cov,
        max_iter=max_iter,
        tol=0.0,
        weights_init=weights,
        means_init=means,
        precisions_init=precisions,
    ).fit(train)
    assert scorer.n_iter_ == ref.n_iter_ == max_iter
    np.testing.assert_allclose(scorer.weights_, ref.weights_, rtol=1e-8)
    np.testing.assert_allclose(scorer.means_, ref.means_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(scorer.covariances_, ref.covariances_, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(scorer.anomaly_score(test), -ref.score_samples(test), rtol=1e-8)
    assert scorer.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-9)


def test_gmm_torch_kmeans_start_finds_the_two_blobs(data) -> None:
    train, test = data
    scorer = TorchGMMScorer(n_components=2, covariance_type="diag").fit(train)
    assert scorer.converged_
    np.testing.assert_allclose(np.sort(scorer.weights_), [0.4, 0.6], atol=1e-6)
    np.testing.assert_allclose(np.sort(scorer.means_.mean(axis=1)), [0.0, 4.0], atol=0.4)
    ref = GaussianMixture(2, covariance_type="diag", random_state=0).fit(train)
    np.testing.assert_allclose(scorer.anomaly_score(test), -ref.score_samples(test), rtol=1e-4)
    scores = scorer.anomaly_score(test)
    assert scores[-5:].min() > scores[:-5].max()


def test_gmm_torch_errors(data) -> None:
    train = data[0]
    with pytest.raises(ConfigError, match=r"means_init must have shape \(2, 5\), got \(2, 4\)"):
        TorchGMMScorer(n_components=2, means_init=np.zeros((2, 4))).fit(train)
    with pytest.raises(DataError, match="n_components=3 needs at least"):
        TorchGMMScorer(n_components=3).fit(train[:2])
    with pytest.raises(ConfigError, match="covariance_type must be one of diag, full"):
        TorchGMMScorer(covariance_type="tied").fit(train)


@pytest.mark.parametrize("name", ["knn_torch", "lof_torch", "gmm_torch"])
def test_device_and_dtype_are_checked(name: str, data) -> None:
    with pytest.raises(ConfigError, match="device 'nonsense' is not a torch device"):
        SCORERS.create(name, device="nonsense").fit(data[0])
    with pytest.raises(ConfigError, match="dtype must be one of float64, float32"):
        SCORERS.create(name, dtype="float16").fit(data[0])
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available here; use device='cpu'"):
            SCORERS.create(name, device="cuda").fit(data[0])


def test_blocks_cover_large_banks(monkeypatch, data) -> None:
    # Force tiny blocks: the blocked computation must equal the one-block result.
    train, test = data
    whole = TorchLOFScorer(n_neighbors=5).fit(train).anomaly_score(test)
    monkeypatch.setattr(_torch, "_BLOCK_ELEMENTS", 7 * len(train))
    assert [s.stop - s.start for s in _torch.row_blocks(20, len(train))] == [7, 7, 6]
    np.testing.assert_allclose(TorchLOFScorer(n_neighbors=5).fit(train).anomaly_score(test), whole, rtol=1e-12)


@pytest.mark.parametrize("name", ["knn_torch", "lof_torch", "gmm_torch"])
def test_float32_stays_close_to_float64(name: str, data) -> None:
    train, test = data
    wide = SCORERS.create(name).fit(train).anomaly_score(test)
    narrow = SCORERS.create(name, dtype="float32").fit(train).anomaly_score(test)
    np.testing.assert_allclose(narrow, wide, rtol=1e-4, atol=1e-4)


@cuda
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("knn_torch", {"k": 5}),
        ("knn_torch", {"k": 3, "metric": "cosine"}),
        ("lof_torch", {"n_neighbors": 10}),
        ("gmm_torch", {"n_components": 2, "covariance_type": "full"}),
        ("gmm_torch", {"n_components": 2, "covariance_type": "diag"}),
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gpu_agrees_with_cpu(name: str, kwargs: dict, dtype: str, data) -> None:
    train, test = data
    cpu = SCORERS.create(name, **kwargs).fit(train).anomaly_score(test)
    gpu = SCORERS.create(name, device="cuda", dtype=dtype, **kwargs).fit(train).anomaly_score(test)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-9 if dtype == "float64" else 1e-3, atol=1e-4)


# --- classifier-based scorers ---------------------------------------------------------------------------------


def test_softmax_id_is_one_minus_own_class_probability() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(30, 4))
    train[:, 2] += 5.0  # a trained head puts this ID's clips in class 2
    test = rng.normal(size=(6, 4))
    learned = SoftmaxScorer().fit(train)
    assert learned.class_index_ == 2
    e = np.exp(test - test.max(axis=1, keepdims=True))
    np.testing.assert_allclose(learned.anomaly_score(test), 1 - e[:, 2] / e.sum(axis=1), rtol=1e-12)
    fixed = SoftmaxScorer(class_index=1).fit(train)
    np.testing.assert_allclose(fixed.anomaly_score(test), 1 - softmax(test, axis=1)[:, 1], rtol=1e-12)
    # Hand case: logits (0, log 3): p = (1/4, 3/4).
    assert SoftmaxScorer(class_index=1).fit(train[:, :2]).anomaly_score([[0.0, np.log(3)]])[0] == pytest.approx(0.25)


def test_softmax_id_per_id_with_grouped_scorer() -> None:
    rng = np.random.default_rng(0)
    logits, groups = [], []
    for cls, section in enumerate(["00", "01", "02"]):
        z = rng.normal(size=(10, 3))
        z[:, cls] += 6.0
        logits.append(z)
        groups += [("fan", section)] * 10
    X = np.vstack(logits)
    grouped = GroupedScorer("softmax_id").fit(X, groups)
    assert [grouped.scorers_[("fan", s)].class_index_ for s in ("00", "01", "02")] == [0, 1, 2]
    normal, anomalous = np.array([[6.0, 0.0, 0.0]]), np.array([[0.0, 6.0, 0.0]])  # anomaly looks like another ID
    scores = grouped.anomaly_score(np.vstack([normal, anomalous]), [("fan", "00")] * 2)
    assert scores[1] > 0.9 > 0.1 > scores[0]


def test_softmax_id_errors() -> None:
    with pytest.raises(DataError, match="class_index=5 but the logits have 3 classes"):
        SoftmaxScorer(class_index=5).fit(np.zeros((2, 3)))
    with pytest.raises(ConfigError, match="class_index must be None or an integer >= 0, got -1"):
        SoftmaxScorer(class_index=-1).fit(np.zeros((2, 3)))


@pytest.mark.parametrize("normalize", [False, True])
def test_centroid_cosine_matches_formula(normalize: bool) -> None:
    rng = np.random.default_rng(0)
    train, test = rng.normal(1.0, 1.0, (20, 6)) * rng.uniform(0.1, 5, (20, 1)), rng.normal(size=(5, 6))
    unit = lambda a: a / np.linalg.norm(a, axis=-1, keepdims=True)  # noqa: E731
    mu = (unit(train) if normalize else train).mean(axis=0)
    expected = 1 - unit(test) @ unit(mu)
    scorer = CentroidCosineScorer(normalize=normalize).fit(train)
    np.testing.assert_allclose(scorer.anomaly_score(test), expected, rtol=1e-12)
    assert scorer.anomaly_score(-mu[None])[0] == pytest.approx(2.0)
    with pytest.raises(DataError, match="average to the zero vector"):
        CentroidCosineScorer().fit(np.array([[1.0, 0.0], [-1.0, 0.0]]))
