"""AUC, pAUC and means against hand-worked values and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import roc_auc_score

from soundsentry.errors import ConfigError, DataError
from soundsentry.evaluation import auc, harmonic_mean, pauc

# 3 normals [1, 2, 4] and 2 anomalies [3, 5].
Y = [0, 0, 0, 1, 1]
S = [1.0, 2.0, 4.0, 3.0, 5.0]


def test_auc_hand_case() -> None:
    # Pairs (anomaly > normal): 3 beats 1 and 2, 5 beats 1, 2 and 4 -> 5 of 6 pairs.
    assert auc(Y, S) == pytest.approx(5 / 6)


def test_pauc_is_mcclish_standardised_not_raw_partial_area() -> None:
    # ROC points (fpr, tpr): (0, 0) (0, .5) (1/3, .5) (1/3, 1) ... so tpr = .5 on fpr in [0, 0.1].
    # Raw partial area A = 0.1 * 0.5 = 0.05, i.e. 0.5 of the maximum 0.1.
    # McClish: 0.5 * (1 + (A - min) / (max - min)) with min = 0.1**2 / 2 = 0.005, max = 0.1
    #        = 0.5 * (1 + 0.045 / 0.095) = 14 / 19 = 0.7368...
    raw_normalised = 0.05 / 0.1
    value = pauc(Y, S, max_fpr=0.1)
    assert value == pytest.approx(14 / 19)
    assert value != pytest.approx(raw_normalised)
    assert value == pytest.approx(roc_auc_score(Y, S, max_fpr=0.1))


def test_pauc_reversed_ranking_hand_value() -> None:
    # Every normal above every anomaly: tpr = 0 on [0, 0.1], A = 0 -> 0.5 * (1 - 0.005 / 0.095) = 9 / 19.
    assert pauc([0, 0, 1, 1], [3.0, 4.0, 1.0, 2.0]) == pytest.approx(9 / 19)


@pytest.mark.parametrize("max_fpr", [0.05, 0.1, 0.3, 1.0])
def test_pauc_matches_sklearn_on_random_data(max_fpr: float) -> None:
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(40, int), np.ones(15, int)]
    s = rng.normal(size=55) + y
    assert pauc(y, s, max_fpr=max_fpr) == pytest.approx(roc_auc_score(y, s, max_fpr=max_fpr))


def test_single_class_is_a_data_error_naming_the_group() -> None:
    with pytest.raises(DataError, match=r"fan section 00: .* 3 normal and 0 anomalous"):
        auc([0, 0, 0], [1.0, 2.0, 3.0], group="fan section 00")
    with pytest.raises(DataError, match="pump id 02"):
        pauc([1, 1], [1.0, 2.0], group="pump id 02")


@pytest.mark.parametrize("max_fpr", [0.0, -0.1, 1.5])
def test_invalid_max_fpr(max_fpr: float) -> None:
    with pytest.raises(ConfigError, match=r"max_fpr must be in \(0, 1\]"):
        pauc(Y, S, max_fpr=max_fpr)


def test_harmonic_mean_hand_value_and_scipy() -> None:
    # 2 / (1/0.5 + 1/1) = 2/3
    assert harmonic_mean([0.5, 1.0]) == pytest.approx(2 / 3)
    assert harmonic_mean([0.5, 1.0]) == pytest.approx(scipy.stats.hmean([0.5, 1.0]))


def test_harmonic_mean_floors_zero_at_epsilon_like_the_evaluators() -> None:
    assert 0.0 < harmonic_mean([0.0, 1.0]) < 1e-10
    with pytest.raises(DataError, match="empty"):
        harmonic_mean([])
