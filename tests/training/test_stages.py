"""train -> extract -> score on a tiny generated set, through the stage functions the CLI calls."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from soundsentry import stages
from soundsentry.config import Recipe, load_recipe
from soundsentry.data.manifest import read_manifest
from soundsentry.errors import ConfigError, DataError
from soundsentry.evaluation import read_scores
from soundsentry.training.trainer import load_embedding_model
from soundsentry.types import Split


@pytest.fixture(scope="module")
def trained_run(
    tiny_manifest: Path, tiny_recipe: Callable[..., Recipe], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    run_dir = tmp_path_factory.mktemp("run")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stages.train(tiny_recipe("train.epochs=1"), tiny_manifest, run_dir)
    return run_dir


def test_train_writes_config_manifest_class_maps_and_models(trained_run: Path, tiny_recipe) -> None:
    assert load_recipe(trained_run / "config.yaml") == tiny_recipe("train.epochs=1")
    assert len(read_manifest(trained_run / "manifest.jsonl")) == 72
    class_maps = json.loads((trained_run / "class_maps.json").read_text())
    assert class_maps == {t: ["00", "01"] for t in ("fan", "motor", "slider", "valve")}
    summary = json.loads((trained_run / "train_summary.json").read_text())
    for mtype in class_maps:
        unit = trained_run / "models" / mtype
        assert {"best.ckpt", "last.ckpt", "model.pt"} <= {p.name for p in unit.iterdir()}
        assert (unit / "logs" / "metrics.csv").read_text().startswith("epoch")
        assert summary[mtype]["train_clips"] == 6 and summary[mtype]["val_clips"] == 4
    model, meta = load_embedding_model(trained_run / "models" / "fan" / "model.pt")
    assert meta["classes"] == ["00", "01"] and meta["unit"] == "fan" and meta["chunk_shape"] == [1, 64, 32]
    assert model.standardizer.fitted  # fitted on the training split and saved with the weights
    assert model(torch.zeros(3, 1, 64, 32)).shape == (3, 32)


def test_extract_and_score(trained_run: Path) -> None:
    path = stages.extract(trained_run)
    clips = read_manifest(trained_run / "manifest.jsonl")
    with np.load(path) as data:
        assert data["clip_embeddings"].shape == (72, 32)
        assert list(data["paths"]) == [c.path for c in clips]
        # 0.5 s = 126 frames -> chunks at 0, 16, ..., 80: 6 per clip; the clip embedding is their mean
        assert data["chunk_embeddings"].shape == (72 * 6, 32)
        first = data["chunk_embeddings"][data["chunk_clip"] == 0]
        np.testing.assert_allclose(data["clip_embeddings"][0], first.mean(axis=0), rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # k=3 > 2 training clips in some out-of-fold scorers
        written = stages.score(trained_run, ["knn_cosine:k=3", "knn:k=1"])
    assert [p.name for p in written] == ["knn_cosine_k=3.csv", "knn_k=1.csv"]
    scores = read_scores(written[0])
    assert set(scores) == {c.path for c in clips} and all(np.isfinite(list(scores.values())))
    assert all(0.0 <= s <= 2.0 for s in scores.values())  # 1 - cosine similarity


def test_score_with_a_chunk_scorer_pools_chunk_scores(trained_run: Path) -> None:
    """The score stage's chunk-level scores are score_chunk_clips on the file's chunk embeddings."""
    from soundsentry.chunk_scoring import score_chunk_clips

    if not (trained_run / "embeddings.npz").is_file():
        stages.extract(trained_run)
    clips = read_manifest(trained_run / "manifest.jsonl")
    spec = "chunks:inner=knn_cosine;k=1,pool=max"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (written,) = stages.score(trained_run, [spec])
    assert written.name == "chunks_inner=knn_cosine_k=1_pool=max.csv"
    got = read_scores(written)
    with np.load(trained_run / "embeddings.npz") as data:
        expected = score_chunk_clips(data["chunk_embeddings"], data["chunk_clip"], clips, spec)
    np.testing.assert_allclose([got[c.path] for c in clips], expected, rtol=1e-6)
    assert np.isfinite(expected).all()


def test_resume_skips_finished_units(trained_run: Path, tiny_manifest: Path, tiny_recipe, capsys) -> None:
    stamp = (trained_run / "models" / "fan" / "model.pt").stat().st_mtime_ns
    stages.train(tiny_recipe("train.epochs=1"), tiny_manifest, trained_run)
    assert "skipped" in capsys.readouterr().out
    assert (trained_run / "models" / "fan" / "model.pt").stat().st_mtime_ns == stamp


def test_a_different_config_is_refused(trained_run: Path, tiny_manifest: Path, tiny_recipe) -> None:
    with pytest.raises(ConfigError, match=r"different config \(changed: train.epochs\).*resume=False"):
        stages.train(tiny_recipe("train.epochs=3"), tiny_manifest, trained_run)


def test_backbone_input_mismatch_is_explained(tiny_manifest: Path, tiny_recipe, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"chunks of \(C, F, T\) = \(1, 64, 32\).*backbone.input_size=\[64, 32\]"):
        stages.train(tiny_recipe("backbone.input_size=[128,32]"), tiny_manifest, tmp_path)


def test_extract_needs_a_trained_run(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no config.yaml"):
        stages.extract(tmp_path)


def test_run_all_mode_end_to_end(tiny_data: Path, tiny_overrides: list[str], tmp_path: Path) -> None:
    """prepare -> train (one model over every type and section) -> extract -> score -> evaluate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = stages.run(
            "s1_arcface_mfn_demo", tiny_data, tmp_path, [*tiny_overrides, "train.mode=all", "train.epochs=1"]
        )
    assert list(results) == ["knn_cosine_k=3"]
    assert json.loads((tmp_path / "class_maps.json").read_text())["all"][:2] == ["fan/00", "fan/01"]
    assert (tmp_path / "models" / "all" / "model.pt").is_file()
    assert (tmp_path / "results" / "knn_cosine_k=3" / "results.csv").is_file()
    clips = read_manifest(tmp_path / "manifest.jsonl")
    assert sum(c.split is Split.TEST for c in clips) == 32


def test_cli_train_extract_score_run(tiny_manifest: Path, tiny_data: Path, tiny_overrides: list[str], tmp_path: Path):
    """The CLI sub-commands drive the same stages: train -> extract -> score (two back-ends), then `run`."""
    from soundsentry.cli import main

    sets = [arg for o in tiny_overrides for arg in ("--set", o)]
    run_dir = tmp_path / "run"
    assert (
        main(["train", "s1_arcface_mfn_demo", *sets, "--manifest", str(tiny_manifest), "--run-dir", str(run_dir)]) == 0
    )
    assert (run_dir / "config.yaml").is_file()
    assert main(["extract", str(run_dir)]) == 0
    assert main(["score", str(run_dir), "--scorer", "knn_cosine:k=3", "--scorer", "mahalanobis"]) == 0
    assert sorted(p.name for p in (run_dir / "scores").iterdir()) == ["knn_cosine_k=3.csv", "mahalanobis.csv"]

    assert main(["run", "s1_arcface_mfn_demo", *sets, "--data", str(tiny_data), "--run-dir", str(run_dir)]) == 0
    assert (run_dir / "results" / "knn_cosine_k=3" / "results.csv").is_file()
    # A bad override is a one-line user error, not a traceback.
    assert (
        main(
            [
                "train",
                "s1_arcface_mfn_demo",
                "--set",
                "train.epoch=3",
                "--manifest",
                str(tiny_manifest),
                "--run-dir",
                str(run_dir),
            ]
        )
        == 2
    )
