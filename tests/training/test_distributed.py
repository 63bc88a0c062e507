"""Mixed precision and multi-process (DDP) training through recipe options only, checked on CPU.

A GPU run uses the same code path with ``train.accelerator=gpu`` and ``train.precision=16-mixed``; on CPU DDP
runs over gloo and mixed precision is bfloat16 autocast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from soundsentry.data.manifest import read_manifest
from soundsentry.distributed import global_rank
from soundsentry.training.data import training_units
from soundsentry.training.trainer import fit_unit, load_embedding_model
from soundsentry.types import Split


@pytest.mark.parametrize(
    ("env", "rank"),
    [({}, 0), ({"LOCAL_RANK": "1"}, 1), ({"RANK": "3", "LOCAL_RANK": "1"}, 3), ({"SLURM_PROCID": "2"}, 2)],
)
def test_global_rank_reads_the_launchers_variables(monkeypatch: pytest.MonkeyPatch, env: dict, rank: int) -> None:
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert global_rank() == rank


def test_bf16_mixed_precision_trains_and_saves_float32_weights(tiny_manifest: Path, tiny_recipe, tmp_path: Path):
    clips = training_units(read_manifest(tiny_manifest), "per_machine_type")["fan"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit_unit(tiny_recipe("train.epochs=1", "train.precision=bf16-mixed"), "fan", clips, tmp_path)
    ckpt = torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] > 0
    model, _ = load_embedding_model(result.model_path)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast computes in bf16, keeps fp32 weights
    with torch.no_grad():
        emb = model.eval()(torch.randn(4, 1, 64, 32))
    assert torch.isfinite(emb).all() and emb.std() > 0


@pytest.mark.slow
def test_ddp_run_on_two_cpu_processes_writes_one_set_of_outputs(
    tiny_data: Path, tiny_overrides: list[str], tmp_path: Path
) -> None:
    sets = [arg for o in tiny_overrides if not o.startswith("train.devices") for arg in ("--set", o)]
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "soundsentry.cli", "run", "s1_arcface_mfn_demo", *sets, "--data", str(tiny_data)]
    cmd += ["--run-dir", str(run_dir), "--set", "train.devices=2", "--set", "train.strategy=ddp"]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in output  # the second process joined the process group
    # The worker's stdout is silenced: every unit reports once, and only the launching process scores.
    assert proc.stdout.count("[fan] done") == 1
    assert proc.stdout.count(": scored ") == 1
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert set(summary) >= {"fan", "motor", "slider", "valve"}
    scores = (run_dir / "scores" / "knn_cosine_k=3.csv").read_text().splitlines()
    n_clips = len(read_manifest(run_dir / "manifest.jsonl"))
    assert len(scores) == n_clips + 1  # header + every clip, once
    assert (run_dir / "results" / "knn_cosine_k=3" / "results.csv").is_file()
    assert sum(c.split is Split.TEST for c in read_manifest(run_dir / "manifest.jsonl")) == 32
