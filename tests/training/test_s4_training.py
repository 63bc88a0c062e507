"""S4 end to end on the tiny data set: transfer learning, classifier logits for softmax_id, AUC + pAUC selection."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from soundsentry import stages
from soundsentry.config import load_recipe
from soundsentry.data.manifest import read_manifest
from soundsentry.errors import DataError
from soundsentry.training.trainer import build_head, restrict_head
from soundsentry.types import Split

# s4_demo_base shrunk for a test: 32 mels x 16 frames (0.5 s clips), ResNet-50 x0.125, 16-d, 2 epochs.
S4_TINY = [
    "frontend.n_mels=32",
    "features.clip_seconds=0.5",
    "features.chunk_width=16",
    "backbone.input_size=[32,16]",
    "backbone.width=0.125",
    "backbone.embed_dim=16",
    "train.epochs=2",
    "train.transfer_epochs=2",
    "train.batch_size=16",
    "train.val_fraction=0.4",
    "train.selection.every=1",
    "score.scorers=['softmax_id', 'centroid_cosine']",
]


def s4_tiny(name: str = "s4_demo_base", *extra: str):
    return load_recipe(name, [*S4_TINY, *extra])


@pytest.mark.slow
def test_transfer_fine_tunes_only_the_classifier_and_softmax_scores_its_logits(
    tiny_manifest: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    # A constant lr (the warm-up schedule's first epoch has lr 0, and selection may keep that epoch).
    recipe = s4_tiny("s4_demo_arcface_transfer", "train.scheduler={name: none}")
    stages.train(recipe, tiny_manifest, run)
    integrated = torch.load(run / "models/all/model.pt", weights_only=False)
    types = json.loads((run / "class_maps.json").read_text())
    assert sorted(types) == ["fan", "motor", "slider", "valve"] and types["fan"] == ["00", "01"]
    assert "all" in json.loads((run / "train_summary.json").read_text())
    for machine in types:
        tuned = torch.load(run / "models" / machine / "model.pt", weights_only=False)
        # Everything but the classifier (standardiser, backbone, batch-norm statistics) is the integrated model's.
        assert tuned["state_dict"].keys() == integrated["state_dict"].keys()
        for key, value in integrated["state_dict"].items():
            assert torch.equal(tuned["state_dict"][key], value), (machine, key)
        # The classifier started from the integrated rows of this type's IDs and was trained.
        start = build_head(recipe.head, 16, 2)
        rows = [integrated["classes"].index(f"{machine}/{s}") for s in tuned["classes"]]
        restrict_head(start, integrated["head_state_dict"], rows)
        assert not torch.equal(tuned["head_state_dict"]["weight"], start.weight), machine

    stages.extract(run)
    with np.load(run / "embeddings.npz") as data:
        logits, units, chunk, chunk_clip = (
            data["clip_logits"],
            data["units"],
            data["chunk_embeddings"],
            data["chunk_clip"],
        )
    assert logits.shape[1] == 2 and np.isfinite(logits).all()
    # Clip logits = mean over the clip's chunks of the head's logits of the chunk embeddings.
    fan = torch.load(run / "models/fan/model.pt", weights_only=False)
    head = build_head(recipe.head, 16, 2)
    head.load_state_dict(fan["head_state_dict"])
    first = int(np.flatnonzero(units == "fan")[0])
    with torch.no_grad():
        expected = head.eval().logits(torch.from_numpy(chunk[chunk_clip == first])).mean(0).numpy()
    np.testing.assert_allclose(logits[first], expected, rtol=1e-4, atol=1e-5)

    written = stages.score(run)
    assert [p.name for p in written] == ["softmax_id.csv", "centroid_cosine.csv"]
    with open(written[0], newline="") as f:
        scores = [float(row["anomaly_score"]) for row in csv.DictReader(f)]
    assert scores and all(0.0 <= s <= 1.0 for s in scores)

    # The detector bundle carries the per-type heads: it scores new clips as the score stage did.
    from soundsentry.deploy import Detector, export_detector

    with open(written[0], newline="") as f:
        by_path = {row["path"]: float(row["anomaly_score"]) for row in csv.DictReader(f)}
    detector = Detector(export_detector(run, tmp_path / "bundle"))  # the recipe's first scorer: softmax_id
    assert detector.uses_logits
    tests = [c for c in read_manifest(run / "manifest.jsonl") if c.split is Split.TEST][:6]
    results = detector.score_files([(c.path, c.machine_type, c.section) for c in tests])
    np.testing.assert_allclose([r.score for r in results], [by_path[c.path] for c in tests], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_selection_keeps_the_epoch_of_the_largest_auc_plus_pauc(tiny_manifest: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    stages.train(s4_tiny("s4_demo_base", "train.epochs=3", "train.mode=per_machine_type"), tiny_manifest, run)
    with open(run / "models/fan/logs/metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val_auc_pauc")]
    values = [float(r["val_auc_pauc"]) for r in rows]
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2] and all(0 <= v <= 2 for v in values)
    best = torch.load(run / "models/fan/best.ckpt", weights_only=False)
    assert best["epoch"] == int(np.argmax(values))  # the first of equal maxima
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["selection"] == "held-out normals + pseudo-anomalies" and summary["fan"]["checkpoint"] == "best.ckpt"


@pytest.mark.slow
def test_selection_on_test_is_explicit_and_recorded_and_run_draws_the_embedding_map(
    tiny_data: Path, tiny_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    stages.run("s4_demo_base", tiny_data, run, [*S4_TINY, "train.epochs=1", "train.selection.on_test=true"])
    out = capsys.readouterr().out
    assert "AUC + pAUC every 1 epochs on THE TEST SET (train.selection.on_test=true)" in out
    assert "selected on THE TEST SET" in (run / "results" / "SELECTED_ON_TEST.txt").read_text()
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["selection"]["on_test"] is True
    assert "TEST SET" in json.loads((run / "train_summary.json").read_text())["selection"]
    png = run / "results" / "embedding_map_all.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A labelled validation manifest (here the same clips) is the other way to select on real anomalies.
    other = tmp_path / "other"
    recipe = s4_tiny("s4_demo_base", "train.epochs=1", f"train.selection.data={tiny_manifest}")
    stages.train(recipe, tiny_manifest, other)
    assert json.loads((other / "train_summary.json").read_text())["selection"] == str(tiny_manifest)
    with pytest.raises(DataError, match="nope.jsonl: train.selection.data names no manifest file"):
        stages.train(s4_tiny("s4_demo_base", "train.selection.data=nope.jsonl"), tiny_manifest, tmp_path / "x")
