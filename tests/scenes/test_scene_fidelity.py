"""S5 as documented: the GPU when there is one, which layers stage 4 re-adds, TTA with every augmentation per copy,
and where CP-ResNet's parameters are."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soundsentry.errors import ConfigError
from soundsentry.registry import BACKBONES
from soundsentry.scenes import prepare
from soundsentry.scenes.config import StageConfig, load_scene_recipe, resolve_device
from soundsentry.scenes.models import PAPER_PARAMS, SceneClassifier, cp_resnet_breakdown
from soundsentry.scenes.train import SceneModel, begin_stage


def test_device_defaults_to_the_gpu_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = load_scene_recipe("s5_asc_cpresnet_arcface")
    assert recipe.train.device == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda" and resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ConfigError, match="torch sees no GPU"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="train.device must be"):
        load_scene_recipe("s5_asc_cpresnet_arcface", ["train.device=gpu0"])


def _model() -> SceneModel:
    torch.manual_seed(0)
    return SceneModel(SceneClassifier(BACKBONES.create("asc_mobilenetv2"), 3))


def _ids(params) -> set[int]:
    return {id(p) for p in params}


def test_last_three_layers_are_bn_dense_softmax_and_the_dense_64_is_kept() -> None:
    """Default ``cut_layers: 11-13``: ArcFace reads layer 10's 64-d output; stage 4 re-adds BN + Dense C on it."""
    model = _model()
    dense64 = model.classifier.top[0]
    weights = dense64.weight.detach().clone()
    params = begin_stage(model, StageConfig(kind="arcface_head"), 3, 64)
    assert model.neck is dense64  # no new neck: the stage-1 Dense 64 is the embedding layer
    assert _ids(params) == _ids(model.head.parameters())  # stage 2 trains the ArcFace header only
    assert not any(p.requires_grad for p in [*model.classifier.body.parameters(), *dense64.parameters()])
    params = begin_stage(model, StageConfig(kind="arcface_all"), 3, 64)
    assert _ids(dense64.parameters()) <= _ids(params) and _ids(model.classifier.body.parameters()) <= _ids(params)
    params = begin_stage(model, StageConfig(kind="retrain_top"), 3, 64)
    top = model.classifier.top
    assert top[0] is dense64 and torch.equal(top[0].weight, weights)
    assert isinstance(top[1], torch.nn.BatchNorm1d) and top[2].out_features == 3
    assert _ids(params) == _ids([*top[1].parameters(), *top[2].parameters()])
    assert model.classifier(torch.rand(2, 3, 32, 16)).shape == (2, 3)


def test_other_reading_cuts_dense_bn_dense() -> None:
    model = _model()
    old_top = model.classifier.top
    begin_stage(model, StageConfig(kind="arcface_head"), 3, 64, cut_layers="10-12")
    assert model.neck is not old_top[0] and isinstance(model.neck[0], torch.nn.BatchNorm1d)
    params = begin_stage(model, StageConfig(kind="retrain_top"), 3, 64, cut_layers="10-12")
    assert all(new is not old for new, old in zip(model.classifier.top, old_top, strict=True))
    assert _ids(params) == _ids(model.classifier.top.parameters())
    with pytest.raises(ConfigError, match="train.cut_layers must be one of"):
        load_scene_recipe("s5_asc_cpresnet_arcface", ["train.cut_layers=9-11"])


@pytest.mark.parametrize(("mode", "per_copy"), [("all", 4), ("one", 1)])
def test_tta_applies_every_augmentation_to_each_copy(monkeypatch: pytest.MonkeyPatch, mode: str, per_copy: int) -> None:
    recipe = load_scene_recipe("s5_asc_mobilenetv2_arcface_demo", [f"inference.tta_augment={mode}"])
    calls: list[str] = []

    def fake(wave: np.ndarray, name: str, rng: np.random.Generator, sr: int, std: float) -> np.ndarray:
        calls.append(name)
        return wave + 1.0

    monkeypatch.setattr(prepare, "augment_wave", fake)
    monkeypatch.setattr(prepare, "extract_features", lambda frontend, w: w[:, None, None, :])
    waves = np.zeros((2, 8), dtype=np.float32)
    out = prepare.tta_features(recipe, None, waves, 44100, 3)
    assert out.shape == (3, 2, 1, 1, 8)
    np.testing.assert_array_equal(out, float(per_copy))  # each augmentation ran on the previous one's output
    if mode == "all":
        assert calls == list(recipe.augment.wave) * 6  # 3 copies x 2 clips, all four in the recipe's order
    else:
        assert len(calls) == 6 and set(calls) <= set(recipe.augment.wave)
    with pytest.raises(ConfigError, match="inference.tta_augment must be one of"):
        load_scene_recipe("s5_asc_mobilenetv2_arcface_demo", ["inference.tta_augment=some"])


def test_cp_resnet_parameters_layer_by_layer() -> None:
    """Where CP-ResNet's 61,530 are (docs/scenes.md: why 3,264 more than the document's 58,266)."""
    model = SceneClassifier(BACKBONES.create("cp_resnet"), 10)
    parts = cp_resnet_breakdown(model)
    assert parts == {
        "input conv + BN": 1_232,
        "stage 1": 12_544,
        "stage 2": 8_768,
        "stage 3": 33_920,
        "layer 8 (BN)": 128,
        "layers 10-12 (Dense 64, BN, Dense C)": 4_938,
    }
    assert sum(parts.values()) == 61_530 == PAPER_PARAMS["cp_resnet"] + 3_264
