"""Gamma decision threshold as in the DCASE 2021-2024 baselines."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from soundsentry.errors import ConfigError, DataError
from soundsentry.evaluation import decide, fit_gamma_threshold


def test_gamma_threshold_matches_scipy_fit_then_ppf() -> None:
    x = scipy.stats.gamma.rvs(a=3.0, loc=0.5, scale=2.0, size=300, random_state=np.random.default_rng(0))
    expected = scipy.stats.gamma.ppf(0.9, *scipy.stats.gamma.fit(x))
    assert fit_gamma_threshold(x) == pytest.approx(expected)
    assert fit_gamma_threshold(x, percentile=0.5) < fit_gamma_threshold(x)
    # About 10 % of the training scores lie above the 0.9 quantile of a well-fitting gamma.
    assert 0.05 < np.mean(x > fit_gamma_threshold(x)) < 0.15


def test_decide_is_strictly_greater() -> None:
    assert decide([0.5, 1.0, 1.5], 1.0).tolist() == [0, 0, 1]


@pytest.mark.parametrize(
    ("scores", "match"),
    [
        ([1.0, 2.0], "at least 3 training scores, got 2"),
        ([1.0, np.nan, 2.0, 3.0], "1 of 4 training scores are NaN or infinite"),
        ([2.0, 2.0, 2.0], "all 3 training scores equal"),
    ],
)
def test_gamma_threshold_errors(scores: list[float], match: str) -> None:
    with pytest.raises(DataError, match=match):
        fit_gamma_threshold(scores)


def test_gamma_threshold_percentile_is_a_fraction() -> None:
    with pytest.raises(ConfigError, match=r"fraction in \(0, 1\).*got 90"):
        fit_gamma_threshold([1.0, 2.0, 3.0], percentile=90)
