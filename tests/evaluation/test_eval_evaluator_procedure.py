"""The official result files, read the way the DCASE 2021 / 2023 evaluator scripts read them, give our numbers.

The evaluators take each ``anomaly_score_*.csv`` / ``decision_result_*.csv`` with the organisers' ground-truth
files, sort every file's rows (so rows pair up by file name), and compute per file AUC, pAUC and precision /
recall / F1 from the confusion matrix; per machine type and overall they take arithmetic and harmonic means
(floored at machine epsilon). That procedure is written out here, independently of the package, and compared
with :func:`soundsentry.evaluation.evaluate` plus :func:`write_official_csvs` on random data.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import confusion_matrix, roc_auc_score

from soundsentry.evaluation import Metric, evaluate, write_official_csvs
from soundsentry.types import Clip, Domain, Label, Split

EPS = sys.float_info.epsilon
TYPES, SECTIONS, DOMAINS = ("fan", "valve"), ("00", "01"), (Domain.SOURCE, Domain.TARGET)


def _random_set(dataset: str, seed: int) -> tuple[list[Clip], np.ndarray, dict[tuple[str, str], float]]:
    rng = np.random.default_rng(seed)
    clips, scores = [], []
    for mt in TYPES:
        for sec in SECTIONS:
            for dom in DOMAINS:
                for label, n in ((Label.NORMAL, 7), (Label.ANOMALY, 5)):
                    for i in range(n):
                        name = f"section_{sec}_{dom.value}_test_{label.value}_{i:04d}.wav"
                        clips.append(Clip(f"/d/{mt}/test/{name}", mt, sec, dom, Split.TEST, label, dataset=dataset))
                        scores.append(rng.normal() + (0.8 if label is Label.ANOMALY else 0.0))
    thresholds = {(mt, sec): float(rng.normal(0.4, 0.2)) for mt in TYPES for sec in SECTIONS}
    return clips, np.array(scores), thresholds


def _read(path: Path, cast=float) -> list:
    with open(path, newline="") as f:
        return [cast(row[1]) for row in sorted(csv.reader(f))]


def _ground_truth(path: Path, rows: list[tuple[str, int]]) -> Path:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def _prf(y: np.ndarray, d: np.ndarray) -> list[float]:
    tn, fp, fn, tp = confusion_matrix(y, d, labels=[0, 1]).ravel()
    prec = tp / np.maximum(tp + fp, EPS)
    rec = tp / np.maximum(tp + fn, EPS)
    return [prec, rec, 2.0 * prec * rec / np.maximum(prec + rec, EPS)]


def test_2021_files_through_the_evaluator_procedure(tmp_path: Path) -> None:
    clips, scores, thresholds = _random_set("dcase2021", seed=5)
    ours = evaluate(clips, scores, decisions=[int(s > thresholds[c.group]) for c, s in zip(clips, scores, strict=True)])
    write_official_csvs(clips, scores, tmp_path, thresholds=thresholds)
    gt = tmp_path / "gt"
    gt.mkdir()
    per_type: dict[str, list[list[float]]] = {}
    overall = []
    for mt in TYPES:
        for dom in DOMAINS:  # the evaluator's loop order: domain, then section
            for sec in SECTIONS:
                stem = f"{mt}_section_{sec}_{dom.value}_test"
                labels = [
                    (c.name, int(c.label is Label.ANOMALY)) for c in clips if (c.group, c.domain) == ((mt, sec), dom)
                ]
                y_true = np.array(_read(_ground_truth(gt / f"ground_truth_{stem}.csv", labels), int))
                y_pred = np.array(_read(tmp_path / f"anomaly_score_{stem}.csv"))
                decided = np.array(_read(tmp_path / f"decision_result_{stem}.csv", int))
                perf = [
                    roc_auc_score(y_true, y_pred),
                    roc_auc_score(y_true, y_pred, max_fpr=0.1),
                    *_prf(y_true, decided),
                ]
                per_type.setdefault(mt, []).append(perf)
                overall.append(perf)
                (row,) = [r for r in ours.rows if (r.machine_type, r.section, r.domain) == (mt, sec, dom)]
                mine = [row.value(m) for m in (Metric.AUC, Metric.PAUC, Metric.PRECISION, Metric.RECALL, Metric.F1)]
                assert mine == pytest.approx(perf), stem
    metrics = (Metric.AUC, Metric.PAUC, Metric.PRECISION, Metric.RECALL, Metric.F1)
    for summary in ours.per_type:
        table = np.array(per_type[summary.machine_type], dtype=float)
        assert [summary.arithmetic[m] for m in metrics] == pytest.approx(list(table.mean(axis=0)))
        assert [summary.harmonic[m] for m in metrics] == pytest.approx(
            list(scipy.stats.hmean(np.maximum(table, EPS), axis=0))
        )
    table = np.array(overall, dtype=float)
    assert [ours.overall.harmonic[m] for m in metrics] == pytest.approx(
        list(scipy.stats.hmean(np.maximum(table, EPS), axis=0))
    )
    # The 2021 ranking score: one harmonic mean over every AUC and pAUC of all types, sections and domains.
    assert ours.official_score == pytest.approx(scipy.stats.hmean(np.maximum(table[:, :2].ravel(), EPS)))


def test_2022_files_through_the_evaluator_procedure(tmp_path: Path) -> None:
    clips, scores, thresholds = _random_set("dcase2023", seed=6)
    ours = evaluate(clips, scores, decisions=[int(s > thresholds[c.group]) for c, s in zip(clips, scores, strict=True)])
    write_official_csvs(clips, scores, tmp_path, thresholds=thresholds)
    (tmp_path / "gt").mkdir()
    official_parts = []
    for mt in TYPES:
        for sec in SECTIONS:
            stem = f"{mt}_section_{sec}_test"
            mine = [c for c in clips if c.group == (mt, sec)]
            labels = [(c.name, int(c.label is Label.ANOMALY)) for c in mine]
            domains = [(c.name, int(c.domain is Domain.TARGET)) for c in mine]
            y_true = np.array(_read(_ground_truth(tmp_path / "gt" / f"labels_{stem}.csv", labels), int))
            y_domain = np.array(_read(_ground_truth(tmp_path / "gt" / f"domain_{stem}.csv", domains), int))
            y_pred = np.array(_read(tmp_path / f"anomaly_score_{stem}.csv"))
            decided = np.array(_read(tmp_path / f"decision_result_{stem}.csv", int))
            (row,) = [r for r in ours.rows if (r.machine_type, r.section) == (mt, sec)]
            assert row.value(Metric.AUC) == pytest.approx(roc_auc_score(y_true, y_pred))
            pauc = roc_auc_score(y_true, y_pred, max_fpr=0.1)
            assert row.value(Metric.PAUC) == pytest.approx(pauc)
            official_parts.append(pauc)
            for code, dom in ((0, "SOURCE"), (1, "TARGET")):
                auc_mask = (y_domain == code) | (y_true != 0)
                auc_value = roc_auc_score(y_true[auc_mask], y_pred[auc_mask])
                official_parts.append(auc_value)
                assert row.value(Metric[f"AUC_{dom}"]) == pytest.approx(auc_value)
                own = y_domain == code
                names = (Metric[f"PRECISION_{dom}"], Metric[f"RECALL_{dom}"], Metric[f"F1_{dom}"])
                assert [row.value(m) for m in names] == pytest.approx(_prf(y_true[own], decided[own])), (stem, dom)
    assert ours.official_score == pytest.approx(scipy.stats.hmean(np.maximum(official_parts, EPS)))
