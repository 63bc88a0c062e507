"""Choosing each stage's best epoch on held-out training clips instead of the evaluation split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from soundsentry.errors import ConfigError
from soundsentry.scenes.config import load_scene_recipe
from soundsentry.scenes.prepare import SceneData
from soundsentry.scenes.run import holdout_indices, run_scene_recipe, stage_inputs


def test_holdout_takes_a_seeded_share_of_every_class_and_never_all_of_one() -> None:
    y = np.array([0] * 20 + [1] * 10 + [2] * 2)
    held = holdout_indices(y, 0.1, seed=0)
    assert np.bincount(y[held], minlength=3).tolist() == [2, 1, 1]
    np.testing.assert_array_equal(held, holdout_indices(y, 0.1, seed=0))
    assert not np.array_equal(held, holdout_indices(y, 0.1, seed=1))
    assert np.bincount(y[holdout_indices(y, 0.9, seed=0)], minlength=3).tolist() == [18, 9, 1]


def test_held_out_clips_are_not_trained_on() -> None:
    n = 6
    x = np.arange(2 * n, dtype=np.float32).reshape(2, n, 1, 1, 1)  # originals and one augmented copy
    data = SceneData([], [None] * n, np.array([0, 2, 4, 5]), [], x, np.arange(n) % 2, x[0], np.zeros(n), x, 16000)
    held = np.array([2, 5])
    features, labels = stage_inputs(data, balanced=False, augment=True, exclude=held)
    assert sorted(features.ravel().tolist()) == [0, 1, 3, 4, 6, 7, 9, 10]
    assert labels.tolist() == [0, 1, 1, 0, 0, 1, 1, 0]
    balanced, _ = stage_inputs(data, balanced=True, augment=False, exclude=held)
    assert balanced.ravel().tolist() == [0, 4]


def test_select_on_is_validated() -> None:
    with pytest.raises(ConfigError, match="train.select_on must be one of evaluate, holdout, got 'test'"):
        load_scene_recipe("s5_asc_mobilenetv2_focal_demo", ["train.select_on=test"])
    with pytest.raises(ConfigError, match=r"train.holdout_fraction must be in \(0, 1\)"):
        load_scene_recipe("s5_asc_mobilenetv2_focal_demo", ["train.select_on=holdout", "train.holdout_fraction=1"])


@pytest.mark.slow
def test_run_with_holdout_selection_records_it(tiny_scenes: Path, tmp_path: Path) -> None:
    settings = ["stages.0.epochs=1", "inference.tta_copies=2", "augment.wave=[volume]", "train.select_on=holdout"]
    settings += ["inference.export_onnx=false", "train.holdout_fraction=0.3"]
    recipe = load_scene_recipe("s5_asc_mobilenetv2_focal_demo", settings)
    logs: list[str] = []
    summary = run_scene_recipe(recipe, tiny_scenes, tmp_path, log=logs.append)
    assert summary["selected_on"] == "holdout"
    assert any("held-out training clips (train.select_on: holdout)" in line for line in logs)
    assert json.loads((tmp_path / "summary.json").read_text())["selected_on"] == "holdout"
