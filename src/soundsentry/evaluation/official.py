"""Per-section AUC / pAUC and the official DCASE Task 2 score of each year.

Rules (``y`` = 1 for anomalies, scores higher = more anomalous; only labelled *test* clips are scored):

``2020`` (DCASE 2020 Task 2, MIMII): one row per (machine type, machine ID) on all test clips of that ID;
    per type the arithmetic mean over IDs; overall the arithmetic mean over types (not over all IDs), as
    ``01_test.py`` of the 2020 baseline and ``evaluator.py`` of the 2020 evaluator average per type. The 2020
    challenge ranked systems by ranks across teams, which one system cannot reproduce, so ``official_score``
    is the mean of the overall AUC and the overall pAUC.
``2021``: one row per (type, section, domain); each domain is scored on its own normals and its own
    anomalies (the 2021 ground truth files are split ``*_source_test.csv`` / ``*_target_test.csv``).
    ``official_score`` = harmonic mean over all rows of the AUCs and pAUCs together.
``2022`` (2022-2024): one row per (type, section); AUC (source) = source normals + *all* anomalies of the
    section, AUC (target) = target normals + all anomalies, pAUC = all clips of the section, as in
    ``dcase2023_task2_evaluator.py``. ``official_score`` = harmonic mean over all rows of
    {AUC (source), AUC (target), pAUC}. Extra columns: AUC over all clips, and pAUC (source/target) on the same
    clips as the domain AUC (the evaluator's commented-out per-domain pAUC). A section with no normal clip of
    a domain at all (e.g. a plain folder, all source) gets None for that domain's AUC, with a warning, and the
    official score uses the values that exist.

A group with one class only raises :class:`~soundsentry.errors.DataError` naming the group: dropping it silently
would change the official score, and returning NaN would poison the harmonic mean.
"""

from __future__ import annotations

import enum
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from soundsentry.errors import ConfigError, DataError
from soundsentry.evaluation.metrics import (
    DEFAULT_MAX_FPR,
    Metric,
    arithmetic_mean,
    auc,
    check_max_fpr,
    harmonic_mean,
    pauc,
    precision_recall_f1,
)
from soundsentry.types import Clip, Domain, Label, Split

logger = logging.getLogger(__name__)


class Rule(str, enum.Enum):
    """Which year's evaluation rule to apply; ``2022`` covers DCASE 2022, 2023 and 2024."""

    DCASE2020 = "2020"
    DCASE2021 = "2021"
    DCASE2022 = "2022"

    @property
    def metrics(self) -> tuple[Metric, ...]:
        """Columns reported per row, official ones first."""
        if self is Rule.DCASE2022:
            return (
                Metric.AUC_SOURCE,
                Metric.AUC_TARGET,
                Metric.PAUC,
                Metric.AUC,
                Metric.PAUC_SOURCE,
                Metric.PAUC_TARGET,
            )
        return (Metric.AUC, Metric.PAUC)

    @property
    def decision_metrics(self) -> tuple[Metric, ...]:
        """Columns from decisions (score > threshold), in the evaluators' order; only when decisions are given."""
        if self is Rule.DCASE2022:
            return (
                Metric.PRECISION_SOURCE,
                Metric.PRECISION_TARGET,
                Metric.RECALL_SOURCE,
                Metric.RECALL_TARGET,
                Metric.F1_SOURCE,
                Metric.F1_TARGET,
            )
        return (Metric.PRECISION, Metric.RECALL, Metric.F1)

    def columns(self, decisions: bool) -> tuple[Metric, ...]:
        """Every reported column: ``metrics``, then ``decision_metrics`` when decisions were given."""
        return self.metrics + (self.decision_metrics if decisions else ())

    @property
    def official_metrics(self) -> tuple[Metric, ...]:
        """The per-row values that enter the official score."""
        if self is Rule.DCASE2022:
            return (Metric.AUC_SOURCE, Metric.AUC_TARGET, Metric.PAUC)
        return (Metric.AUC, Metric.PAUC)


_RULE_ALIASES = {"2020": Rule.DCASE2020, "2021": Rule.DCASE2021, "2022": Rule.DCASE2022}
_RULE_ALIASES.update({"2023": Rule.DCASE2022, "2024": Rule.DCASE2022})
_RULE_ALIASES.update({f"dcase{k}": v for k, v in list(_RULE_ALIASES.items())})
_DATASET_RULES = {"dcase2020": Rule.DCASE2020, "mimii": Rule.DCASE2020, "dcase2021": Rule.DCASE2021}


def rule_for_dataset(dataset: str) -> Rule:
    """Default rule of a layout name (``Clip.dataset``): dcase2020/mimii -> 2020, dcase2021 -> 2021, else 2022."""
    return _DATASET_RULES.get(dataset.lower(), Rule.DCASE2022)


def resolve_rule(rule: str | Rule | None, clips: Sequence[Clip] = ()) -> Rule:
    """Parse ``rule``, or derive it from the clips' datasets when it is None.

    Raises:
        ConfigError: unknown rule, or clips from datasets with different default rules and no explicit rule.
    """
    if isinstance(rule, Rule):
        return rule
    if rule is not None:
        key = str(rule).strip().lower()
        if key not in _RULE_ALIASES:
            raise ConfigError(f"unknown evaluation rule {rule!r}; use one of 2020, 2021, 2022 (2022 covers 2022-2024)")
        return _RULE_ALIASES[key]
    rules = {rule_for_dataset(c.dataset) for c in clips}
    if len(rules) > 1:
        names = ", ".join(sorted({c.dataset for c in clips}))
        raise ConfigError(
            f"clips come from datasets ({names}) with different evaluation rules; pass rule='2020', '2021' or '2022'"
        )
    return rules.pop() if rules else Rule.DCASE2022


@dataclass(frozen=True)
class SectionResult:
    """Scores of one scored group: a machine ID (2020), a section and domain (2021) or a section (2022-2024).

    Attributes:
        domain: the domain for 2021 rows, None where the row covers all domains.
        auc: AUC of the group; for 2022-2024 the AUC over all clips of the section.
        pauc: pAUC of the group (McClish-standardised, see :mod:`soundsentry.evaluation.metrics`).
        auc_source, auc_target, pauc_source, pauc_target: 2022-2024 only, else None.
        n_normal, n_anomaly: labelled clips in the group.
        n_normal_source, n_normal_target: 2022-2024 only: normals of each domain.
        decisions: precision / recall / F1 of the decisions (the rule's ``decision_metrics``), empty when
            :func:`evaluate` got no decisions. 2020 / 2021: over the row's clips; 2022-2024: per domain, over
            that domain's own normals and anomalies (not all anomalies, unlike the domain AUCs), as the evaluators.
    """

    machine_type: str
    section: str
    domain: Domain | None
    auc: float
    pauc: float
    n_normal: int
    n_anomaly: int
    auc_source: float | None = None
    auc_target: float | None = None
    pauc_source: float | None = None
    pauc_target: float | None = None
    n_normal_source: int | None = None
    n_normal_target: int | None = None
    decisions: dict[Metric, float] = field(default_factory=dict)

    def value(self, metric: Metric) -> float | None:
        """The value of ``metric`` in this row (None where the rule does not define it)."""
        scores = {
            Metric.AUC: self.auc,
            Metric.PAUC: self.pauc,
            Metric.AUC_SOURCE: self.auc_source,
            Metric.AUC_TARGET: self.auc_target,
            Metric.PAUC_SOURCE: self.pauc_source,
            Metric.PAUC_TARGET: self.pauc_target,
        }
        return scores[metric] if metric in scores else self.decisions.get(metric)


@dataclass(frozen=True)
class Summary:
    """Means over a set of rows: one machine type (``machine_type`` set) or all of them (None).

    Attributes:
        arithmetic: arithmetic mean per metric (2020 overall: mean of the per-type means).
        harmonic: harmonic mean per metric over the rows.
        official_score: the rule's official score restricted to these rows.
    """

    machine_type: str | None
    n_rows: int
    arithmetic: dict[Metric, float]  # metrics without any value (e.g. no target normals anywhere) are absent
    harmonic: dict[Metric, float]
    official_score: float


@dataclass(frozen=True)
class EvaluationResult:
    """Everything :func:`evaluate` computed, in the order rows were scored (sorted by type, section, domain)."""

    rule: Rule
    max_fpr: float
    rows: tuple[SectionResult, ...]
    per_type: tuple[Summary, ...]
    overall: Summary
    n_scored: int
    n_skipped_unlabelled: int
    has_decisions: bool = False

    @property
    def official_score(self) -> float:
        """The rule's official score over all machine types."""
        return self.overall.official_score

    @property
    def metrics(self) -> tuple[Metric, ...]:
        """Columns reported for this rule, official ones first, then the decision scores when there are any."""
        return self.rule.columns(self.has_decisions)


def _labels(clips: Sequence[Clip]) -> np.ndarray:
    return np.array([1 if c.label is Label.ANOMALY else 0 for c in clips], dtype=int)


def _is_domain(clips: Sequence[Clip], domain: Domain) -> np.ndarray:
    # A boolean mask built in Python: numpy compares an object array with a str-enum member elementwise wrongly.
    return np.array([c.domain is domain for c in clips], dtype=bool)


def _group_name(machine_type: str, section: str, what: str) -> str:
    return f"{machine_type} {what} {section}"


def _decision_scores(y: np.ndarray, d: np.ndarray | None, names: tuple[Metric, Metric, Metric]) -> dict[Metric, float]:
    return {} if d is None else dict(zip(names, precision_recall_f1(y, d), strict=True))


_PRF = (Metric.PRECISION, Metric.RECALL, Metric.F1)
_PRF_DOMAIN = {
    Domain.SOURCE: (Metric.PRECISION_SOURCE, Metric.RECALL_SOURCE, Metric.F1_SOURCE),
    Domain.TARGET: (Metric.PRECISION_TARGET, Metric.RECALL_TARGET, Metric.F1_TARGET),
}


def _score_2020(
    mt: str, sec: str, clips: list[Clip], s: np.ndarray, max_fpr: float, d: np.ndarray | None
) -> list[SectionResult]:
    y = _labels(clips)
    name = _group_name(mt, sec, "id")
    n_normal, n_anomaly = int((y == 0).sum()), int(y.sum())
    decisions = _decision_scores(y, d, _PRF)
    return [
        SectionResult(
            mt, sec, None, auc(y, s, name), pauc(y, s, max_fpr, name), n_normal, n_anomaly, decisions=decisions
        )
    ]


def _score_2021(
    mt: str, sec: str, clips: list[Clip], s: np.ndarray, max_fpr: float, d: np.ndarray | None
) -> list[SectionResult]:
    rows = []
    if _is_domain(clips, Domain.UNKNOWN).any():
        raise DataError(
            f"{_group_name(mt, sec, 'section')}: labelled test clips with unknown domain; the 2021 rule scores "
            "source and target separately, so every scored clip needs a domain (or use rule='2022')"
        )
    y_all = _labels(clips)
    for domain in (Domain.SOURCE, Domain.TARGET):
        mask = _is_domain(clips, domain)
        if not mask.any():
            continue
        y, sd = y_all[mask], s[mask]
        name = f"{_group_name(mt, sec, 'section')} {domain.value}"
        rows.append(
            SectionResult(
                mt,
                sec,
                domain,
                auc(y, sd, name),
                pauc(y, sd, max_fpr, name),
                int((y == 0).sum()),
                int(y.sum()),
                decisions=_decision_scores(y, None if d is None else d[mask], _PRF),
            )
        )
    return rows


def _score_2022(
    mt: str, sec: str, clips: list[Clip], s: np.ndarray, max_fpr: float, d: np.ndarray | None
) -> list[SectionResult]:
    name = _group_name(mt, sec, "section")
    y = _labels(clips)
    unknown_normals = (y == 0) & _is_domain(clips, Domain.UNKNOWN)
    if unknown_normals.any():
        raise DataError(
            f"{name}: {int(unknown_normals.sum())} labelled normal test clips have unknown domain; AUC (source) and "
            "AUC (target) need the domain of every normal clip (take it from the ground-truth domain files)"
        )
    per_domain: dict[Domain, tuple[float | None, float | None, int]] = {}
    decisions: dict[Metric, float] = {}
    for domain in (Domain.SOURCE, Domain.TARGET):
        in_domain = _is_domain(clips, domain)
        if d is not None and in_domain.any():  # the domain's own clips, as the evaluators' confusion matrix
            decisions.update(_decision_scores(y[in_domain], d[in_domain], _PRF_DOMAIN[domain]))
        n_normal = int((in_domain & (y == 0)).sum())
        if n_normal == 0:
            # No normals of this domain (e.g. a plain folder, all source): no AUC for it; evaluate() warns once.
            per_domain[domain] = (None, None, 0)
            continue
        # Anomalies of both domains count against each domain's normals, as in the 2022-2024 evaluators.
        mask = in_domain | (y == 1)
        label = f"{name} ({domain.value} normals + all anomalies)"
        per_domain[domain] = (auc(y[mask], s[mask], label), pauc(y[mask], s[mask], max_fpr, label), n_normal)
    src, tgt = per_domain[Domain.SOURCE], per_domain[Domain.TARGET]
    return [
        SectionResult(
            mt,
            sec,
            None,
            auc=auc(y, s, name),
            pauc=pauc(y, s, max_fpr, name),
            n_normal=int((y == 0).sum()),
            n_anomaly=int(y.sum()),
            auc_source=src[0],
            auc_target=tgt[0],
            pauc_source=src[1],
            pauc_target=tgt[1],
            n_normal_source=src[2],
            n_normal_target=tgt[2],
            decisions=decisions,
        )
    ]


_SCORERS = {Rule.DCASE2020: _score_2020, Rule.DCASE2021: _score_2021, Rule.DCASE2022: _score_2022}


def _column(rows: Sequence[SectionResult], metric: Metric) -> list[float]:
    return [v for v in (r.value(metric) for r in rows) if v is not None]


def _official(rule: Rule, rows: Sequence[SectionResult], arithmetic: dict[Metric, float]) -> float:
    if rule is Rule.DCASE2020:
        return (arithmetic[Metric.AUC] + arithmetic[Metric.PAUC]) / 2.0
    return harmonic_mean([v for m in rule.official_metrics for v in _column(rows, m)])


def _summarise(
    rule: Rule, machine_type: str | None, rows: Sequence[SectionResult], metrics: Sequence[Metric]
) -> Summary:
    present = [m for m in metrics if _column(rows, m)]
    arithmetic = {m: arithmetic_mean(_column(rows, m)) for m in present}
    harmonic = {m: harmonic_mean(_column(rows, m)) for m in present}
    return Summary(machine_type, len(rows), arithmetic, harmonic, _official(rule, rows, arithmetic))


def _overall(
    rule: Rule, rows: Sequence[SectionResult], per_type: Sequence[Summary], metrics: Sequence[Metric]
) -> Summary:
    summary = _summarise(rule, None, rows, metrics)
    if rule is not Rule.DCASE2020:
        return summary
    # 2020: overall = mean over machine types of the per-type means, so types with many IDs do not dominate.
    arithmetic = {m: arithmetic_mean([t.arithmetic[m] for t in per_type]) for m in summary.arithmetic}
    return Summary(None, len(rows), arithmetic, summary.harmonic, _official(rule, rows, arithmetic))


def _warn_missing_domains(rows: Sequence[SectionResult]) -> None:
    for domain, attr in ((Domain.SOURCE, "n_normal_source"), (Domain.TARGET, "n_normal_target")):
        lacking = [f"{r.machine_type} section {r.section}" for r in rows if getattr(r, attr) == 0]
        if lacking:
            more = f" and {len(lacking) - 3} more" if len(lacking) > 3 else ""
            warnings.warn(
                f"{len(lacking)} sections have no {domain.value} normal clips ({', '.join(lacking[:3])}{more}); "
                f"AUC ({domain.value}) is left out of their official score",
                stacklevel=3,
            )


def _check_scores(clips: Sequence[Clip], scores: np.ndarray | Sequence[float]) -> np.ndarray:
    arr = np.asarray(scores, dtype=float)
    if arr.ndim != 1 or arr.shape[0] != len(clips):
        raise DataError(
            f"got {len(clips)} clips but scores of shape {arr.shape}; pass one anomaly score per clip, in clip order"
        )
    return arr


def _check_decisions(clips: Sequence[Clip], decisions: np.ndarray | Sequence[int]) -> np.ndarray:
    arr = np.asarray(decisions)
    if arr.ndim != 1 or arr.shape[0] != len(clips):
        raise DataError(
            f"got {len(clips)} clips but decisions of shape {arr.shape}; pass one 0/1 decision per clip, in clip order"
        )
    if not np.isin(arr, (0, 1)).all():
        raise DataError("decisions must be 0 (normal) or 1 (anomalous), as in the decision_result CSVs")
    return arr.astype(int)


def evaluate(
    clips: Sequence[Clip],
    scores: np.ndarray | Sequence[float],
    rule: str | Rule | None = None,
    max_fpr: float = DEFAULT_MAX_FPR,
    decisions: np.ndarray | Sequence[int] | None = None,
) -> EvaluationResult:
    """Score anomaly scores against clip labels with the official DCASE rule of a year.

    Args:
        clips: clips in the same order as ``scores``; train clips are ignored, unlabelled test clips are skipped
            and counted in ``n_skipped_unlabelled``.
        scores: one anomaly score per clip, higher = more anomalous.
        rule: ``"2020"``, ``"2021"`` or ``"2022"`` (also ``"2023"``/``"2024"``); None derives it from
            ``Clip.dataset``.
        max_fpr: upper false-positive rate of pAUC.
        decisions: optional 0/1 decision per clip (1 = anomalous, e.g. score > the section's threshold): adds
            precision, recall and F1 per row and their means, as the 2021-2024 evaluators report them.

    Raises:
        DataError: scores do not match the clips, a scored score is not finite, no labelled test clip, or a
            group has only one class.
        ConfigError: unknown rule or invalid ``max_fpr``.
    """
    arr = _check_scores(clips, scores)
    dec = None if decisions is None else _check_decisions(clips, decisions)
    max_fpr = check_max_fpr(max_fpr)
    test = [i for i, c in enumerate(clips) if c.split is Split.TEST]
    scored = [i for i in test if clips[i].label is not Label.UNKNOWN]
    n_skipped = len(test) - len(scored)
    if not scored:
        raise DataError(
            f"no labelled test clips to evaluate ({len(clips)} clips, {len(test)} test, {n_skipped} unlabelled); "
            "evaluate the development set or add ground-truth labels"
        )
    bad = [clips[i].path for i in scored if not np.isfinite(arr[i])]
    if bad:
        raise DataError(f"{len(bad)} scored clips have non-finite anomaly scores, e.g. {', '.join(bad[:3])}")
    resolved = resolve_rule(rule, [clips[i] for i in scored])
    if n_skipped:
        logger.info("skipped %d unlabelled test clips", n_skipped)

    groups: dict[tuple[str, str], list[int]] = {}
    for i in scored:
        groups.setdefault(clips[i].group, []).append(i)
    rows: list[SectionResult] = []
    for mt, sec in sorted(groups):
        idx = groups[(mt, sec)]
        group_decisions = None if dec is None else dec[idx]
        rows.extend(_SCORERS[resolved](mt, sec, [clips[i] for i in idx], arr[idx], max_fpr, group_decisions))

    _warn_missing_domains(rows)
    types = sorted({r.machine_type for r in rows})
    metrics = resolved.columns(dec is not None)
    per_type = tuple(_summarise(resolved, t, [r for r in rows if r.machine_type == t], metrics) for t in types)
    return EvaluationResult(
        rule=resolved,
        max_fpr=max_fpr,
        rows=tuple(rows),
        per_type=per_type,
        overall=_overall(resolved, rows, per_type, metrics),
        n_scored=len(scored),
        n_skipped_unlabelled=n_skipped,
        has_decisions=dec is not None,
    )
