"""Precision, recall and F1 of decisions, per row, as the 2021-2024 evaluators compute them."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import f1_score, precision_score, recall_score

from soundsentry import pipeline
from soundsentry.errors import DataError
from soundsentry.evaluation import Metric, evaluate, format_table, write_csv
from soundsentry.evaluation.metrics import precision_recall_f1
from soundsentry.types import Clip, Domain, Label, Split

EPS = sys.float_info.epsilon
SRC, TGT = Domain.SOURCE, Domain.TARGET


def clips_for(specs: list[tuple[str, str, Domain, bool, float]], dataset: str = "dcase2022"):
    """(machine type, section, domain, is anomaly, score) -> test clips and their scores."""
    clips = []
    for i, (mt, sec, dom, anomalous, _) in enumerate(specs):
        label = Label.ANOMALY if anomalous else Label.NORMAL
        clips.append(Clip(f"/d/{mt}/test/{i:03d}.wav", mt, sec, dom, Split.TEST, label, dataset=dataset))
    return clips, np.array([s for *_, s in specs], dtype=float)


def group(mt: str, sec: str, dom: Domain, normals: list[float], anomalies: list[float]) -> list:
    return [(mt, sec, dom, False, s) for s in normals] + [(mt, sec, dom, True, s) for s in anomalies]


def test_precision_recall_f1_by_hand() -> None:
    # tp = 1 (0-based 3), fp = 1 (2), fn = 1 (4)
    assert precision_recall_f1([0, 0, 0, 1, 1], [0, 0, 1, 1, 0]) == pytest.approx((0.5, 0.5, 0.5))
    assert precision_recall_f1([0, 0, 1, 1], [0, 0, 1, 1]) == (1.0, 1.0, 1.0)
    # No positive decision: 0, not NaN (max(tp + fp, eps) in the denominators).
    assert precision_recall_f1([0, 1, 1], [0, 0, 0]) == (0.0, 0.0, 0.0)
    assert precision_recall_f1([0, 0], [1, 0]) == (0.0, 0.0, 0.0)  # no anomaly at all


def test_rule_2021_scores_each_domain_row_on_its_own_decisions() -> None:
    specs = group("fan", "00", SRC, [0.1, 0.2, 0.9], [0.8, 0.3]) + group("fan", "00", TGT, [0.1, 0.2], [0.3, 0.4])
    clips, scores = clips_for(specs, dataset="dcase2021")
    decisions = (scores > 0.5).astype(int)
    result = evaluate(clips, scores, decisions=decisions)
    src, tgt = result.rows
    assert (src.value(Metric.PRECISION), src.value(Metric.RECALL), src.value(Metric.F1)) == pytest.approx((0.5,) * 3)
    assert (tgt.value(Metric.PRECISION), tgt.value(Metric.RECALL), tgt.value(Metric.F1)) == (0.0, 0.0, 0.0)
    assert result.metrics[-3:] == (Metric.PRECISION, Metric.RECALL, Metric.F1)
    # The harmonic mean floors the zero at machine epsilon, as the evaluator's hmean(maximum(x, eps)).
    assert result.overall.harmonic[Metric.F1] == pytest.approx(scipy.stats.hmean([0.5, EPS]))
    assert result.overall.arithmetic[Metric.F1] == pytest.approx(0.25)
    # Decisions never change the official score.
    assert result.official_score == evaluate(clips, scores).official_score


def test_rule_2022_decisions_use_the_domain_s_own_clips_not_all_anomalies() -> None:
    # Source: both clips decided right. Target: the normal is a false alarm and the anomaly is missed.
    specs = group("fan", "00", SRC, [0.1], [0.9]) + group("fan", "00", TGT, [0.8], [0.2])
    clips, scores = clips_for(specs)
    (row,) = evaluate(clips, scores, decisions=[0, 1, 1, 0]).rows
    assert [row.value(m) for m in (Metric.PRECISION_SOURCE, Metric.RECALL_SOURCE, Metric.F1_SOURCE)] == [1, 1, 1]
    # With all anomalies (as for AUC (target)) the source anomaly would count: precision 0.5, recall 0.5.
    assert [row.value(m) for m in (Metric.PRECISION_TARGET, Metric.RECALL_TARGET, Metric.F1_TARGET)] == [0, 0, 0]


def test_decision_scores_match_sklearn_on_random_data() -> None:
    rng = np.random.default_rng(3)
    n = 120
    domain = [TGT if u < 0.3 else SRC for u in rng.random(n)]
    label = (rng.random(n) < 0.4).astype(int)
    section = ["00" if u < 0.5 else "01" for u in rng.random(n)]
    score = rng.normal(size=n) + label
    decisions = (score > 0.6).astype(int)
    specs = [("fan", sec, dom, bool(y), s) for sec, dom, y, s in zip(section, domain, label, score, strict=True)]
    clips, scores = clips_for(specs)
    sec_arr, tgt_arr = np.array(section), np.array([d is TGT for d in domain])

    def expected(mask: np.ndarray) -> tuple[float, float, float]:
        y, d = label[mask], decisions[mask]
        kw = {"zero_division": 0}
        return precision_score(y, d, **kw), recall_score(y, d, **kw), f1_score(y, d, **kw)

    for row in evaluate(clips, scores, decisions=decisions).rows:  # 2022: per section and domain
        for dom, is_tgt, names in (
            ("source", False, (Metric.PRECISION_SOURCE, Metric.RECALL_SOURCE, Metric.F1_SOURCE)),
            ("target", True, (Metric.PRECISION_TARGET, Metric.RECALL_TARGET, Metric.F1_TARGET)),
        ):
            want = expected((sec_arr == row.section) & (tgt_arr == is_tgt))
            assert [row.value(m) for m in names] == pytest.approx(list(want)), (row.section, dom)
    for row in evaluate(clips, scores, rule="2021", decisions=decisions).rows:
        want = expected((sec_arr == row.section) & (tgt_arr == (row.domain is Domain.TARGET)))
        assert [row.value(m) for m in (Metric.PRECISION, Metric.RECALL, Metric.F1)] == pytest.approx(list(want))


def test_without_decisions_there_are_no_decision_columns(tmp_path: Path) -> None:
    clips, scores = clips_for(group("fan", "00", SRC, [0.1], [0.9]) + group("fan", "00", TGT, [0.1], [0.9]))
    result = evaluate(clips, scores)
    assert not result.has_decisions and Metric.F1_SOURCE not in result.metrics
    assert result.rows[0].value(Metric.F1_SOURCE) is None
    with_decisions = evaluate(clips, scores, decisions=[0, 1, 0, 1])
    write_csv(with_decisions, tmp_path / "r.csv")
    header = next(csv.reader((tmp_path / "r.csv").open()))
    assert "F1 score (target)" in header and "precision (source)" in header
    assert "F1 score" not in format_table(with_decisions)  # the printed table keeps to AUC and pAUC


@pytest.mark.parametrize(("decisions", "match"), [([0, 1, 1], "decisions of shape"), ([0, 1, 2, 1], "0 .normal.")])
def test_bad_decisions_are_refused(decisions: list[int], match: str) -> None:
    clips, scores = clips_for(group("fan", "00", SRC, [0.1], [0.9]) + group("fan", "00", TGT, [0.1], [0.9]))
    with pytest.raises(DataError, match=match):
        evaluate(clips, scores, decisions=decisions)


def test_evaluate_stage_decisions_agree_with_its_decision_result_csvs(tiny_dcase2022: Path, tmp_path: Path) -> None:
    """results.csv's precision / recall / F1 are what the official decision_result CSVs give against the labels."""
    manifest = tmp_path / "m.jsonl"
    clips = pipeline.prepare(tiny_dcase2022, manifest, verbose=False)
    pipeline.reference(manifest, tmp_path / "s.csv", detector="rms")  # scores train clips too -> thresholds
    result = pipeline.evaluate(manifest, tmp_path / "s.csv", out_dir=tmp_path / "out", verbose=False)
    assert result.has_decisions
    by_name = {Path(c.path).name: c for c in clips}
    for path in sorted((tmp_path / "out" / "official").glob("decision_result_*.csv")):
        rows = list(csv.reader(path.open()))
        section = path.stem.split("_section_")[1][:2]
        machine = path.stem[len("decision_result_") :].split("_section_")[0]
        (row,) = [r for r in result.rows if (r.machine_type, r.section) == (machine, section)]
        for dom, names in (
            (Domain.SOURCE, (Metric.PRECISION_SOURCE, Metric.RECALL_SOURCE, Metric.F1_SOURCE)),
            (Domain.TARGET, (Metric.PRECISION_TARGET, Metric.RECALL_TARGET, Metric.F1_TARGET)),
        ):
            mine = [(by_name[n].label.value == "anomaly", int(d)) for n, d in rows if by_name[n].domain is dom]
            if not mine:
                continue
            y, d = zip(*mine, strict=True)
            assert [row.value(m) for m in names] == pytest.approx(list(precision_recall_f1(y, d)))
