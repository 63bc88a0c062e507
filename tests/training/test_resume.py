"""A run resumed from last.ckpt at an epoch boundary reproduces the uninterrupted run bit for bit (CPU)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from soundsentry.data.manifest import read_manifest
from soundsentry.training.data import training_units
from soundsentry.training.trainer import fit_unit


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def test_resume_reproduces_uninterrupted_training(tiny_manifest: Path, tiny_recipe, tmp_path: Path) -> None:
    # per-batch cosine schedule with a 1-epoch cycle, momentum and a validation split: every piece of state matters
    extra = ["train.scheduler.interval=step", "train.scheduler.T_0=1", "train.batch_size=8"]
    clips = training_units(read_manifest(tiny_manifest), "per_machine_type")["fan"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_unit(tiny_recipe("train.epochs=2", *extra), "fan", clips, tmp_path / "straight")
        fit_unit(tiny_recipe("train.epochs=1", *extra), "fan", clips, tmp_path / "resumed")
        after_one = _state(tmp_path / "resumed" / "last.ckpt")
        fit_unit(tiny_recipe("train.epochs=2", *extra), "fan", clips, tmp_path / "resumed", resume=True)
    straight, resumed = _state(tmp_path / "straight" / "last.ckpt"), _state(tmp_path / "resumed" / "last.ckpt")
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key
    assert any(not torch.equal(after_one[k], resumed[k]) for k in after_one), "second epoch changed nothing"
    for run in ("straight", "resumed"):  # last.ckpt is the last epoch even when validation loss did not improve
        ckpt = torch.load(tmp_path / run / "last.ckpt", map_location="cpu", weights_only=False)
        assert ckpt["epoch"] == 1, run
