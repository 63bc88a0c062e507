"""Training that cannot learn is refused: a classifier over one class (``train``, ``run``) before any work, a head
whose loss is 0 before the first step; ``model.pt`` records whether training ran and learned, and ``export``
refuses a model that did not learn (older model files without the record still export)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
import torch

from soundsentry import stages
from soundsentry.cli import main
from soundsentry.config import load_recipe
from soundsentry.data.manifest import read_manifest
from soundsentry.data_stages import prepare
from soundsentry.deploy import export_detector
from soundsentry.errors import DataError
from soundsentry.training.trainer import fit_unit


@pytest.fixture(scope="module")
def one_class(one_machine: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain folder of 6 normal clips of one machine (the issue's reproduction, smaller)."""
    folder = tmp_path_factory.mktemp("one_class") / "p"
    folder.mkdir()
    for clip in sorted(one_machine[0].glob("*.wav"))[:6]:
        shutil.copy(clip, folder / clip.name)
    return folder


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_run_refuses_a_classifier_over_one_class_before_training(
    one_class: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "r"
    args = [
        "run",
        "s1_arcface_mfn_demo",
        "--data",
        str(one_class),
        "--run-dir",
        str(run_dir),
        "--set",
        "train.epochs=2",
    ]
    assert main(args) == 2
    line = _one_error_line(capsys)
    assert line.startswith(f"soundsentry run: error: {one_class}: recipe s1_arcface_mfn_demo trains a classifier")
    assert "at least 2 classes" in line and "have 1 (p/00)" in line
    assert f"`soundsentry fit {one_class} -o detector/`" in line and "sentry_flagship" in line
    assert not (run_dir / "models").exists()  # refused before any training


def test_train_refuses_a_classifier_over_one_class(
    one_class: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_classifier: list[str]
) -> None:
    assert main(["prepare", str(one_class), "-o", str(tmp_path / "m.jsonl")]) == 0
    capsys.readouterr()
    sets = [a for kv in tiny_classifier for a in ("--set", kv)]
    args = ["train", "s1_arcface_mfn_demo", *sets, "--manifest", str(tmp_path / "m.jsonl"), "--run-dir", "r"]
    assert main([*args[:-1], str(tmp_path / "r")]) == 2
    line = _one_error_line(capsys)
    assert "(model p)" in line and "have 1 (00)" in line  # per machine type: the model's classes are its sections
    assert not (tmp_path / "r" / "models").exists()


def test_a_classifier_whose_loss_is_zero_before_training_is_refused(
    one_class: Path, tmp_path: Path, tiny_classifier: list[str]
) -> None:
    """Past the stage's check (``fit_unit`` called directly), the probe of the head's first loss stops it."""
    from soundsentry.data.layouts import parse_dataset

    clips = parse_dataset(one_class).clips
    recipe = load_recipe("s1_arcface_mfn_demo", tiny_classifier)
    with (
        warnings.catch_warnings(),
        pytest.raises(DataError, match=r"arcface loss is 0 before training \(classes: 00\)"),
    ):
        warnings.simplefilter("ignore")
        fit_unit(recipe, "p", clips, tmp_path / "unit")
    assert not (tmp_path / "unit" / "model.pt").exists()


def test_model_file_records_that_a_classifier_trained_and_learned(
    two_domains: Path, tmp_path: Path, tiny_classifier: list[str]
) -> None:
    from soundsentry.data.layouts import parse_dataset

    clips = [c for c in parse_dataset(two_domains).clips if c.split.value == "train"]
    # two classes: section x domain
    recipe = load_recipe("s1_arcface_mfn_demo", [*tiny_classifier, "train.classes=section_domain"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit_unit(recipe, "fan", clips, tmp_path / "unit")
    record = torch.load(result.model_path, weights_only=False)["training"]
    assert record["ran"] is True and record["learned"] is True and record["classes"] == 2
    assert record["initial_loss"] > 0 and record["final_loss"] is not None


@pytest.fixture(scope="module")
def flagship_run(one_class: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("flagship") / "run"
    manifest = run_dir / "manifest.jsonl"
    run_dir.mkdir()
    prepare(one_class, manifest, verbose=False)
    stages.train(load_recipe("sentry_flagship"), manifest, run_dir)
    stages.extract(run_dir)
    return run_dir


def _edit_model(run_dir: Path, **changes: object) -> Path:
    copy = run_dir.parent / f"edited_{len(list(run_dir.parent.iterdir()))}"
    shutil.copytree(run_dir, copy)
    path = copy / "models" / "all" / "model.pt"
    payload = torch.load(path, weights_only=False)
    for key, value in changes.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    torch.save(payload, path)
    return copy


def test_export_refuses_a_model_that_did_not_learn(flagship_run: Path, tmp_path: Path) -> None:
    record = torch.load(flagship_run / "models" / "all" / "model.pt", weights_only=False)["training"]
    assert record["ran"] is False and record["learned"] is None  # the flagship has nothing to learn
    export_detector(flagship_run, tmp_path / "ok")
    untrained = _edit_model(flagship_run, training={"ran": True, "learned": False, "reason": "one class"})
    with pytest.raises(DataError, match=r"model\.pt: this model did not learn \(one class\).*soundsentry fit"):
        export_detector(untrained, tmp_path / "no")
    assert not (tmp_path / "no").exists()


def test_export_of_model_files_without_the_record(flagship_run: Path, tmp_path: Path) -> None:
    """Older model files: a one-class classifier head is refused; anything else still exports."""
    old_flagship = _edit_model(flagship_run, training=None)
    export_detector(old_flagship, tmp_path / "old")
    old_one_class = _edit_model(flagship_run, training=None, head_state_dict={"weight": torch.zeros(1, 4)})
    with pytest.raises(DataError, match="did not learn"):
        export_detector(old_one_class, tmp_path / "old_one_class")
    assert len(read_manifest(old_flagship / "manifest.jsonl")) == 6
