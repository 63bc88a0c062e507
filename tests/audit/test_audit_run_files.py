"""Issue 15, item 4: a bad optimiser / scheduler value and a damaged run file are one line (exit 2), not a
traceback; the line names the key and its allowed range, or the file and how to rebuild it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from soundsentry.cli import main
from soundsentry.config import dump_resolved, load_recipe
from soundsentry.data.manifest import read_manifest, write_manifest
from soundsentry.errors import ConfigError, DataError
from soundsentry.runfiles import load_chunk_embeddings, load_embeddings, load_logits
from soundsentry.training.modelfile import read_model_file


def test_negative_learning_rate_is_one_line_naming_key_and_range(tiny_manifest_file: Path, tmp_path: Path, capsys):
    argv = ["train", "s1_arcface_mfn_demo", "--manifest", str(tiny_manifest_file), "--run-dir", str(tmp_path / "r")]
    assert main([*argv, "--set", "train.optimizer.lr=-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "train.optimizer.lr must be a number > 0, got -1" in err
    assert not (tmp_path / "r").exists(), "the recipe is refused before the run folder is written"


@pytest.mark.parametrize(
    ("recipe", "override", "message"),
    [
        ("s1_arcface_mfn_demo", "train.optimizer.lr=0", r"train\.optimizer\.lr must be a number > 0, got 0"),
        ("s1_arcface_mfn_demo", "train.optimizer.lr=fast", r"train\.optimizer\.lr must be a number > 0, got 'fast'"),
        ("s1_arcface_mfn_demo", "train.optimizer.lr=.nan", r"train\.optimizer\.lr must be a number > 0"),
        ("s1_arcface_mfn_demo", "train.optimizer.momentum=1.5", r"momentum must be a number in \[0, 1\), got 1\.5"),
        ("s1_arcface_mfn_demo", "train.optimizer.weight_decay=-0.1", r"weight_decay must be a number >= 0"),
        ("s1_arcface_mfn_demo", "train.optimizer.eps=0", r"train\.optimizer\.eps must be a number > 0"),
        ("s1_arcface_mfn_demo", "train.optimizer.betas=[0.9,2]", r"betas must be two numbers in \[0, 1\)"),
        (
            "s1_arcface_mfn_demo",
            "train.optimizer={name: sgd, lr: 0.1, nesterov: true}",
            r"train\.optimizer \(sgd\): Nesterov momentum",
        ),
        ("s1_arcface_mfn_demo", "train.optimizer.foo=1", r"train\.optimizer \(sgd\): .*unexpected keyword .*'foo'"),
        ("s1_arcface_mfn_demo", "train.scheduler.T_0=-3", r"train\.scheduler\.T_0 must be a positive integer"),
        ("s1_arcface_mfn_demo", "train.scheduler.T_mult=0", r"train\.scheduler\.T_mult must be a positive integer"),
        ("s1_arcface_mfn_demo", "train.scheduler.eta_min=-1", r"train\.scheduler\.eta_min must be a non-negative"),
        ("s4_demo_arcface_integrated", "train.scheduler.max_lr=-1", r"train\.scheduler: need 0 <= min_lr < max_lr"),
        (
            "s2_vicreg_mobilenetv2_demo",
            "train.pretrain.optimizer.lr=-2",
            r"train\.pretrain\.optimizer\.lr must be a number > 0",
        ),
        (
            "s3_scadacos_resnet_demo",
            "train.finetune.optimizer={name: adamp, lr: -2}",
            r"train\.finetune\.optimizer\.lr must be a number > 0",
        ),
    ],
)
def test_every_numeric_optimiser_and_scheduler_key_is_range_checked(recipe: str, override: str, message: str):
    with pytest.raises(ConfigError, match=message):
        load_recipe(recipe, [override])


def _run_folder(tmp_path: Path, manifest: Path) -> tuple[Path, list]:
    """A run folder with config.yaml, manifest.jsonl and a valid embeddings.npz (no trained model needed)."""
    run = tmp_path / "run"
    run.mkdir()
    dump_resolved(load_recipe("s1_arcface_mfn_demo", ["train.mode=all"]), run / "config.yaml")
    clips = read_manifest(manifest)
    write_manifest(clips, run / "manifest.jsonl")
    rng = np.random.default_rng(0)
    np.savez(
        run / "embeddings.npz",
        clip_embeddings=rng.standard_normal((len(clips), 8)).astype(np.float32),
        chunk_embeddings=rng.standard_normal((2 * len(clips), 8)).astype(np.float32),
        chunk_clip=np.repeat(np.arange(len(clips)), 2),
        paths=np.array([c.path for c in clips]),
        clip_logits=rng.standard_normal((len(clips), 4)).astype(np.float32),
    )
    return run, clips


@pytest.mark.parametrize("keep", [0.5, 0.05, 0.0])
def test_truncated_embeddings_npz_names_the_file_and_the_fix(tiny_manifest_file: Path, tmp_path: Path, keep: float):
    run, clips = _run_folder(tmp_path, tiny_manifest_file)
    assert load_embeddings(run, clips).shape == (len(clips), 8)  # the intact file reads
    npz = run / "embeddings.npz"
    npz.write_bytes(npz.read_bytes()[: int(npz.stat().st_size * keep)])
    for loader in (load_embeddings, load_chunk_embeddings, load_logits):
        with pytest.raises(DataError, match=rf"{npz}.*damaged or incomplete.*rerun `soundsentry extract {run}`"):
            loader(run, clips)


@pytest.mark.parametrize("command", ["score", "export"])
def test_cli_on_a_truncated_embeddings_npz_prints_one_line(
    tiny_manifest_file: Path, tmp_path: Path, capsys, command: str
) -> None:
    run, _ = _run_folder(tmp_path, tiny_manifest_file)
    npz = run / "embeddings.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    argv = [command, str(run)] + (["-o", str(tmp_path / "detector")] if command == "export" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert str(npz) in err and f"soundsentry extract {run}" in err
    assert not (tmp_path / "detector").exists()


def test_embeddings_npz_without_its_arrays_is_one_error(tiny_manifest_file: Path, tmp_path: Path) -> None:
    run, clips = _run_folder(tmp_path, tiny_manifest_file)
    np.savez(run / "embeddings.npz", other=np.zeros(3))
    with pytest.raises(DataError, match=r"holds no paths, clip_embeddings array.*soundsentry extract"):
        load_embeddings(run, clips)


def test_truncated_model_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save({"format": 1, "state_dict": {"w": torch.zeros(1000)}}, path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DataError, match=rf"{path} is damaged or incomplete .*rerun `soundsentry train`"):
        read_model_file(path)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("config.yaml", "config.yaml: not a UTF-8 text recipe"),
        ("manifest.jsonl", "manifest.jsonl is damaged or not a manifest"),
    ],
)
def test_binary_run_config_or_manifest_is_one_line(
    tiny_manifest_file: Path, tmp_path: Path, capsys, damage: str, expected: str
) -> None:
    run, _ = _run_folder(tmp_path, tiny_manifest_file)
    (run / damage).write_bytes(b"\xff\xfe\x00\x81 half a file")
    assert main(["score", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err


def test_extract_with_a_truncated_model_file_is_one_line(tiny_manifest_file: Path, tmp_path: Path, capsys) -> None:
    run, _ = _run_folder(tmp_path, tiny_manifest_file)
    model = run / "models" / "all" / "model.pt"
    model.parent.mkdir(parents=True)
    torch.save({"format": 1, "state_dict": {"w": torch.zeros(1000)}}, model)
    model.write_bytes(model.read_bytes()[:200])
    assert main(["extract", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"{model} is damaged or incomplete" in err and "rerun `soundsentry train`" in err
