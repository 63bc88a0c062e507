"""AUC, pAUC, precision / recall / F1 of decisions, and the means the DCASE evaluators take over them.

Both scores come from :func:`sklearn.metrics.roc_auc_score`, exactly as in the official evaluators; pAUC is
``roc_auc_score(y, s, max_fpr=...)``, i.e. the McClish-standardised partial area, which maps a random ranking to
0.5 and a perfect one to 1.0 (not the raw partial area divided by ``max_fpr``).

Harmonic means floor every value at ``sys.float_info.epsilon`` first, as the official evaluators do, so a
zero AUC gives a tiny harmonic mean instead of a division warning.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Sequence

import numpy as np
import scipy.stats
from sklearn.metrics import roc_auc_score

from soundsentry.errors import ConfigError, DataError

DEFAULT_MAX_FPR = 0.1


class Metric(str, enum.Enum):
    """Names of the per-section scores; the value is the column title used in tables and CSV files."""

    AUC = "AUC"  # 2020: per machine ID; 2021: per section and domain; 2022-2024: all clips of the section
    PAUC = "pAUC"
    AUC_SOURCE = "AUC (source)"  # 2022-2024: source normals + all anomalies of the section
    AUC_TARGET = "AUC (target)"  # 2022-2024: target normals + all anomalies of the section
    PAUC_SOURCE = "pAUC (source)"  # 2022-2024 extra, not in the official score
    PAUC_TARGET = "pAUC (target)"
    # From the decisions (score > threshold), when given; never part of the official score.
    PRECISION = "precision"  # 2020 / 2021: the row's clips
    RECALL = "recall"
    F1 = "F1 score"
    PRECISION_SOURCE = "precision (source)"  # 2022-2024: the domain's own normals and anomalies
    PRECISION_TARGET = "precision (target)"
    RECALL_SOURCE = "recall (source)"
    RECALL_TARGET = "recall (target)"
    F1_SOURCE = "F1 score (source)"
    F1_TARGET = "F1 score (target)"


def check_max_fpr(max_fpr: float) -> float:
    """Return ``max_fpr`` as a float, or raise ConfigError if it is not in (0, 1]."""
    value = float(max_fpr)
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"max_fpr must be in (0, 1] (DCASE uses 0.1), got {max_fpr!r}")
    return value


def _check_two_classes(y_true: np.ndarray, group: str) -> None:
    n_anomaly = int(np.sum(y_true == 1))
    n_normal = int(y_true.size - n_anomaly)
    if n_normal == 0 or n_anomaly == 0:
        raise DataError(
            f"{group}: AUC needs normal and anomalous clips but found {n_normal} normal and {n_anomaly} anomalous; "
            "add labelled clips of the missing class or leave this group out of the evaluation"
        )


def auc(y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, group: str = "scores") -> float:
    """Area under the ROC curve; ``y_true`` is 1 for anomalous clips, scores are higher = more anomalous.

    Raises:
        DataError: naming ``group`` if only one class is present.
    """
    y = np.asarray(y_true, dtype=int)
    _check_two_classes(y, group)
    return float(roc_auc_score(y, np.asarray(scores, dtype=float)))


def pauc(
    y_true: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    max_fpr: float = DEFAULT_MAX_FPR,
    group: str = "scores",
) -> float:
    """McClish-standardised partial AUC over false-positive rates [0, ``max_fpr``], as sklearn computes it.

    Raises:
        DataError: naming ``group`` if only one class is present.
        ConfigError: if ``max_fpr`` is not in (0, 1].
    """
    y = np.asarray(y_true, dtype=int)
    _check_two_classes(y, group)
    return float(roc_auc_score(y, np.asarray(scores, dtype=float), max_fpr=check_max_fpr(max_fpr)))


def precision_recall_f1(
    y_true: Sequence[int] | np.ndarray, decisions: Sequence[int] | np.ndarray
) -> tuple[float, float, float]:
    """Precision, recall and F1 of 0/1 decisions (1 = anomalous) as the 2021-2024 evaluators compute them:
    ``tp / max(tp + fp, eps)``, ``tp / max(tp + fn, eps)``, ``2 P R / max(P + R, eps)``, so a group without
    any positive decision (or without anomalies) gets 0, not NaN."""
    y = np.asarray(y_true, dtype=int)
    d = np.asarray(decisions, dtype=int)
    tp = float(np.sum((y == 1) & (d == 1)))
    fp = float(np.sum((y == 0) & (d == 1)))
    fn = float(np.sum((y == 1) & (d == 0)))
    eps = sys.float_info.epsilon
    precision = tp / max(tp + fp, eps)
    recall = tp / max(tp + fn, eps)
    return precision, recall, 2.0 * precision * recall / max(precision + recall, eps)


def arithmetic_mean(values: Sequence[float] | np.ndarray) -> float:
    """Plain mean; an empty input is an error rather than NaN."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise DataError("cannot average an empty list of scores; no group was evaluated")
    return float(np.mean(arr))


def harmonic_mean(values: Sequence[float] | np.ndarray) -> float:
    """``scipy.stats.hmean`` after flooring each value at machine epsilon, as the DCASE evaluators do."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise DataError("cannot average an empty list of scores; no group was evaluated")
    return float(scipy.stats.hmean(np.maximum(arr, sys.float_info.epsilon)))
