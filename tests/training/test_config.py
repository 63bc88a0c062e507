"""Recipe loading: packaged recipes, unknown keys, overrides, resolved dumps."""

from __future__ import annotations

from pathlib import Path

import pytest

from soundsentry.config import (
    ComponentSpec,
    available_recipes,
    dump_resolved,
    load_recipe,
    recipe_from_dict,
    recipe_task,
)
from soundsentry.errors import ConfigError
from soundsentry.scenes.config import load_scene_recipe


def test_packaged_recipes_are_listed_and_load() -> None:
    names = available_recipes()
    assert {"s1_arcface_mfn_net1", "s1_arcface_mfn_net2", "s1_arcface_mfn_demo"} <= set(names)
    for name in names:
        if recipe_task(name) == "scene_classification":
            assert load_scene_recipe(name).name == name
            with pytest.raises(ConfigError, match="scene_classification.*soundsentry run RECIPE"):
                load_recipe(name)
        else:
            assert recipe_task(name) == "anomaly_detection"
            assert load_recipe(name).name == name


@pytest.mark.parametrize(
    ("name", "in_chans", "input_size", "fold"),
    [("s1_arcface_mfn_net1", 1, [1024, 32], 1), ("s1_arcface_mfn_net2", 4, [256, 32], 4)],
)
def test_s1_recipes_have_the_documented_values(name: str, in_chans: int, input_size: list[int], fold: int) -> None:
    r = load_recipe(name)
    assert (r.frontend.name, r.frontend.kwargs["n_fft"], r.frontend.kwargs["hop_length"]) == ("stft_chunks", 2046, 512)
    assert r.features.sample_rate == 16000 and r.features.chunk_width == 32 and r.features.fold == fold
    assert r.features.standardize != "none"
    assert r.backbone.kwargs["in_chans"] == in_chans and r.backbone.kwargs["input_size"] == input_size
    assert r.backbone.kwargs["embed_dim"] == 128
    assert r.head == ComponentSpec("arcface", {"margin": 0.05, "scale": 30.0})
    assert r.train.mode == "per_machine_type" and r.train.batch_size == 48
    assert r.train.optimizer.name == "sgd" and r.train.optimizer.kwargs["lr"] == 0.05
    assert r.train.scheduler.name == "cosine_warm_restarts" and r.train.scheduler.kwargs["T_0"] == 10
    assert r.score.scorers == ["knn_cosine:k=10"]


def test_s1_recipe_features_fit_the_backbone() -> None:
    """The full-size front-end gives exactly the chunk shape the backbone expects (no model is built)."""
    from soundsentry.training.features import build_feature_pipeline, chunk_shape

    for name in ("s1_arcface_mfn_net1", "s1_arcface_mfn_net2", "s1_arcface_mfn_demo"):
        r = load_recipe(name)
        C, F, W = chunk_shape(build_feature_pipeline(r), r.features)
        assert (r.backbone.kwargs["in_chans"], r.backbone.kwargs["input_size"]) == (C, [F, W])


def test_overrides_are_typed_and_nested() -> None:
    r = load_recipe(
        "s1_arcface_mfn_net1",
        [
            "train.epochs=3",
            "backbone.width=0.25",
            "train.optimizer.lr=1e-3",
            "backbone.input_size=[64, 32]",
            "train.mode=all",
        ],
    )
    assert r.train.epochs == 3 and r.train.mode == "all"
    assert r.backbone.kwargs["width"] == 0.25 and r.backbone.kwargs["input_size"] == [64, 32]
    assert r.train.optimizer.kwargs["lr"] == pytest.approx(1e-3)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


MINIMAL = "name: t\nfrontend: {name: logmel}\nbackbone: {name: mobilefacenet_net1}\nhead: {name: arcface}\n"


def test_unknown_top_level_key_names_file_and_valid_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "trian: {epochs: 3}\n")
    with pytest.raises(ConfigError, match=r"r\.yaml.*unknown top-level key\(s\) trian.*valid keys: name, frontend"):
        load_recipe(path)


def test_unknown_nested_key_lists_the_section_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "train: {epoch: 3}\n")
    with pytest.raises(ConfigError, match=r"r\.yaml.*train\.epoch.*valid keys of train: mode, classes, epochs"):
        load_recipe(path)


def test_unknown_override_key_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"overrides train\.epoch=3.*unknown key\(s\) train\.epoch"):
        load_recipe("s1_arcface_mfn_net1", ["train.epoch=3"])


def test_unknown_component_keyword_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"backbone 'mobilefacenet_net1' does not take widht; valid keys: .*width"):
        load_recipe("s1_arcface_mfn_net1", ["backbone.widht=0.5"])


def test_unknown_component_name() -> None:
    with pytest.raises(ConfigError, match="unknown backbone 'mobilefacenet_net3'"):
        load_recipe("s1_arcface_mfn_net1", ["backbone.name=mobilefacenet_net3"])


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("train.mode=each", "train.mode is 'each'; valid values: per_machine_type, all"),
        ("train.epochs=0", "train.epochs must be a positive integer"),
        ("train.val_fraction=1.5", r"train.val_fraction must be in \[0, 1\)"),
        ("train.precision=8", "train.precision is '8'"),
        ("score.scorers=['knn_cosine:q=1']", "score.scorers: .*does not take q"),
        ("train", "not of the form key.subkey=value"),
    ],
)
def test_invalid_values(override: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_recipe("s1_arcface_mfn_net1", [override])


def test_missing_recipe_lists_packaged_ones() -> None:
    with pytest.raises(ConfigError, match="packaged recipes: .*s1_arcface_mfn_net1"):
        load_recipe("no_such_recipe")


def test_dump_resolved_round_trips(tmp_path: Path) -> None:
    r = load_recipe("s1_arcface_mfn_net2", ["train.epochs=7"])
    path = dump_resolved(r, tmp_path / "sub" / "config.yaml")
    assert path.is_file() and not list(path.parent.glob(".*tmp"))
    again = load_recipe(path)
    assert again == r and again.train.epochs == 7 and again.train.precision == "32"
    assert recipe_from_dict(r.to_dict()) == r
