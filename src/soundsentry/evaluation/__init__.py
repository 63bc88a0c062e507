"""Evaluation exactly as the official DCASE Task 2 evaluators: AUC, pAUC, official score per year, reports.

Typical use::

    result = evaluate(test_clips, scores)          # rule derived from Clip.dataset
    print(format_table(result))
    write_csv(result, "runs/x/results.csv")
"""

from soundsentry.evaluation.metrics import DEFAULT_MAX_FPR, Metric, arithmetic_mean, auc, harmonic_mean, pauc
from soundsentry.evaluation.official import (
    EvaluationResult,
    Rule,
    SectionResult,
    Summary,
    evaluate,
    resolve_rule,
    rule_for_dataset,
)
from soundsentry.evaluation.report import format_table, write_csv, write_markdown
from soundsentry.evaluation.scores_io import (
    align_scores,
    official_file_stem,
    read_official_scores,
    read_scores,
    write_official_csvs,
    write_scores,
)
from soundsentry.evaluation.threshold import decide, fit_gamma_threshold

__all__ = [
    "DEFAULT_MAX_FPR",
    "EvaluationResult",
    "Metric",
    "Rule",
    "SectionResult",
    "Summary",
    "align_scores",
    "arithmetic_mean",
    "auc",
    "decide",
    "evaluate",
    "fit_gamma_threshold",
    "format_table",
    "harmonic_mean",
    "official_file_stem",
    "pauc",
    "read_official_scores",
    "read_scores",
    "resolve_rule",
    "rule_for_dataset",
    "write_csv",
    "write_markdown",
    "write_official_csvs",
    "write_scores",
]
