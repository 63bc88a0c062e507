"""Human- and machine-readable reports of an :class:`~soundsentry.evaluation.official.EvaluationResult`.

The text table and the Markdown file show percentages with two decimals; the CSV keeps full-precision fractions.
All files are written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from soundsentry.evaluation._csv import csv_text
from soundsentry.evaluation.metrics import Metric
from soundsentry.evaluation.official import EvaluationResult, Rule, SectionResult, Summary
from soundsentry.io import atomic_write_text

_AMEAN = "arithmetic mean"
_HMEAN = "harmonic mean"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100.0 * value:.2f}"


def _num(value: float | None) -> str:
    return "" if value is None else repr(value)


def _title(result: EvaluationResult, metric: Metric) -> str:
    # 2022-2024 rows have AUC over all clips next to the domain AUCs; the evaluator calls it "AUC (all)".
    return "AUC (all)" if metric is Metric.AUC and result.rule is Rule.DCASE2022 else metric.value


def _has_domain(result: EvaluationResult) -> bool:
    return result.rule is Rule.DCASE2021


def _header(result: EvaluationResult, metrics: Sequence[Metric]) -> list[str]:
    head = ["machine type", "section"] + (["domain"] if _has_domain(result) else [])
    return head + [_title(result, m) for m in metrics] + ["official", "normal", "anomaly"]


def _row_cells(result: EvaluationResult, row: SectionResult, metrics: Sequence[Metric]) -> list[str]:
    cells = [row.machine_type, row.section] + ([row.domain.value if row.domain else ""] if _has_domain(result) else [])
    return cells + [_pct(row.value(m)) for m in metrics] + ["", str(row.n_normal), str(row.n_anomaly)]


def _summary_cells(result: EvaluationResult, summary: Summary, metrics: Sequence[Metric]) -> list[list[str]]:
    name = summary.machine_type or "all"
    pad = [""] if _has_domain(result) else []
    amean = [name, _AMEAN, *pad] + [_pct(summary.arithmetic.get(m)) for m in metrics]
    hmean = [name, _HMEAN, *pad] + [_pct(summary.harmonic.get(m)) for m in metrics]
    return [
        amean + ["", "", ""],
        hmean + ["", "", ""],
        [name, "official score", *pad] + [""] * len(metrics) + [_pct(summary.official_score), "", ""],
    ]


def _body(result: EvaluationResult, metrics: Sequence[Metric]) -> list[list[str]]:
    body: list[list[str]] = []
    for summary in result.per_type:
        body.extend(_row_cells(result, r, metrics) for r in result.rows if r.machine_type == summary.machine_type)
        body.extend(_summary_cells(result, summary, metrics))
    body.extend(_summary_cells(result, result.overall, metrics))
    return body


def _caption(result: EvaluationResult) -> str:
    metrics = ", ".join(m.value for m in result.rule.official_metrics)
    how = "mean over machine types of mean AUC and pAUC" if result.rule is Rule.DCASE2020 else f"hmean of {metrics}"
    return (
        f"DCASE {result.rule.value} rule ({how}), pAUC max_fpr={result.max_fpr:g}; "
        f"{result.n_scored} clips scored, {result.n_skipped_unlabelled} unlabelled skipped; "
        f"official score {_pct(result.official_score)}%"
    )


def format_table(result: EvaluationResult) -> str:
    """A fixed-width text table: one line per row, arithmetic/harmonic means and official score per type and overall.

    AUC and pAUC columns only; precision / recall / F1 of decisions go to the Markdown and CSV files."""
    metrics = result.rule.metrics
    header, body = _header(result, metrics), _body(result, metrics)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "-" * len(line(header))
    return "\n".join([_caption(result), rule, line(header), rule, *map(line, body), rule]) + "\n"


def write_markdown(result: EvaluationResult, path: str | os.PathLike[str]) -> Path:
    """Write the table as GitHub Markdown (percentages) atomically; returns the path. Every column of
    ``result.metrics``, the decision scores included."""
    header, body = _header(result, result.metrics), _body(result, result.metrics)
    lines = [_caption(result), "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return atomic_write_text(path, "\n".join(lines) + "\n")


def write_csv(result: EvaluationResult, path: str | os.PathLike[str]) -> Path:
    """Write a tidy CSV of fractions (not percent) atomically; returns the path.

    Columns: ``level`` (``section``, ``arithmetic mean``, ``harmonic mean``, ``official score``), ``machine_type``
    (``all`` for the overall rows), ``section``, ``domain``, one column per metric, ``official_score``,
    ``n_normal``, ``n_anomaly``.
    """
    metrics = result.metrics
    rows: list[list[object]] = [
        ["level", "machine_type", "section", "domain", *[_title(result, m) for m in metrics], "official_score"]
        + ["n_normal", "n_anomaly"]
    ]
    blank = [""] * len(metrics)

    def summary(s: Summary) -> None:
        name = s.machine_type or "all"
        rows.append([_AMEAN, name, "", "", *[_num(s.arithmetic.get(m)) for m in metrics], "", "", ""])
        rows.append([_HMEAN, name, "", "", *[_num(s.harmonic.get(m)) for m in metrics], "", "", ""])
        rows.append(["official score", name, "", "", *blank, repr(s.official_score), "", ""])

    for s in result.per_type:
        for r in (r for r in result.rows if r.machine_type == s.machine_type):
            values = [_num(r.value(m)) for m in metrics]
            domain = r.domain.value if r.domain else ""
            rows.append(["section", r.machine_type, r.section, domain, *values, "", r.n_normal, r.n_anomaly])
        summary(s)
    summary(result.overall)
    return atomic_write_text(path, csv_text(rows))
