"""Issue 15, items 7 and 9: ``evaluate`` reports AUC / pAUC 50 for constant scores as the official evaluator does,
and writes its output folder atomically (replaced as a whole; never a mix of two evaluations)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from soundsentry import evaluation, pipeline
from soundsentry.cli import main
from soundsentry.data.manifest import read_manifest
from soundsentry.errors import DataError
from soundsentry.evaluation import fit_gamma_threshold


@pytest.fixture
def manifest(tiny_dcase2022: Path, tmp_path: Path) -> Path:
    path = tmp_path / "manifest.jsonl"
    pipeline.prepare(tiny_dcase2022, path, verbose=False)
    return path


def _scores(manifest: Path, path: Path, values: np.ndarray | float) -> Path:
    clips = read_manifest(manifest)
    column = np.broadcast_to(np.asarray(values, dtype=float), (len(clips),))
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "anomaly_score"])
        writer.writerows((c.path, repr(float(v))) for c, v in zip(clips, column, strict=True))
    return path


def _rows(results_csv: Path) -> list[dict[str, str]]:
    with results_csv.open(newline="") as f:
        return list(csv.DictReader(f))


def test_constant_scores_give_auc_and_pauc_50(manifest: Path, tmp_path: Path, capsys) -> None:
    scores = _scores(manifest, tmp_path / "constant.csv", 1.0)
    out = tmp_path / "results"
    assert main(["evaluate", str(manifest), str(scores), "-o", str(out)]) == 0
    assert "official score 50.00%" in capsys.readouterr().out
    sections = [r for r in _rows(out / "results.csv") if r["level"] == "section"]
    assert sections
    for row in sections:
        for column in ("AUC (source)", "AUC (target)", "pAUC", "AUC (all)"):
            assert float(row[column]) == pytest.approx(0.5), (row["machine_type"], column)
    # the official evaluators' scikit-learn calls on the same ties
    labels = [0, 1, 0, 1]
    assert roc_auc_score(labels, [1.0] * 4) == 0.5 == roc_auc_score(labels, [1.0] * 4, max_fpr=0.1)
    decisions = sorted((out / "official").glob("decision_result_*.csv"))
    assert decisions, "a constant detector still gets decisions (every clip normal)"
    for path in decisions:
        assert {line.rsplit(",", 1)[1] for line in path.read_text().split()} == {"0"}


def test_constant_training_scores_message_shows_the_plain_value() -> None:
    with pytest.raises(DataError, match=r"all 3 training scores equal 2; a gamma") as info:
        fit_gamma_threshold(np.array([2.0, 2.0, 2.0]))
    assert "np.float64" not in str(info.value)


def test_evaluate_replaces_the_output_folder_as_a_whole(manifest: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    out = tmp_path / "results"
    pipeline.evaluate(manifest, _scores(manifest, tmp_path / "a.csv", rng.random(44)), out_dir=out, verbose=False)
    stale = out / "official" / "anomaly_score_oldtype_section_07_test.csv"  # as another manifest's evaluation left it
    stale.write_text("x.wav,1.0\n")
    before = (out / "results.csv").read_text()
    pipeline.evaluate(manifest, _scores(manifest, tmp_path / "b.csv", rng.random(44)), out_dir=out, verbose=False)
    assert not stale.exists()
    assert (out / "results.csv").read_text() != before
    assert sorted(p.name for p in out.iterdir()) == ["official", "results.csv", "results.md"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_failed_evaluation_leaves_the_previous_folder_untouched(manifest: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "results"
    pipeline.evaluate(manifest, _scores(manifest, tmp_path / "a.csv", np.arange(44.0)), out_dir=out, verbose=False)
    files = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def crash(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OSError("disk full")

    monkeypatch.setattr(evaluation, "write_official_csvs", crash)
    with pytest.raises(OSError, match="disk full"):
        pipeline.evaluate(manifest, _scores(manifest, tmp_path / "b.csv", -np.arange(44.0)), out_dir=out, verbose=False)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == files
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("kind", ["foreign file", "file"])
def test_evaluate_refuses_an_output_it_cannot_replace(manifest: Path, tmp_path: Path, capsys, kind: str) -> None:
    scores = _scores(manifest, tmp_path / "s.csv", np.arange(44.0))
    out = tmp_path / "out"
    if kind == "file":
        out.write_text("mine")
        expected = f"{out} is a file"
    else:
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        expected = f"{out} holds files that no evaluation wrote (e.g. notes.txt)"
    assert main(["evaluate", str(manifest), str(scores), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err
    assert (out / "notes.txt" if kind != "file" else out).read_text() == "mine"
