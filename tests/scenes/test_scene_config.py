"""Scene recipes: the documented hyper-parameters, unknown keys, stage order, overrides, resolved dumps."""

from __future__ import annotations

from pathlib import Path

import pytest

from soundsentry.config import RECIPES_DIR
from soundsentry.errors import ConfigError
from soundsentry.scenes.config import dump_scene_recipe, load_scene_recipe

SUBMISSIONS = {  # section 7: (backbone, ArcFace margin or None, TTA)
    "s5_asc_mobilenetv2_focal": ("asc_mobilenetv2", None, False),
    "s5_asc_mobilenetv2_arcface": ("asc_mobilenetv2", 0.5, True),
    "s5_asc_cpresnet_focal": ("cp_resnet", None, False),
    "s5_asc_cpresnet_arcface": ("cp_resnet", 0.35, True),
}


@pytest.mark.parametrize("name", sorted(SUBMISSIONS))
def test_submissions_have_the_documented_values(name: str) -> None:
    backbone, margin, tta = SUBMISSIONS[name]
    r = load_scene_recipe(name)
    assert r.backbone.name == backbone and r.inference.tta is tta and r.inference.tta_copies == 10
    assert r.frontend.kwargs == {"sample_rate": 44100, "n_fft": 2048, "hop_length": 1024, "n_mels": 128, "htk": True}
    assert r.train.batch_size == 24 and r.train.momentum == 0.0 and r.train.budget_bytes == 131072
    assert r.data.balance_per_group == 7 and r.data.clip_seconds == 10.0
    assert (r.augment.mixup_alpha, r.augment.spec_augment, r.augment.temporal_shuffle) == (0.4, 0.1, True)
    focal = r.stages[0]
    assert (focal.kind, focal.epochs, focal.schedule, focal.lr, focal.lr_min) == (
        "focal",
        200,
        "cosine_restarts",
        1e-2,
        1e-3,
    )
    assert (focal.focal_alpha, focal.focal_gamma) == (1.0, 2.0)
    if margin is None:
        assert len(r.stages) == 1
        return
    head, full, top = r.stages[1:]
    assert (head.kind, head.epochs, head.augment, head.balanced) == ("arcface_head", 10, False, False)
    assert (full.kind, full.epochs) == ("arcface_all", 200)
    assert head.margin == full.margin == margin and head.scale == full.scale == 30.0
    assert (top.kind, top.epochs, top.schedule, top.lr, top.decay) == ("retrain_top", 30, "exponential", 1e-3, 3.33e-5)


@pytest.mark.parametrize("name", sorted(SUBMISSIONS))
def test_demo_variants_differ_only_in_scale(name: str) -> None:
    full, demo = load_scene_recipe(name), load_scene_recipe(f"{name}_demo")
    assert [s.kind for s in demo.stages] == [s.kind for s in full.stages]
    assert [s.margin for s in demo.stages] == [s.margin for s in full.stages]
    assert all(d.epochs < f.epochs for d, f in zip(demo.stages, full.stages, strict=True))
    assert demo.backbone == full.backbone and demo.inference.tta == full.inference.tta


def _write(tmp_path: Path, text: str) -> Path:
    base = RECIPES_DIR / "s5_asc_mobilenetv2_focal_demo.yaml"
    path = tmp_path / "r.yaml"
    path.write_text(base.read_text() + text)
    return path


def test_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key\(s\) augment.colour; valid keys of augment: wave"):
        load_scene_recipe(_write(tmp_path, "augment: {colour: 1}\n"))
    with pytest.raises(ConfigError, match="needs an arcface_head stage before it"):
        load_scene_recipe(_write(tmp_path, "stages: [{kind: focal}, {kind: arcface_all}, {kind: retrain_top}]\n"))
    with pytest.raises(ConfigError, match="stages\\[1\\].kind must be one of"):
        load_scene_recipe(_write(tmp_path, "stages: [{kind: focal}, {kind: softmax}]\n"))
    with pytest.raises(ConfigError, match="unknown backbone 'mobilenet'"):
        load_scene_recipe(_write(tmp_path, "backbone: {name: mobilenet}\n"))
    with pytest.raises(ConfigError, match="unknown augment.wave"):
        load_scene_recipe(_write(tmp_path, "augment: {wave: [reverb]}\n"))


def test_overrides_and_resolved_dump(tmp_path: Path) -> None:
    r = load_scene_recipe("s5_asc_cpresnet_arcface_demo", ["stages.1.epochs=5", "train.device=cpu", "seed=3"])
    assert r.stages[1].epochs == 5 and r.seed == 3
    with pytest.raises(ConfigError, match="not an index"):
        load_scene_recipe("s5_asc_cpresnet_arcface_demo", ["stages.9.epochs=5"])
    dump_scene_recipe(r, tmp_path / "resolved.yaml")
    assert load_scene_recipe(tmp_path / "resolved.yaml") == r


def test_scene_recipes_take_a_base_and_list_index_overrides(tmp_path: Path) -> None:
    child = tmp_path / "mine.yaml"
    child.write_text("base: s5_asc_mobilenetv2_focal_demo\nname: mine\ntrain: {batch_size: 12}\n")
    r = load_scene_recipe(child, ["stages.0.epochs=2"])
    assert (r.name, r.train.batch_size, r.stages[0].epochs) == ("mine", 12, 2)
    assert r.backbone.name == "asc_mobilenetv2" and r.train.budget_bytes == 131072  # from the base
    with pytest.raises(ConfigError, match="'7' is not an index of a 1-entry list"):
        load_scene_recipe(child, ["stages.7.epochs=2"])
