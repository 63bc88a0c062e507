"""Scene metrics against scikit-learn, TTA averaging, report files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, recall_score

from soundsentry.scenes.report import scene_metrics, softmax, tta_probabilities, write_scene_report

CLASSES = ["airport", "bus", "park"]


def _case() -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 40)
    logits = rng.normal(size=(40, 3)) + 2 * np.eye(3)[y]
    devices = ["a", "b", "s1", "s2"] * 10
    return softmax(logits), y, devices


def test_metrics_match_scikit_learn() -> None:
    prob, y, devices = _case()
    m = scene_metrics(prob, y, CLASSES, devices)
    pred = prob.argmax(axis=1)
    assert m.accuracy == accuracy_score(y, pred)
    assert abs(m.log_loss - log_loss(y, prob, labels=[0, 1, 2])) < 1e-9
    np.testing.assert_array_equal(m.confusion, confusion_matrix(y, pred, labels=[0, 1, 2]))
    recall = recall_score(y, pred, labels=[0, 1, 2], average=None)
    assert [m.per_class[c] for c in CLASSES] == list(recall)
    dev = np.array(devices)
    assert m.per_device["s1"] == accuracy_score(y[dev == "s1"], pred[dev == "s1"])


def test_tta_softmax_comes_after_averaging() -> None:
    logits = np.array([[[4.0, 0.0]], [[0.0, 1.0]]])  # two copies of one clip
    got = tta_probabilities(logits)
    np.testing.assert_allclose(got, softmax(np.array([[2.0, 0.5]])))
    averaged_probs = softmax(logits[0]) / 2 + softmax(logits[1]) / 2
    assert not np.allclose(got, averaged_probs)


def test_report_files(tmp_path: Path) -> None:
    prob, y, devices = _case()
    m = write_scene_report(tmp_path, prob, y, CLASSES, devices, title="test")
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["accuracy"] == m.accuracy and saved["confusion"] == m.confusion
    rows = (tmp_path / "confusion.csv").read_text().splitlines()
    assert rows[0] == "true \\ predicted,airport,bus,park" and len(rows) == 4
    assert (tmp_path / "devices.csv").read_text().splitlines()[0] == "device,airport,bus,park,overall"
    assert (tmp_path / "per_class.csv").read_text().count("\n") == 4
    assert (tmp_path / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary files left
