"""S4 recipes: the ``base:`` key, the documented values, and the checks on the new ``train`` keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from soundsentry.config import available_recipes, load_recipe, recipe_task
from soundsentry.errors import ConfigError

S4_COMPARISONS = [
    "arcface_integrated",
    "arcface_per_machine",
    "arcface_transfer",
    "arcface_integrated_ls0",
    "cosface_integrated",
    "softmax_integrated",
    "focal_integrated",
]


def test_every_comparison_has_a_full_and_a_demo_recipe_on_the_shared_bases() -> None:
    names = set(available_recipes())
    for comparison in S4_COMPARISONS:
        assert {f"s4_{comparison}", f"s4_demo_{comparison}"} <= names
        full, demo = load_recipe(f"s4_{comparison}"), load_recipe(f"s4_demo_{comparison}")
        assert full.name == f"s4_{comparison}" and demo.name == f"s4_demo_{comparison}"
        # The comparison's own keys are the same at both scales.
        assert (full.train.mode, full.head.name, full.backbone.name) == (
            demo.train.mode,
            demo.head.name,
            demo.backbone.name,
        )
        assert full.head.kwargs.get("label_smoothing") == demo.head.kwargs.get("label_smoothing")
    assert recipe_task("s4_demo_arcface_transfer") == "anomaly_detection"


def test_full_recipes_keep_the_documented_values() -> None:
    r = load_recipe("s4_arcface_integrated")
    fe = r.frontend.to_dict()
    assert [fe[k] for k in ("name", "sample_rate", "n_fft", "hop_length", "n_mels")] == [
        "logmel",
        16000,
        1024,
        512,
        128,
    ]
    assert (r.backbone.name, r.backbone.kwargs["input_size"], r.backbone.kwargs["embed_dim"]) == (
        "resnet50_ir",
        [128, 313],
        2048,
    )
    assert r.head.to_dict() == {"name": "arcface", "scale": 30.0, "margin": 0.05, "label_smoothing": 0.05}
    assert (r.train.mode, r.train.batch_size, r.train.mixup, r.train.mixup_alpha) == ("all", 64, True, 1.0)
    assert r.train.optimizer.to_dict() == {"name": "adam", "lr": 2e-4, "weight_decay": 0.0}
    assert r.train.scheduler.to_dict() == {
        "name": "cosine_warm_restarts_with_warmup",
        "max_lr": 2e-4,
        "t_up": 2,
        "t_0": 10,
        "t_mult": 2,
        "interval": "epoch",
    }
    assert r.train.selection is not None and (r.train.selection.every, r.train.selection.on_test) == (2, False)
    assert r.score.scorers[0] == "softmax_id"
    assert load_recipe("s4_arcface_integrated_ls0").head.kwargs["label_smoothing"] == 0.0
    softmax = load_recipe("s4_softmax_integrated")
    # A component with another name replaces the base's: no margin or input_size leaks into softmax / resnet50.
    assert softmax.head.to_dict() == {"name": "softmax", "label_smoothing": 0.05}
    assert softmax.backbone.to_dict() == {"name": "resnet50", "in_chans": 1}
    assert load_recipe("s4_focal_integrated").head.kwargs == {"alpha": 1.0, "gamma": 1.0, "label_smoothing": 0.05}
    assert load_recipe("s4_arcface_transfer").train.mode == "transfer"


def test_base_key_merges_files_relative_paths_and_overrides(tmp_path: Path) -> None:
    parent = tmp_path / "parent.yaml"
    parent.write_text("base: s4_demo_base\nname: parent\ntrain: {epochs: 3}\n")
    child = tmp_path / "child.yaml"
    child.write_text("base: parent.yaml\nname: child\ntrain: {batch_size: 8}\nhead: {margin: 0.5}\n")
    r = load_recipe(child, ["train.seed=4"])
    assert (r.name, r.train.epochs, r.train.batch_size, r.train.seed) == ("child", 3, 8, 4)
    assert r.head.to_dict() == {"name": "arcface", "scale": 30.0, "margin": 0.5, "label_smoothing": 0.05}
    assert r.train.optimizer.name == "adam"  # from s4_base, two levels up
    assert "base" not in r.to_dict()


def test_base_key_errors_name_the_file(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("base: b.yaml\nname: a\n")
    b.write_text("base: a.yaml\nname: b\n")
    with pytest.raises(
        ConfigError, match=r"a\.yaml: base 'b.yaml' leads back.*cycle|b\.yaml: base 'a.yaml' leads back"
    ):
        load_recipe(a)
    missing = tmp_path / "m.yaml"
    missing.write_text("base: no_such_recipe\nname: m\n")
    with pytest.raises(ConfigError, match=r"m\.yaml: base: recipe 'no_such_recipe' is neither"):
        load_recipe(missing)
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: [1]\nname: bad\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: base must name another recipe"):
        load_recipe(bad)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "train.scheduler={name: cosine_warm_restarts_with_warmup, T_0: 3}",
            "does not take T_0; valid: name, interval, max_lr",
        ),
        ("train.scheduler={name: cosine_warm_restarts_with_warmup, t_up: 10, t_0: 10}", "0 <= t_up < t_0"),
        ("train.selection.on_test=true", "on_test=true selects on the run's test clips, so train.selection.data"),
        ("train.selection.every=0", "train.selection.every must be a positive integer"),
        ("train.selection.pseudo_anomalies=[reverb]", "pseudo_anomalies must be a list of pitch_shift, mix"),
        ("train.val_fraction=0", "needs train.val_fraction > 0"),
        ("train.selection.max_fpr=2", "max_fpr must be in"),
        ("train.transfer_epochs=0", "transfer_epochs must be a positive integer"),
    ],
)
def test_s4_train_keys_are_checked(override: str, message: str) -> None:
    extra = ["train.selection.data=x.jsonl"] if "on_test" in override else []
    with pytest.raises(ConfigError, match=message):
        load_recipe("s4_demo_base", [override, *extra])


def test_transfer_cannot_be_combined_with_two_step_training() -> None:
    with pytest.raises(ConfigError, match="mode=transfer fine-tunes only the classifier"):
        load_recipe("s4_demo_arcface_transfer", ["train.selection=null", "train.finetune={steps: 3}"])
