"""Focal loss, learning-rate schedules, freezing, best-epoch selection and resuming of the four-stage workflow."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from soundsentry.registry import BACKBONES
from soundsentry.scenes.config import StageConfig, load_scene_recipe
from soundsentry.scenes.models import SceneClassifier
from soundsentry.scenes.train import SceneModel, begin_stage, focal_loss, run_stage, stage_lr


def test_focal_loss_against_a_hand_computation() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    y = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.3, 0.7]])
    p = torch.softmax(logits, dim=1)
    expected = (
        -(
            (1 - p[0, 0]) ** 2 * torch.log(p[0, 0])
            + 0.3 * (1 - p[1, 1]) ** 2 * torch.log(p[1, 1])
            + 0.7 * (1 - p[1, 2]) ** 2 * torch.log(p[1, 2])
        )
        / 2
    )
    torch.testing.assert_close(focal_loss(logits, y, alpha=1.0, gamma=2.0), expected)
    ce = F.cross_entropy(logits, y)  # gamma = 0 is cross-entropy
    torch.testing.assert_close(focal_loss(logits, y, alpha=1.0, gamma=0.0), ce)


def test_schedules() -> None:
    cos = StageConfig(kind="focal", schedule="cosine_restarts", lr=1e-2, lr_min=1e-3, T_0=10)
    assert stage_lr(cos, 0, 0) == pytest.approx(1e-2)
    assert stage_lr(cos, 5, 0) == pytest.approx(5.5e-3)
    assert stage_lr(cos, 9, 0) > 1e-3 and stage_lr(cos, 10, 0) == pytest.approx(1e-2)  # restart
    exp = StageConfig(kind="retrain_top", schedule="exponential", lr=1e-3, decay=3.33e-5)
    assert stage_lr(exp, 3, 1000) == pytest.approx(1e-3 * math.exp(-0.0333))
    assert stage_lr(StageConfig(kind="focal", lr=0.05), 7, 99) == 0.05


def _model(classes: int = 3) -> SceneModel:
    torch.manual_seed(0)
    return SceneModel(SceneClassifier(BACKBONES.create("asc_mobilenetv2"), classes))


def test_stages_freeze_and_replace_the_right_layers() -> None:
    # cut_layers 10-12 (the new-neck reading); the default 11-13 is tested in test_scene_fidelity.py.
    model = _model()
    body = model.classifier.body
    old_top = model.classifier.top
    params = begin_stage(model, StageConfig(kind="arcface_head", margin=0.35), 3, 64, "10-12")
    assert not any(p.requires_grad for p in body.parameters())
    assert model.head is not None and model.head.margin == 0.35 and model.head.scale == 30.0
    assert {id(p) for p in params} == {id(p) for p in [*model.neck.parameters(), *model.head.parameters()]}
    params = begin_stage(model, StageConfig(kind="arcface_all"), 3, 64, "10-12")
    assert all(p.requires_grad for p in body.parameters()) and len(params) > len(list(body.parameters()))
    params = begin_stage(model, StageConfig(kind="retrain_top"), 3, 64, "10-12")
    assert model.head is None and model.classifier.top is not old_top
    assert {id(p) for p in params} == {id(p) for p in model.classifier.top.parameters()}
    assert not any(p.requires_grad for p in body.parameters())


def _data(n: int = 12, classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    y = torch.arange(n) % classes
    x = torch.rand(n, 3, 32, 16, generator=g) + y[:, None, None, None].float()  # separable
    return x, y


def test_frozen_body_is_not_changed(tmp_path: Path) -> None:
    recipe = load_scene_recipe("s5_asc_mobilenetv2_arcface_demo")
    x, y = _data()
    model = _model()
    run_stage(model, recipe.stages[0], 1, recipe, x, y, x, y, tmp_path / "s1")
    before = {k: v.clone() for k, v in model.classifier.body.state_dict().items()}
    stage = StageConfig(kind="arcface_head", epochs=2, augment=False)
    info = run_stage(model, stage, 2, recipe, x, y, x, y, tmp_path / "s2")
    after = model.classifier.body.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and batch-norm statistics
    assert (tmp_path / "s2" / "best.pt").is_file() and (tmp_path / "s2" / "done.json").is_file()
    assert 1 <= info["best_epoch"] <= 2


def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path: Path) -> None:
    recipe = load_scene_recipe("s5_asc_mobilenetv2_focal_demo")
    x, y = _data()
    stage = StageConfig(kind="focal", epochs=3, schedule="cosine_restarts", T_0=2, lr=0.05)
    full = _model()
    info_full = run_stage(full, stage, 1, recipe, x, y, x, y, tmp_path / "full")
    part = _model()
    run_stage(part, StageConfig(**{**stage.__dict__, "epochs": 2}), 1, recipe, x, y, x, y, tmp_path / "part")
    (tmp_path / "part" / "done.json").unlink()  # as if stopped after epoch 2
    logs: list[str] = []
    resumed = _model()
    info = run_stage(resumed, stage, 1, recipe, x, y, x, y, tmp_path / "part", log=logs.append)
    assert any("resuming at epoch 2" in line for line in logs)
    assert info == info_full
    for a, b in zip(full.classifier.state_dict().values(), resumed.classifier.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    # a finished stage is loaded, not retrained
    again = _model()
    logs.clear()
    run_stage(again, stage, 1, recipe, x, y, x, y, tmp_path / "full", log=logs.append)
    assert logs == [
        f"stage 1 (focal): done, best epoch {info_full['best_epoch']} (acc {info_full['best_accuracy']:.3f})"
    ]
    torch.testing.assert_close(again.classifier.top[2].weight, full.classifier.top[2].weight)
