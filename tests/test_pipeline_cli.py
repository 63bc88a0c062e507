"""The CLI and the stage functions on a tiny generated tree: prepare -> reference -> evaluate."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from soundsentry import pipeline
from soundsentry.cli import main
from soundsentry.data.manifest import read_manifest
from soundsentry.errors import DataError
from soundsentry.evaluation import read_scores
from soundsentry.scoring import score_clips
from soundsentry.types import Clip, Label, Split


def test_prepare_reference_evaluate_end_to_end(tiny_dcase2022: Path, tmp_path: Path, capsys) -> None:
    manifest = tmp_path / "manifest.jsonl"
    assert main(["prepare", str(tiny_dcase2022), "-o", str(manifest)]) == 0
    out = capsys.readouterr().out
    assert "layout: dcase2022; 44 clips" in out
    assert "train-source-normal" in out

    scores = tmp_path / "scores.csv"
    assert main(["reference", str(manifest), "-o", str(scores)]) == 0
    by_path = read_scores(scores)
    assert len(by_path) == 44
    assert all(np.isfinite(v) for v in by_path.values())

    results = tmp_path / "results"
    assert main(["evaluate", str(manifest), str(scores), "-o", str(results)]) == 0
    table = capsys.readouterr().out
    assert "official score" in table
    with open(results / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows, "results.csv is empty"
    official = sorted(p.name for p in (results / "official").iterdir())
    assert official == [
        "anomaly_score_fanny_section_00_test.csv",
        "anomaly_score_pumpy_section_00_test.csv",
        "decision_result_fanny_section_00_test.csv",
        "decision_result_pumpy_section_00_test.csv",
    ]
    # The anomalies carry a strong extra tone: the mean-log-mel 1-NN detector must find them all.
    result = pipeline.evaluate(manifest, scores, verbose=False)
    assert result.official_score > 0.95
    # The official CSVs read back give the same evaluation.
    again = pipeline.evaluate(manifest, results / "official", verbose=False)
    assert again.official_score == pytest.approx(result.official_score)


def test_rms_detector_scores_energy(tiny_dcase2022: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    pipeline.prepare(tiny_dcase2022, manifest, verbose=False)
    scores = pipeline.reference(manifest, tmp_path / "rms.csv", detector="rms")
    clips = read_manifest(manifest)
    from soundsentry.data.audio import load_audio

    wave = load_audio(clips[0].path, 16000)
    assert scores[0] == pytest.approx(np.sqrt(np.mean(wave.astype(np.float64) ** 2)), rel=1e-6)


def test_user_mistakes_print_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["prepare", str(tmp_path / "missing"), "-o", str(tmp_path / "m.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert "missing" in err and "does not exist" in err and "\n" not in err
    assert not (tmp_path / "m.jsonl").exists()

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.wav").write_bytes(b"")
    assert main(["prepare", str(tmp_path / "data"), "-o", str(tmp_path / "m.jsonl"), "--layout", "dcase2030"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown layout 'dcase2030'" in err and "\n" not in err


def test_evaluate_reports_a_missing_scores_file(tiny_dcase2022: Path, tmp_path: Path, capsys) -> None:
    manifest = tmp_path / "m.jsonl"
    pipeline.prepare(tiny_dcase2022, manifest, verbose=False)
    assert main(["evaluate", str(manifest), str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv: no such scores file" in capsys.readouterr().err


def test_list_names_every_registry(capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for expected in ("layouts: dcase2020", "front-ends:", "logmel", "mobilefacenet_net1", "arcface", "knn_cosine"):
        assert expected in out
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert {"logmel_hpss"} <= set(lines["front-ends"].split(", "))  # S5's parts are registered on import
    assert {"asc_mobilenetv2", "cp_resnet"} <= set(lines["backbones"].split(", "))
    assert "s5_asc_cpresnet_focal" in lines["recipes"]


def _clip(i: int, split: Split, label: Label, machine: str = "m") -> Clip:
    return Clip(path=f"/x/{machine}_{i}.wav", machine_type=machine, section="00", split=split, label=label)


def test_score_clips_out_of_fold_and_normal_only_fit() -> None:
    rng = np.random.default_rng(0)
    clips = [_clip(i, Split.TRAIN, Label.NORMAL) for i in range(10)]
    clips.append(_clip(10, Split.TRAIN, Label.ANOMALY))  # a labelled training anomaly must not be fitted on
    clips += [_clip(11, Split.TEST, Label.NORMAL), _clip(12, Split.TEST, Label.ANOMALY)]
    X = rng.normal(size=(13, 4))
    X[10] = X[12] = 50.0  # both anomalies sit far away, at the same point
    scores = score_clips(X, clips, "knn:k=1")
    assert np.all(np.isfinite(scores))
    assert np.all(scores[:10] > 0), "training normals must be scored out of fold, not against themselves"
    # Had the training anomaly been fitted on, the test anomaly would score 0.
    assert scores[12] > 10 * scores[11]


def test_score_clips_needs_training_clips_per_group() -> None:
    clips = [_clip(0, Split.TRAIN, Label.NORMAL, "a"), _clip(1, Split.TEST, Label.NORMAL, "b")]
    with pytest.raises(DataError, match="no training clips for b section 00"):
        score_clips(np.zeros((2, 3)), clips, "knn:k=1")


def test_evaluate_without_training_scores_writes_scores_but_no_decisions(tiny_dcase2022: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    clips = pipeline.prepare(tiny_dcase2022, manifest, verbose=False)
    from soundsentry.evaluation import write_scores

    test_clips = [c for c in clips if c.split is Split.TEST]
    rng = np.random.default_rng(0)
    write_scores(tmp_path / "s.csv", test_clips, rng.random(len(test_clips)))
    pipeline.evaluate(manifest, tmp_path / "s.csv", out_dir=tmp_path / "out", verbose=False)
    names = sorted(p.name for p in (tmp_path / "out" / "official").iterdir())
    assert names == ["anomaly_score_fanny_section_00_test.csv", "anomaly_score_pumpy_section_00_test.csv"]


def test_synth_sections_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from soundsentry.data.layouts import parse_dataset

    out = tmp_path / "data"
    assert main(["synth", str(out), "--scale", "0.05", "--seconds", "0.25", "--sections", "3"]) == 0
    assert {c.section for c in parse_dataset(out).clips} == {"00", "01", "02"}
    assert main(["synth", str(tmp_path / "bad"), "--sections", "0"]) == 2
    assert "sections must be 1-99, got 0" in capsys.readouterr().err
