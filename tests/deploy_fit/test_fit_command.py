"""``soundsentry fit``: from a plain folder of one machine's normal clips to a detector that separates normal from
anomalous test clips; the held-out split; the method it picks; its refusals; nothing half-written."""

from __future__ import annotations

import csv
import json
import random
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from soundsentry.cli import main
from soundsentry.deploy.bundle import HELD_OUT
from soundsentry.deploy.fit import DEFAULT_RECIPE, choose_method, holdout_split
from soundsentry.errors import ConfigError
from soundsentry.types import Clip, Domain, Label, Split

pytestmark = pytest.mark.slow


def _cli(*args: str) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return main([str(a) for a in args])


@pytest.fixture(scope="module")
def fitted(one_machine: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    plain, _ = one_machine
    out = tmp_path_factory.mktemp("fit") / "detector"
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert _cli("fit", plain, "-o", out, "--false-alarm-rate", "0.1") == 0
    return out, printed.getvalue()


def test_fit_then_score_dir_separates_normal_from_anomalous_clips(
    one_machine: tuple[Path, Path], fitted: tuple[Path, str], tmp_path: Path
) -> None:
    _, test_dir = one_machine
    detector, _ = fitted
    results = tmp_path / "results.csv"
    assert _cli("score-dir", detector, test_dir, "-o", results, "--machine-type", "pump1", "--section", "00") == 0
    with open(results, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(list(test_dir.glob("*.wav"))) >= 10
    assert all(r["decision"] in {"normal", "anomaly"} and not r["error"] for r in rows)
    y = [Path(r["path"]).name.split("_")[4] == "anomaly" for r in rows]
    assert 0 < sum(y) < len(y)
    auc = roc_auc_score(y, [float(r["anomaly_score"]) for r in rows])
    # The generated set's anomalies have a random severity, many barely audible: the flagship's source-domain AUC
    # on one unit of it is 0.64 here (the ``run`` stage on the same clips gives the same), 0.6-0.85 on others.
    assert auc >= 0.6, f"AUC {auc:.2f}: the fitted detector does no better than chance"


def test_fit_then_score_dir_finds_clear_anomalies(two_domains: Path, tmp_path: Path) -> None:
    """Clear faults (an off-harmonic tone) in a plain folder's machine: nearly every anomaly ranks above the normals."""
    plain, test = tmp_path / "press", tmp_path / "test"
    plain.mkdir()
    test.mkdir()
    for i, clip in enumerate(sorted((two_domains / "fan" / "train").glob("*_source_*.wav"))):
        shutil.copy(clip, plain / f"{i}.wav")
    for clip in (two_domains / "fan" / "test").glob("*_source_*.wav"):
        shutil.copy(clip, test / clip.name)
    assert _cli("fit", plain, "-o", tmp_path / "detector") == 0
    out = tmp_path / "results.csv"
    assert _cli("score-dir", tmp_path / "detector", test, "-o", out, "--machine-type", "press") == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    y = ["_anomaly_" in Path(r["path"]).name for r in rows]
    assert roc_auc_score(y, [float(r["anomaly_score"]) for r in rows]) >= 0.9


def test_fit_says_which_method_and_why_and_the_held_out_false_alarm_rates(fitted: tuple[Path, str]) -> None:
    detector, printed = fitted
    assert f"method: {DEFAULT_RECIPE}:" in printed and "needs no classes" in printed
    assert "single class" in printed  # one machine, one section: why not a classifier
    assert "false alarms on held-out normals (stated 10 %)" in printed and "source" in printed
    meta = json.loads((detector / "detector.json").read_text())
    (group,) = meta["groups"]
    assert (group["machine_type"], group["section"]) == ("pump1", "00")
    assert group["calibration"] == HELD_OUT and group["expected_false_alarm_rate"] == pytest.approx(0.1)
    # 8 held out: an estimate that sets the domain-unknown threshold, too few to decide alone
    assert group["domains"]["source"]["estimate"] == pytest.approx(group["threshold"])
    assert group["domains"]["source"]["n"] == 8 and not group["domains"]["source"]["own"]
    assert meta["fit"]["recipe"] == DEFAULT_RECIPE and meta["run"] == str((detector / "run").resolve())
    held = json.loads((detector / "run" / "calibration.json").read_text())["clips"]
    assert len(held) == group["domains"]["source"]["n"] == meta["manifest_summary"]["held_out_normal_clips"]
    trained = {json.loads(line)["path"] for line in (detector / "run" / "manifest.jsonl").read_text().splitlines()}
    assert set(held) <= trained and meta["manifest_summary"]["normal_training_clips"] == len(trained) - len(held)
    assert not [p for p in detector.parent.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_export_of_a_fit_run_calibrates_on_its_held_out_clips(fitted: tuple[Path, str], tmp_path: Path) -> None:
    detector, _ = fitted
    assert _cli("export", detector / "run", "-o", tmp_path / "again", "--false-alarm-rate", "0.1") == 0
    again = json.loads((tmp_path / "again" / "detector.json").read_text())["groups"]
    first = json.loads((detector / "detector.json").read_text())["groups"]
    assert [g["threshold"] for g in again] == pytest.approx([g["threshold"] for g in first])
    assert [g["calibration"] for g in again] == [HELD_OUT]


def _clips(n: int, domain: Domain, section: str = "00") -> list[Clip]:
    return [Clip(f"/d/{section}_{domain.value}_{i:03d}.wav", "fan", section, domain) for i in range(n)]


def test_holdout_split_per_group_and_domain_seeded_and_order_free() -> None:
    clips = _clips(20, Domain.SOURCE) + _clips(5, Domain.TARGET) + _clips(1, Domain.SOURCE, "01")
    kept, held = holdout_split(clips, 0.2, seed=0)
    count = {(c.section, c.domain): 0 for c in clips}
    for c in held:
        count[(c.section, c.domain)] += 1
    # 20 source: 20 %; 5 target: raised to 3 for a threshold of its own, 2 kept; 1 clip: kept for training
    assert count == {("00", Domain.SOURCE): 4, ("00", Domain.TARGET): 3, ("01", Domain.SOURCE): 0}
    assert all(c.split is Split.TEST and c.label is Label.NORMAL for c in held)
    assert {c.path for c in kept} | {c.path for c in held} == {c.path for c in clips}
    shuffled = list(clips)
    random.Random(1).shuffle(shuffled)
    assert {c.path for c in holdout_split(shuffled, 0.2, seed=0)[1]} == {c.path for c in held}
    assert {c.path for c in holdout_split(clips, 0.2, seed=1)[1]} != {c.path for c in held}


def test_choose_method_default_classifier_only_with_classes_and_no_autoencoder(tmp_path: Path) -> None:
    one = _clips(6, Domain.SOURCE)
    two = one + _clips(6, Domain.SOURCE, "01")
    assert choose_method(None, (), one, tmp_path).recipe.name == DEFAULT_RECIPE
    assert "--recipe" in choose_method(None, (), two, tmp_path).reason
    asked = choose_method("s1_arcface_mfn_demo", (), two, tmp_path)
    assert asked.recipe.name == "s1_arcface_mfn_demo" and "2 classes" in asked.reason
    with pytest.raises(ConfigError, match=r"needs at least 2 classes, but the data has 1 \(fan/00\).*sentry_flagship"):
        choose_method("s1_arcface_mfn_demo", (), one, tmp_path)
    with pytest.raises(ConfigError, match="autoencoder"):
        choose_method("dcase_ae_baseline_demo", (), two, tmp_path)


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_fit_refusals_are_one_line_and_leave_nothing(
    one_machine: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain, _ = one_machine
    out = tmp_path / "detector"
    assert _cli("fit", plain, "-o", out, "--recipe", "s1_arcface_mfn_demo") == 2
    line = _one_error_line(capsys)
    assert str(plain) in line and "needs at least 2 classes" in line and "sentry_flagship" in line
    assert _cli("fit", plain, "-o", out, "--holdout", "1.5") == 2
    assert "--holdout" in _one_error_line(capsys)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _cli("fit", empty, "-o", out) == 2
    _one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # no detector, no staging folder
    out.mkdir()
    assert _cli("fit", plain, "-o", out) == 2
    assert "--force" in _one_error_line(capsys)


def test_scores_of_a_fit_detector_are_finite(fitted: tuple[Path, str], one_machine: tuple[Path, Path]) -> None:
    from soundsentry.deploy import Detector

    detector = Detector(fitted[0])
    result = detector.score_file(sorted(one_machine[1].glob("*.wav"))[0], "pump1", "00")
    assert np.isfinite(result.score) and result.threshold == detector.group("pump1", "00").threshold
