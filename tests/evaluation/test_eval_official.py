"""Official DCASE rules per year against hand-worked values."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from soundsentry.errors import ConfigError, DataError
from soundsentry.evaluation import Metric, Rule, evaluate, resolve_rule
from soundsentry.types import Clip, Domain, Label, Split

N, A = Label.NORMAL, Label.ANOMALY
SRC, TGT = Domain.SOURCE, Domain.TARGET
PAUC_HALF = 14 / 19  # McClish value when tpr = 0.5 on fpr in [0, 0.1] (see test_eval_metrics.py)


def clips_for(
    specs: list[tuple[str, str, Domain, Label, float]], dataset: str = "dcase2022"
) -> tuple[list[Clip], np.ndarray]:
    clips = [
        Clip(f"/d/{mt}/test/{i:03d}_{sec}_{dom.value}_{lab.value}.wav", mt, sec, dom, Split.TEST, lab, dataset=dataset)
        for i, (mt, sec, dom, lab, _) in enumerate(specs)
    ]
    return clips, np.array([s for *_, s in specs], dtype=float)


def group(mt: str, sec: str, dom: Domain, normals: list[float], anomalies: list[float]) -> list:
    return [(mt, sec, dom, N, s) for s in normals] + [(mt, sec, dom, A, s) for s in anomalies]


def test_rule_2020_per_type_mean_then_mean_over_types() -> None:
    specs = (
        group("fan", "00", SRC, [1, 2], [3, 4])  # perfect: AUC 1, pAUC 1
        + group("fan", "02", SRC, [1, 3], [2, 4])  # AUC 3/4, pAUC 14/19
        + group("pump", "00", SRC, [1, 3], [2, 4])  # AUC 3/4, pAUC 14/19
    )
    clips, scores = clips_for(specs, dataset="dcase2020")
    result = evaluate(clips, scores)
    assert result.rule is Rule.DCASE2020
    assert [(r.machine_type, r.section, r.domain) for r in result.rows] == [
        ("fan", "00", None),
        ("fan", "02", None),
        ("pump", "00", None),
    ]
    fan = result.per_type[0]
    assert fan.arithmetic[Metric.AUC] == pytest.approx(0.875)
    assert fan.arithmetic[Metric.PAUC] == pytest.approx((1 + PAUC_HALF) / 2)
    # Overall = mean of type means (0.875 + 0.75) / 2 = 0.8125, not the mean of the three IDs (0.8333).
    assert result.overall.arithmetic[Metric.AUC] == pytest.approx(0.8125)
    overall_pauc = ((1 + PAUC_HALF) / 2 + PAUC_HALF) / 2
    assert result.overall.arithmetic[Metric.PAUC] == pytest.approx(overall_pauc)
    assert result.official_score == pytest.approx((0.8125 + overall_pauc) / 2)
    # Harmonic means are reported too: over the three IDs.
    assert result.overall.harmonic[Metric.AUC] == pytest.approx(3 / (1 + 4 / 3 + 4 / 3))


def test_rule_2020_ignores_domain() -> None:
    specs = group("fan", "00", SRC, [1], [3]) + group("fan", "00", TGT, [2], [0])
    result = evaluate(*clips_for(specs), rule="2020")
    (row,) = result.rows
    assert (row.n_normal, row.n_anomaly, row.auc) == (2, 2, pytest.approx(0.5))  # 3 beats 1, 2; 0 beats none


def test_rule_2021_scores_each_domain_on_its_own_and_hmeans_auc_and_pauc_together() -> None:
    specs = group("fan", "00", SRC, [1, 2], [3, 4]) + group("fan", "00", TGT, [1, 3], [2, 4])
    result = evaluate(*clips_for(specs, dataset="dcase2021"))
    assert result.rule is Rule.DCASE2021
    src, tgt = result.rows
    assert (src.domain, src.auc, src.pauc) == (SRC, 1.0, 1.0)
    assert (tgt.domain, tgt.auc, tgt.pauc) == (TGT, 0.75, pytest.approx(PAUC_HALF))
    # hmean(1, 1, 3/4, 14/19) = 4 / (1 + 1 + 4/3 + 19/14) = 168 / 197
    assert result.official_score == pytest.approx(168 / 197)
    assert result.per_type[0].official_score == pytest.approx(168 / 197)
    assert result.overall.harmonic[Metric.AUC] == pytest.approx(2 / (1 + 4 / 3))


def test_rule_2021_needs_domains() -> None:
    specs = group("fan", "00", Domain.UNKNOWN, [1, 2], [3, 4])
    with pytest.raises(DataError, match="fan section 00: labelled test clips with unknown domain"):
        evaluate(*clips_for(specs), rule="2021")


def test_rule_2022_scores_target_normals_against_all_anomalies() -> None:
    # Source normals [1, 2], source anomalies [3, 4]; target normals [5, 6], target anomalies [7, 8].
    specs = group("fan", "00", SRC, [1, 2], [3, 4]) + group("fan", "00", TGT, [5, 6], [7, 8])
    result = evaluate(*clips_for(specs))
    assert result.rule is Rule.DCASE2022
    (row,) = result.rows
    # AUC (source): normals [1, 2] vs anomalies [3, 4, 7, 8] -> 1.
    assert row.auc_source == 1.0
    # AUC (target): normals [5, 6] vs ALL anomalies [3, 4, 7, 8]: 7 and 8 beat both, 3 and 4 none -> 4/8 = 0.5.
    # Scored on target anomalies only (the 2021 way) it would be 1.0.
    assert row.auc_target == 0.5
    assert evaluate(*clips_for(specs), rule="2021").rows[1].auc == 1.0
    # pAUC on all clips: two anomalies (7, 8) above every normal, then normal 6 -> tpr .5 on [0, .1] -> 14/19.
    assert row.pauc == pytest.approx(PAUC_HALF)
    # AUC (all): 3 beats 1, 2; 4 beats 1, 2; 7, 8 beat all four -> 12/16.
    assert row.auc == 0.75
    assert row.pauc_source == 1.0 and row.pauc_target == pytest.approx(PAUC_HALF)
    assert (row.n_normal, row.n_anomaly, row.n_normal_source, row.n_normal_target) == (4, 4, 2, 2)
    # hmean(1, 0.5, 14/19) = 3 / (1 + 2 + 19/14) = 42/61
    assert result.official_score == pytest.approx(42 / 61)


def test_rule_2022_official_over_types_and_sections() -> None:
    specs = (
        group("fan", "00", SRC, [1, 2], [3, 4])
        + group("fan", "00", TGT, [5, 6], [7, 8])
        + group("valve", "01", SRC, [1], [2])
        + group("valve", "01", TGT, [1], [2])
    )
    result = evaluate(*clips_for(specs), rule="2023")
    assert result.rule is Rule.DCASE2022
    # fan: {1, 0.5, 14/19}; valve section 01 is perfect: {1, 1, 1}.
    values = [1, 0.5, PAUC_HALF, 1, 1, 1]
    assert result.official_score == pytest.approx(len(values) / sum(1 / v for v in values))
    assert [t.machine_type for t in result.per_type] == ["fan", "valve"]
    assert result.per_type[1].official_score == pytest.approx(1.0)
    assert result.overall.arithmetic[Metric.AUC_TARGET] == pytest.approx(0.75)


def test_rule_2022_anomaly_with_unknown_domain_counts_for_both_domains() -> None:
    specs = group("fan", "00", SRC, [1], []) + group("fan", "00", TGT, [3], []) + [("fan", "00", Domain.UNKNOWN, A, 2)]
    (row,) = evaluate(*clips_for(specs)).rows
    assert (row.auc_source, row.auc_target) == (1.0, 0.0)


def test_rule_2022_section_without_anomalies_is_an_error() -> None:
    specs = group("fan", "00", SRC, [1, 2], []) + group("fan", "00", TGT, [1, 2], [])
    with pytest.raises(DataError, match=r"fan section 00 \(source normals \+ all anomalies\): .* 0 anomalous"):
        evaluate(*clips_for(specs))


def test_rule_2022_normal_with_unknown_domain_is_an_error() -> None:
    specs = group("fan", "00", Domain.UNKNOWN, [1, 2], [3, 4])
    with pytest.raises(DataError, match="normal test clips have unknown domain"):
        evaluate(*clips_for(specs))


def test_single_class_group_is_a_data_error_naming_it() -> None:
    specs = group("fan", "00", SRC, [1, 2], [3]) + group("fan", "00", TGT, [1, 2], [])
    with pytest.raises(DataError, match=r"fan section 00 target: .* 2 normal and 0 anomalous"):
        evaluate(*clips_for(specs), rule="2021")


def test_rule_2022_domain_without_normals_is_left_out_with_a_warning() -> None:
    specs = group("fan", "00", SRC, [1, 2], [3, 4]) + group("fan", "01", SRC, [1, 3], [2, 4])
    with pytest.warns(UserWarning, match=r"2 sections have no target normal clips \(fan section 00, fan section 01\)"):
        result = evaluate(*clips_for(specs, dataset="folder"))
    assert [r.auc_target for r in result.rows] == [None, None]
    assert Metric.AUC_TARGET not in result.overall.arithmetic
    # hmean over {AUC (source), pAUC} only: {1, 1, 3/4, 14/19}
    assert result.official_score == pytest.approx(168 / 197)


def test_unlabelled_and_train_clips_are_skipped_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    clips, scores = clips_for(group("fan", "00", SRC, [1, 2], [3, 4]) + group("fan", "00", TGT, [0], []))
    extra = [
        Clip("/d/fan/test/x.wav", "fan", "00", Domain.UNKNOWN, Split.TEST, Label.UNKNOWN, dataset="dcase2022"),
        Clip("/d/fan/train/y.wav", "fan", "00", SRC, Split.TRAIN, Label.NORMAL, dataset="dcase2022"),
    ]
    with caplog.at_level(logging.INFO, logger="soundsentry.evaluation.official"):
        result = evaluate(clips + extra, np.r_[scores, np.nan, 100.0])
    assert (result.n_scored, result.n_skipped_unlabelled) == (5, 1)
    assert "skipped 1 unlabelled" in caplog.text
    assert result.rows[0].auc_source == 1.0


def test_no_labelled_test_clips() -> None:
    clip = Clip("/d/x.wav", "fan", "00", split=Split.TEST, label=Label.UNKNOWN)
    with pytest.raises(DataError, match="no labelled test clips"):
        evaluate([clip], [0.0])


def test_score_shape_and_finiteness_errors() -> None:
    clips, scores = clips_for(group("fan", "00", SRC, [1, 2], [3, 4]))
    with pytest.raises(DataError, match="got 4 clips but scores of shape"):
        evaluate(clips, scores[:3])
    scores[0] = np.inf
    with pytest.raises(DataError, match="non-finite anomaly scores"):
        evaluate(clips, scores)


def test_rule_resolution() -> None:
    def clip(dataset: str) -> Clip:
        return Clip("/x.wav", "fan", "00", dataset=dataset)

    assert resolve_rule(None, [clip("mimii")]) is Rule.DCASE2020
    assert resolve_rule(None, [clip("dcase2021")]) is Rule.DCASE2021
    assert resolve_rule(None, [clip("folder")]) is Rule.DCASE2022
    assert resolve_rule("2024") is Rule.DCASE2022
    with pytest.raises(ConfigError, match="different evaluation rules"):
        resolve_rule(None, [clip("mimii"), clip("dcase2022")])
    with pytest.raises(ConfigError, match="unknown evaluation rule '2019'"):
        resolve_rule("2019")


def test_rule_2022_and_2021_match_the_evaluator_masks_on_random_data() -> None:
    # The masks of dcase2023_task2_evaluator.py / the 2021 evaluator, written out independently of the package.
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    n = 60
    domain = [TGT if u < 0.4 else SRC for u in rng.random(n)]
    label = np.r_[np.zeros(40, int), np.ones(20, int)]
    is_tgt = np.array([d is TGT for d in domain])
    score = rng.normal(size=n) + label + 0.5 * is_tgt
    specs = [("fan", "00", d, A if y else N, s) for d, y, s in zip(domain, label, score, strict=True)]
    clips, scores = clips_for(specs)
    (row,) = evaluate(clips, scores).rows
    for auc_value, in_domain in ((row.auc_source, ~is_tgt), (row.auc_target, is_tgt)):
        mask = in_domain | (label != 0)
        assert auc_value == pytest.approx(roc_auc_score(label[mask], score[mask]))
    assert row.pauc == pytest.approx(roc_auc_score(label, score, max_fpr=0.1))
    rows_2021 = evaluate(clips, scores, rule="2021").rows
    for r, in_domain in zip(rows_2021, (~is_tgt, is_tgt), strict=True):
        assert r.auc == pytest.approx(roc_auc_score(label[in_domain], score[in_domain]))
        assert r.pauc == pytest.approx(roc_auc_score(label[in_domain], score[in_domain], max_fpr=0.1))
