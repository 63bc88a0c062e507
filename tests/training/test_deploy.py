"""Detector bundles: export a trained run, load it without the run, score files, thresholds, damaged bundles."""

from __future__ import annotations

import csv
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from soundsentry import stages
from soundsentry.cli import main
from soundsentry.data.audio import write_audio
from soundsentry.data.manifest import read_manifest
from soundsentry.deploy import BundleError, Detector, export_detector, normalise_section, score_dir
from soundsentry.errors import ConfigError, DataError
from soundsentry.evaluation.threshold import fit_gamma_threshold
from soundsentry.scoring import is_fit_clip, score_clips
from soundsentry.types import Split


@pytest.fixture(scope="module")
def trained_run(tiny_data: Path, tiny_overrides: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("deploy_run")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stages.run("s1_arcface_mfn_demo", tiny_data, run_dir, [*tiny_overrides, "train.epochs=1"])
    return run_dir


@pytest.fixture(scope="module")
def bundle(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_detector(trained_run, tmp_path_factory.mktemp("bundle") / "detector")


def _run_scores(run_dir: Path, spec_file: str) -> dict[str, float]:
    with open(run_dir / "scores" / spec_file, newline="") as f:
        return {row["path"]: float(row["anomaly_score"]) for row in csv.DictReader(f)}


def test_loaded_detector_scores_exactly_as_the_run(trained_run: Path, bundle: Path) -> None:
    detector = Detector(bundle)
    expected = _run_scores(trained_run, "knn_cosine_k=3.csv")  # the recipe's first scorer
    tests = [c for c in read_manifest(trained_run / "manifest.jsonl") if c.split is Split.TEST]
    results = detector.score_files([(c.path, c.machine_type, c.section) for c in tests])
    assert [r.decision for r in results if r.decision == "error"] == []
    got = np.array([r.score for r in results])
    np.testing.assert_allclose(got, [expected[c.path] for c in tests], rtol=1e-5, atol=1e-6)
    for r in results:
        assert r.decision == ("anomaly" if r.score > r.threshold else "normal")


def test_a_softmax_id_detector_scores_exactly_as_the_run(trained_run: Path, tmp_path: Path) -> None:
    """S4's logits scorer in a bundle: the head's clip logits and each group's own class travel with it."""
    stages.score(trained_run, ["softmax_id"])
    expected = _run_scores(trained_run, "softmax_id.csv")
    detector = Detector(export_detector(trained_run, tmp_path / "softmax"))
    assert detector.uses_logits is False
    detector = Detector(export_detector(trained_run, tmp_path / "softmax_id", scorer="softmax_id"))
    assert detector.uses_logits
    with np.load(detector.path / detector.group("fan", "01").bank) as bank:
        assert int(bank["class_index"]) == 1 and bank["embeddings"].shape[1] == 2  # fan's unit: 2 sections
    tests = [c for c in read_manifest(trained_run / "manifest.jsonl") if c.split is Split.TEST]
    results = detector.score_files([(c.path, c.machine_type, c.section) for c in tests])
    assert [r.error for r in results if r.error] == []
    np.testing.assert_allclose([r.score for r in results], [expected[c.path] for c in tests], rtol=1e-5, atol=1e-6)
    assert all(0.0 <= r.score <= 1.0 for r in results)  # 1 - a probability
    fit = [c for c in read_manifest(trained_run / "manifest.jsonl") if is_fit_clip(c)]
    # the score stage's out-of-fold scores of the group's source training clips (its one target clip is too few
    # for a threshold of its own, deploy/thresholds.py)
    idx = [i for i, c in enumerate(fit) if c.group == ("fan", "00") and c.domain.value == "source"]
    train_scores = np.array([expected[fit[i].path] for i in idx])
    assert detector.group("fan", "00").threshold == pytest.approx(fit_gamma_threshold(train_scores, 0.9))


def test_bundle_loads_without_the_run_or_training_data(trained_run: Path, bundle: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere"
    shutil.copytree(bundle, moved)
    meta = json.loads((moved / "detector.json").read_text())
    assert sorted(meta["files"]) == sorted(
        str(p.relative_to(moved)) for p in moved.rglob("*") if p.is_file() and p.name != "detector.json"
    )
    detector = Detector(moved)
    assert {(g["machine_type"], g["section"]) for g in detector.info()["groups"]} == {
        (t, s) for t in ("fan", "motor", "slider", "valve") for s in ("00", "01")
    }


def test_gamma_threshold_is_the_fit_on_out_of_fold_training_scores(trained_run: Path, bundle: Path) -> None:
    clips = [c for c in read_manifest(trained_run / "manifest.jsonl") if is_fit_clip(c)]
    features = stages.load_embeddings(trained_run, clips).astype(np.float64)
    oof = score_clips(features, clips, "knn_cosine:k=3")
    info = Detector(bundle).group("fan", "00")
    idx = [i for i, c in enumerate(clips) if c.group == ("fan", "00")]
    source = [i for i in idx if clips[i].domain.value == "source"]
    # the source clips' own threshold; the one target clip is too few for its own: the source's decides a clip of
    # unknown domain and the target's (deploy/thresholds.py)
    own = fit_gamma_threshold(oof[source], 0.9)
    assert info.domains["source"]["threshold"] == pytest.approx(own) == info.threshold
    assert info.domains["target"]["threshold"] == pytest.approx(own) and not info.domains["target"]["own"]
    assert info.expected_false_alarm_rate == pytest.approx(0.1)
    assert info.measured_false_alarm_rate == pytest.approx(np.mean(oof[idx] > info.threshold))


def test_quantile_threshold_and_rate(trained_run: Path, tmp_path: Path) -> None:
    out = export_detector(trained_run, tmp_path / "q", method="quantile", percentile=0.75, scorer="mahalanobis")
    detector = Detector(out)
    assert detector.scorer_spec == "mahalanobis"
    for info in detector.groups.values():
        assert info.method == "quantile"
        assert info.expected_false_alarm_rate == pytest.approx(0.25)
        # at most the stated rate on each domain calibrated on its own clips (the one target clip is not)
        rates = [d["measured_false_alarm_rate"] for d in info.domains.values() if d["estimate"] is not None]
        assert len(rates) == 1 and rates[0] <= 0.25 + 1e-9


def test_export_refuses_bad_options_and_existing_folders(trained_run: Path, bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="exists"):
        export_detector(trained_run, bundle)
    with pytest.raises(ConfigError, match="threshold method"):
        export_detector(trained_run, tmp_path / "a", method="median")
    with pytest.raises(ConfigError, match="percentile"):
        export_detector(trained_run, tmp_path / "b", percentile=1.5)
    with pytest.raises(ConfigError, match="unknown scorer"):
        export_detector(trained_run, tmp_path / "c", scorer="nope")
    assert not any(tmp_path.iterdir())  # nothing half-written
    with pytest.raises(DataError, match="no config.yaml"):
        export_detector(tmp_path, tmp_path / "d")


def test_damaged_or_foreign_bundles_are_refused_in_one_line(bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no such detector folder"):
        Detector(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="not a soundsentry detector"):
        Detector(tmp_path / "empty")

    edited = shutil.copytree(bundle, tmp_path / "edited")
    bank = next((edited / "banks").iterdir())
    bank.write_bytes(bank.read_bytes()[:-3] + b"xyz")
    with pytest.raises(BundleError, match="checksum mismatch"):
        Detector(edited)

    future = shutil.copytree(bundle, tmp_path / "future")
    meta = json.loads((future / "detector.json").read_text())
    meta["format"] = 99
    (future / "detector.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="format 99.*export the run again"):
        Detector(future)

    incomplete = shutil.copytree(bundle, tmp_path / "incomplete")
    next((incomplete / "models").iterdir()).unlink()
    with pytest.raises(BundleError, match="missing"):
        Detector(incomplete)


def test_score_dir_reports_bad_files_and_goes_on(bundle: Path, tiny_data: Path, tmp_path: Path) -> None:
    detector = Detector(bundle)
    folder = tmp_path / "new"
    shutil.copytree(tiny_data / "fan" / "test", folder / "fan" / "test")
    n_good = len(list(folder.rglob("*.wav")))
    (folder / "fan" / "test" / "section_00_source_test_normal_9999_x.wav").write_bytes(b"RIFF not audio")
    write_audio(folder / "fan" / "test" / "weird_name.wav", np.zeros(8000, dtype=np.float32), 16000)
    results, summary = score_dir(detector, folder, tmp_path / "out.csv", progress=False)
    assert summary.n_clips == n_good + 2 and summary.n_errors == 2
    by_name = {Path(r.path).name: r for r in results}
    assert by_name["weird_name.wav"].decision == "error"
    assert "layout" in by_name["weird_name.wav"].error
    corrupt = by_name["section_00_source_test_normal_9999_x.wav"]
    assert corrupt.decision == "error" and corrupt.error and "\n" not in corrupt.error
    with open(tmp_path / "out.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == summary.n_clips
    assert {row["decision"] for row in rows} <= {"normal", "anomaly", "error"}


def test_score_dir_plain_folder_with_given_machine(bundle: Path, tiny_data: Path, tmp_path: Path) -> None:
    detector = Detector(bundle)
    plain = tmp_path / "plain"
    plain.mkdir()
    for i, path in enumerate(sorted((tiny_data / "valve" / "test").glob("*.wav"))[:3]):
        shutil.copy(path, plain / f"rec{i}.wav")
    results, summary = score_dir(detector, plain, tmp_path / "p.csv", machine_type="valve", section="1", progress=False)
    assert summary.n_errors == 0 and {(r.machine_type, r.section) for r in results} == {("valve", "01")}
    results, summary = score_dir(detector, plain, tmp_path / "u.csv", machine_type="pump", progress=False)
    assert summary.n_errors == 3 and "this detector knows" in results[0].error


def test_cli_export_and_score_dir(trained_run: Path, tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "det"
    assert main(["export", str(trained_run), "-o", str(out), "--false-alarm-rate", "0.05"]) == 0
    assert Detector(out).group("fan", "0").expected_false_alarm_rate == pytest.approx(0.05)
    assert main(["export", str(trained_run), "-o", str(out)]) == 2  # exists, no --force
    assert main(["export", str(trained_run), "-o", str(tmp_path / "x"), "--false-alarm-rate", "2"]) == 2
    assert main(["score-dir", str(out), str(tiny_data / "slider"), "-o", str(tmp_path / "r.csv")]) == 0
    assert main(["score-dir", str(out), str(tmp_path / "nothing"), "-o", str(tmp_path / "r.csv")]) == 2


@pytest.mark.parametrize(
    ("raw", "expected"), [(0, "00"), ("1", "01"), ("00", "00"), ("section_02", "02"), ("id_04", "04")]
)
def test_normalise_section(raw, expected) -> None:
    assert normalise_section(raw) == expected
