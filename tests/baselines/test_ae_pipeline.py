"""The AE baseline as a recipe: ``soundsentry run`` trains per section through the shared loop, extracts clip
statistics, scores with both baseline scores and evaluates; resume; the recipe's values are the official ones."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from soundsentry import stages
from soundsentry.baselines import AEFeatureParams, clip_statistics, clip_vectors, load_ae_model
from soundsentry.config import load_recipe
from soundsentry.errors import ConfigError
from soundsentry.evaluation import read_scores
from soundsentry.scorers import SelectiveMahalanobisScorer
from soundsentry.training.phases import Autoencoder, resolve_phases
from soundsentry.types import Split

TINY = ["train.epochs=2", "backbone.hidden=16", "backbone.bottleneck=4", "backbone.depth=2", "train.batch_size=32"]


def _run(data: Path, run_dir: Path, overrides: list[str]) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return stages.run("dcase_ae_baseline", data, run_dir, overrides)


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from tests.conftest import write_tiny_dcase2022_tree

    data = write_tiny_dcase2022_tree(tmp_path_factory.mktemp("ae_data"))
    run_dir = tmp_path_factory.mktemp("ae_run")
    return run_dir, _run(data, run_dir, TINY)


def test_run_trains_per_section_scores_and_evaluates(ae_run: tuple[Path, dict]) -> None:
    run_dir, results = ae_run
    assert set(results) == {"ae_mse", "selective_mahalanobis"}
    for result in results.values():
        assert 0.0 <= result.official_score <= 1.0
    assert sorted(p.name for p in (run_dir / "models").iterdir()) == ["fanny_section_00", "pumpy_section_00"]
    unit = run_dir / "models" / "pumpy_section_00"
    assert (unit / "last.ckpt").is_file() and (unit / "logs" / "metrics.csv").is_file()
    payload = torch.load(unit / "model.pt", map_location="cpu", weights_only=False)
    assert payload["head_state_dict"] == {} and payload["checkpoint"] == "last.ckpt"
    assert payload["ae_vectors"] == {"train": 108, "val": 12}  # 10 clips x 12 vectors, 10 % of vectors held out
    assert list(payload["ae_covariances"]) == ["00"] and isinstance(payload["ae_thresholds"]["ae_mse"], float)
    with np.load(run_dir / "embeddings.npz") as d:
        assert {"clip_embeddings", "chunk_embeddings", "chunk_clip", "paths", "units"} <= set(d)
        assert d["clip_embeddings"].shape == (len(d["paths"]), 129)


def test_scores_are_the_baselines_on_its_own_front_end(ae_run: tuple[Path, dict]) -> None:
    """MSE and selective Mahalanobis of the score stage, recomputed from the baseline's front-end (frame_vectors),
    the unit's network and its model file's covariances."""
    run_dir, _ = ae_run
    recipe, clips = stages.load_run(run_dir)
    model = load_ae_model(run_dir / "models" / "fanny_section_00" / "model.pt")
    test = [c for c in clips if c.machine_type == "fanny" and c.split is Split.TEST]
    rows = []
    for clip in test:
        x = torch.from_numpy(clip_vectors(clip, AEFeatureParams()))
        with torch.no_grad():
            rows.append(clip_statistics((x - model.net(x)[0]).numpy(), 128))
    stats = np.stack(rows)
    mse = read_scores(run_dir / "scores" / "ae_mse.csv")
    np.testing.assert_allclose([mse[c.path] for c in test], stats[:, 0], rtol=1e-5)
    maha = read_scores(run_dir / "scores" / "selective_mahalanobis.csv")
    direct = SelectiveMahalanobisScorer().fit(stats, covariances=model.covariances["00"]).anomaly_score(stats)
    np.testing.assert_allclose([maha[c.path] for c in test], direct, rtol=1e-4)


def test_resume_reproduces_the_uninterrupted_run(tmp_path: Path, tiny_dcase2022: Path) -> None:
    overrides = [*TINY, "train.mode=per_machine_type"]
    _run(tiny_dcase2022, tmp_path / "a", overrides)
    stages.train(
        load_recipe("dcase_ae_baseline", [*overrides, "train.epochs=1"]),
        tmp_path / "a" / "manifest.jsonl",
        tmp_path / "b",
    )
    (tmp_path / "b" / "config.yaml").unlink()  # a run interrupted after epoch 1: checkpoints, no model.pt
    for unit in ("fanny", "pumpy"):
        (tmp_path / "b" / "models" / unit / "model.pt").unlink()
    _run(tiny_dcase2022, tmp_path / "b", overrides)
    for unit in ("fanny", "pumpy"):
        a, b = (torch.load(tmp_path / r / "models" / unit / "model.pt", weights_only=False) for r in ("a", "b"))
        for key in a["state_dict"]:
            assert torch.equal(a["state_dict"][key], b["state_dict"][key]), (unit, key)
        assert a["ae_covariances"] == b["ae_covariances"] and a["ae_thresholds"] == b["ae_thresholds"]


def test_the_recipe_holds_the_official_values() -> None:
    """docs/ae_baseline.md: baseline.yaml, network.py, the training scripts."""
    r = load_recipe("dcase_ae_baseline")
    fe = r.frontend.kwargs
    assert (fe["n_fft"], fe["hop_length"], fe["n_mels"], fe["power"], fe["win_length"]) == (1024, 512, 128, 2.0, None)
    assert (fe["scale"], fe["amin"], fe["top_db"], fe["fmin"], fe["fmax"]) == (
        "db",
        np.finfo(float).eps,
        None,
        0.0,
        None,
    )
    assert (r.features.chunk_width, r.features.chunk_hop, r.features.standardize) == (5, 1, "none")
    assert r.backbone.to_dict() == {"name": "dcase2023_ae", "hidden": 128, "bottleneck": 8, "depth": 4}
    t = r.train
    assert (t.phase, t.mode, t.epochs, t.batch_size, t.val_fraction, t.seed) == (
        "autoencoder",
        "per_section",
        100,
        256,
        0.1,
        13711,
    )
    assert t.optimizer.to_dict() == {"name": "adam", "lr": 0.001} and t.scheduler.name == "none"
    assert r.score.scorers == ["ae_mse", "selective_mahalanobis"]
    demo = load_recipe("dcase_ae_baseline_demo")  # what `make demo` runs: the official recipe, unchanged
    assert demo.to_dict() | {"name": "", "description": ""} == r.to_dict() | {"name": "", "description": ""}
    assert [type(p) for p in resolve_phases(r)] == [Autoencoder]


def test_recipe_errors_name_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"train.phase is 'ae'; valid values: auto, autoencoder"):
        load_recipe("dcase_ae_baseline", ["train.phase=ae"])
    with pytest.raises(ConfigError, match=r"head: none"):
        load_recipe("dcase_ae_baseline", ["head=arcface"])
    with pytest.raises(ConfigError, match=r"backbone: .*dcase2023_ae"):
        load_recipe("dcase_ae_baseline", ["backbone=mobilefacenet"])
    with pytest.raises(ConfigError, match=r"per_section .* only train.phase=autoencoder"):
        load_recipe("s1_arcface_mfn_demo", ["train.mode=per_section"])


def test_export_refuses_an_ae_run(ae_run: tuple[Path, dict], tmp_path: Path) -> None:
    from soundsentry.deploy.bundle import export_detector

    with pytest.raises(ConfigError, match="cannot export an autoencoder run"):
        export_detector(ae_run[0], tmp_path / "det")


def test_the_demo_runs_the_flagship_beside_the_official_baseline() -> None:
    from soundsentry.pipeline import DEMO_RECIPES

    assert DEMO_RECIPES == ("sentry_flagship_demo", "dcase_ae_baseline_demo")
    assert all(load_recipe(name) for name in DEMO_RECIPES)
