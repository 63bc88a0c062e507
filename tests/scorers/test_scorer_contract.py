"""Contract tests run on every registered scorer."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from soundsentry.errors import ConfigError, DataError
from soundsentry.registry import SCORERS
from soundsentry.scorers import BaseScorer, NotFittedScorerError, create_scorer

ALL_SCORERS = SCORERS.available()
D = 8


@pytest.fixture(scope="module")
def blob() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training blob around a centre off the origin, fresh inliers, and one outlier in the opposite direction."""
    rng = np.random.default_rng(0)
    centre = np.full(D, 4.0)
    train = centre + rng.normal(size=(200, D))
    inliers = centre + rng.normal(size=(20, D))
    outlier = -centre[None, :]  # far in Euclidean terms and opposite in direction (for cosine scorers)
    return train, inliers, outlier


@pytest.fixture(scope="module")
def logit_blob() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same shape for scorers whose X is classifier logits: normals favour class 0, the outlier class 1."""
    rng = np.random.default_rng(0)
    own = np.zeros(D)
    own[0] = 4.0
    train = own + rng.normal(size=(200, D))
    inliers = own + rng.normal(size=(20, D))
    outlier = np.zeros((1, D))
    outlier[0, 1] = 4.0
    return train, inliers, outlier


@pytest.fixture(scope="module")
def ae_blob() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For scorers of AE clip statistics ``[mse, m]``: normals reconstruct well (small MSE, mean error near 0), the
    outlier badly (large MSE, a large mean error)."""
    rng = np.random.default_rng(0)

    def rows(n: int, scale: float) -> np.ndarray:
        m = scale * rng.normal(size=(n, D - 1))
        return np.hstack([1.0 + scale * np.abs(rng.normal(size=(n, 1))), m])

    outlier = np.hstack([[[10.0]], np.full((1, D - 1), 3.0)])
    return rows(200, 0.1), rows(20, 0.1), outlier


def test_all_expected_scorers_are_registered() -> None:
    assert {"knn", "knn_cosine", "mahalanobis", "gmm", "lof", "ocsvm"} <= set(ALL_SCORERS)
    assert {"ae_mse", "selective_mahalanobis"} <= set(ALL_SCORERS)  # registered by soundsentry.scorers itself


@pytest.mark.parametrize("name", ALL_SCORERS)
def test_ranks_outlier_above_inliers(
    name: str,
    blob: tuple[np.ndarray, np.ndarray, np.ndarray],
    logit_blob: tuple[np.ndarray, np.ndarray, np.ndarray],
    ae_blob: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    scorer = SCORERS.create(name)
    train, inliers, outlier = {"logits": logit_blob, "ae_statistics": ae_blob}.get(scorer.input_kind, blob)
    assert isinstance(scorer, BaseScorer)
    assert scorer.fit(train) is scorer
    scores = scorer.anomaly_score(np.vstack([inliers, outlier]))
    assert scores.shape == (21,)
    assert scores.dtype == np.float64
    assert np.isfinite(scores).all()
    assert scores[-1] > scores[:-1].max()
    np.testing.assert_array_equal(scores, scorer.anomaly_score(np.vstack([inliers, outlier])))


@pytest.mark.parametrize("name", ALL_SCORERS)
def test_clone_gives_unfitted_copy_with_same_params(name: str, blob: tuple[np.ndarray, ...]) -> None:
    scorer = SCORERS.create(name).fit(blob[0])
    copy = clone(scorer)
    assert copy.get_params() == scorer.get_params()
    with pytest.raises(NotFittedScorerError):
        copy.anomaly_score(blob[1])


@pytest.mark.parametrize("name", ALL_SCORERS)
def test_unfitted_scorer_says_call_fit(name: str, blob: tuple[np.ndarray, ...]) -> None:
    with pytest.raises(DataError, match=r"not fitted yet; call fit"):
        SCORERS.create(name).anomaly_score(blob[1])


@pytest.mark.parametrize("name", ALL_SCORERS)
def test_width_mismatch_says_expected_and_got(name: str, blob: tuple[np.ndarray, ...]) -> None:
    scorer = SCORERS.create(name).fit(blob[0])
    with pytest.raises(DataError, match=rf"expected embeddings with {D} features .* got 5; .*refit"):
        scorer.anomaly_score(blob[1][:, :5])


@pytest.mark.parametrize("name", ALL_SCORERS)
def test_nan_input_is_a_data_error(name: str, blob: tuple[np.ndarray, ...]) -> None:
    train, inliers, _ = blob
    bad = train.copy()
    bad[3, 1] = np.nan
    with pytest.raises(DataError, match=r"NaN or infinite values in 1 of 200 rows \(first: row 3\)"):
        SCORERS.create(name).fit(bad)
    scorer = SCORERS.create(name).fit(train)
    bad_test = inliers.copy()
    bad_test[0, 0] = np.inf
    with pytest.raises(DataError, match="NaN or infinite"):
        scorer.anomaly_score(bad_test)


@pytest.mark.parametrize("name", ALL_SCORERS)
def test_shape_errors(name: str, blob: tuple[np.ndarray, ...]) -> None:
    scorer = SCORERS.create(name).fit(blob[0])
    with pytest.raises(DataError, match=r"must be 2-D .* got shape \(8,\); for a single embedding"):
        scorer.anomaly_score(blob[1][0])
    with pytest.raises(DataError, match="numeric array"):
        scorer.anomaly_score([["a", "b"]])
    with pytest.raises(DataError, match="0 rows but at least"):
        SCORERS.create(name).fit(np.empty((0, D)))
    assert scorer.anomaly_score(np.empty((0, D))).shape == (0,)


@pytest.mark.parametrize("name", ALL_SCORERS)
def test_params_are_stored_unchanged_and_validated_in_fit(name: str, blob: tuple[np.ndarray, ...]) -> None:
    params = SCORERS.parameters(name)
    scorer = SCORERS.create(name)
    assert scorer.get_params() == params  # __init__ only stores its keyword arguments
    first = sorted(params)[0]
    scorer.set_params(**{first: object()})
    with pytest.raises(ConfigError, match=first):
        scorer.fit(blob[0])


def test_create_scorer_checks_values_early() -> None:
    with pytest.raises(ConfigError, match="k must be a positive integer, got 0"):
        create_scorer("knn_cosine:k=0")
