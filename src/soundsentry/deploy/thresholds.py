"""Decision thresholds of a detector group: one per domain, and the domain-unknown one deployment uses.

A group's calibration scores are honest samples of "normal": held-out normal clips scored by a scorer fitted
without them (``soundsentry fit``), or the training clips' out-of-fold scores (``soundsentry export``). Source and
target clips do not share one score distribution (a target domain has few training clips, so its normals sit
further from the bank), so one threshold over all of them keeps the false-alarm rate on the many source clips and
misses it on the target clips.

The rule:

* each domain with at least :data:`MIN_DOMAIN_SCORES` calibration scores (not all equal) gets an estimate of its
  own threshold, the ``1 - false-alarm rate`` quantile of its scores (``gamma`` fit or empirical ``quantile``);
* the **domain-unknown** threshold (a clip whose domain is not known, as in deployment) is the largest of those
  estimates, so that no domain's normals, the target domain's included, are flagged more often than the stated
  rate (a clip above it is above its own domain's estimate); the price is fewer alarms on the domain with the
  lower threshold (its measured rate is recorded too); when no domain has an estimate, the threshold of all the
  group's scores is the domain-unknown one;
* a clip whose domain is known gets its domain's estimate only when that rests on at least
  :data:`MIN_TRUSTED_SCORES` scores, else the domain-unknown threshold. A few clips' quantile is noisy both ways:
  inside the maximum, a noisy estimate can only make decisions more conservative, but used alone one that comes out
  low flags most of that domain's normals (measured on the generated demo set: four target clips per section gave
  two sections whose target normals were all flagged at their own estimate, none at the domain-unknown threshold).

Clips of domain ``unknown`` (unlabelled supplemental clips) count towards the all-domain threshold only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from soundsentry.errors import DataError

MIN_DOMAIN_SCORES = 3
MIN_TRUSTED_SCORES = 10
CALIBRATION_FILE = "calibration.json"  # in a run folder (``soundsentry fit``): the held-out normal clips
RULE = (
    "domain unknown: the largest per-domain estimate (domains with >= 3 calibration clips; all clips' threshold when "
    "none has); domain known: its own estimate when it rests on >= 10 clips, else the domain-unknown threshold"
)
KNOWN_DOMAINS = ("source", "target")


def threshold_of(scores: np.ndarray, method: str, percentile: float) -> float:
    """The ``percentile`` quantile of the finite ``scores``: a gamma fit (``gamma``) or the empirical one.

    Raises:
        DataError: too few finite scores for the method.
    """
    from soundsentry.evaluation.threshold import fit_gamma_threshold

    finite = np.asarray(scores, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if method == "gamma":
        return fit_gamma_threshold(finite, percentile)
    if finite.size < 2:
        raise DataError(f"an empirical quantile threshold needs at least 2 training scores, got {finite.size}")
    return float(np.quantile(finite, percentile))


@dataclass(frozen=True)
class GroupThresholds:
    """A group's thresholds.

    Attributes:
        threshold: the domain-unknown threshold (score > threshold -> anomaly).
        measured_false_alarm_rate: share of all the group's calibration scores above ``threshold``.
        domains: per known domain: ``threshold`` (what a clip of that domain gets), ``own`` (True: its own
            estimate; False: the domain-unknown threshold), ``estimate`` (its own quantile, None below
            :data:`MIN_DOMAIN_SCORES` clips), ``n`` (calibration clips), ``measured_false_alarm_rate`` (share
            above ``threshold``) and ``measured_false_alarm_rate_domain_unknown`` (above the domain-unknown one).
    """

    threshold: float
    measured_false_alarm_rate: float
    domains: dict[str, dict[str, Any]]


def _rate(scores: np.ndarray, threshold: float) -> float:
    finite = scores[np.isfinite(scores)]
    return float(np.mean(finite > threshold)) if finite.size else float("nan")


def _own_threshold(scores: np.ndarray, method: str, percentile: float) -> float | None:
    finite = scores[np.isfinite(scores)]
    if finite.size < MIN_DOMAIN_SCORES or np.ptp(finite) == 0.0:
        return None
    try:
        return threshold_of(finite, method, percentile)
    except DataError:  # a gamma fit that gives no finite value: the domain takes the all-domain threshold
        return None


def group_thresholds(scores: np.ndarray, domains: Sequence[str], method: str, percentile: float) -> GroupThresholds:
    """Per-domain and domain-unknown thresholds of one group (see the module docstring for the rule).

    Args:
        scores: (N,) calibration scores of the group's normal clips (NaN ignored).
        domains: (N,) each clip's domain value (``source``, ``target`` or ``unknown``).
        method: ``gamma`` or ``quantile``.
        percentile: the quantile, ``1 -`` the stated false-alarm rate.
    """
    scores = np.asarray(scores, dtype=np.float64)
    doms = np.asarray([str(d) for d in domains])
    own = {
        domain: _own_threshold(scores[doms == domain], method, percentile)
        for domain in KNOWN_DOMAINS
        if (doms == domain).any()
    }
    calibrated = [t for t in own.values() if t is not None]
    unknown = max(calibrated) if calibrated else threshold_of(scores, method, percentile)
    per: dict[str, dict[str, Any]] = {}
    for domain, threshold in own.items():
        mine = scores[doms == domain]
        trusted = threshold is not None and np.isfinite(mine).sum() >= MIN_TRUSTED_SCORES
        chosen = threshold if trusted else unknown
        per[domain] = {
            "threshold": chosen,
            "own": bool(trusted),
            "estimate": threshold,
            "n": int(mine.size),
            "measured_false_alarm_rate": _rate(mine, chosen),
            "measured_false_alarm_rate_domain_unknown": _rate(mine, unknown),
        }
    return GroupThresholds(float(unknown), _rate(scores, unknown), per)


__all__ = [
    "CALIBRATION_FILE",
    "KNOWN_DOMAINS",
    "MIN_DOMAIN_SCORES",
    "MIN_TRUSTED_SCORES",
    "RULE",
    "GroupThresholds",
    "group_thresholds",
    "threshold_of",
]
