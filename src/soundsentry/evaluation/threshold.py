"""Decision thresholds as the official DCASE 2021-2024 baselines set them.

The baselines fit a gamma distribution (shape, loc, scale) to the anomaly scores of the training clips with
``scipy.stats.gamma.fit`` and take its ``decision_threshold`` quantile (0.9) with ``scipy.stats.gamma.ppf``;
a clip is decided anomalous when its score is strictly greater than the threshold.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import scipy.stats

from soundsentry.errors import ConfigError, DataError

MIN_TRAIN_SCORES = 3


def fit_gamma_threshold(train_scores: Sequence[float] | np.ndarray, percentile: float = 0.9) -> float:
    """Threshold = ``gamma.ppf(percentile, *gamma.fit(train_scores))``.

    Args:
        train_scores: anomaly scores of (normal) training clips, one per clip.
        percentile: the quantile as a fraction in (0, 1); the baselines use 0.9.

    Raises:
        ConfigError: ``percentile`` outside (0, 1).
        DataError: fewer than 3 scores, non-finite scores, all scores equal, or a fit that gives no finite value.
    """
    q = float(percentile)
    if not 0.0 < q < 1.0:
        raise ConfigError(f"percentile is a fraction in (0, 1) (the baselines use 0.9), got {percentile!r}")
    x = np.asarray(train_scores, dtype=float).ravel()
    if x.size < MIN_TRAIN_SCORES:
        raise DataError(
            f"a gamma threshold needs at least {MIN_TRAIN_SCORES} training scores, got {x.size}; "
            "score more training clips"
        )
    n_bad = int((~np.isfinite(x)).sum())
    if n_bad:
        raise DataError(f"{n_bad} of {x.size} training scores are NaN or infinite; fix the scorer before thresholding")
    if np.ptp(x) == 0.0:
        raise DataError(f"all {x.size} training scores equal {float(x[0]):g}; a gamma distribution cannot be fitted")
    with warnings.catch_warnings():
        # The optimiser may warn on awkward samples; the result is checked below.
        warnings.simplefilter("ignore", RuntimeWarning)
        shape, loc, scale = scipy.stats.gamma.fit(x)
        threshold = float(scipy.stats.gamma.ppf(q, shape, loc=loc, scale=scale))
    if not np.isfinite(threshold):
        raise DataError(
            f"gamma fit on {x.size} training scores gave no finite {q} quantile (shape={shape}, loc={loc}, "
            f"scale={scale}); check the score distribution"
        )
    return threshold


def decide(scores: Sequence[float] | np.ndarray, threshold: float) -> np.ndarray:
    """Decisions as in the baselines: 1 (anomalous) where score > threshold, else 0. Shape (N,), int."""
    return (np.asarray(scores, dtype=float) > float(threshold)).astype(int)
