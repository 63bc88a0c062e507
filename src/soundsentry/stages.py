"""Training stages as plain functions the CLI calls: train, extract, score, and ``run`` for all of them.

Everything a stage needs is read from the run folder, so each stage can be rerun on its own::

    run_dir/
      config.yaml            the resolved recipe (every default filled in)
      manifest.jsonl         the clips the run was trained and scored on
      class_maps.json        {unit: [class key, ...]}; a class's index is its position
      train_summary.json     clips, classes, checkpoint used and seconds per unit
      models/<unit>/         last.ckpt, best.ckpt, logs/metrics.csv, model.pt (unit = machine type, or "all")
      embeddings.npz         clip and chunk embeddings of every train and test clip
      scores/<spec>.csv      path,anomaly_score per scorer spec
      results/<spec>/        evaluation tables and official CSVs (``run`` only)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from soundsentry.config import Recipe, dump_resolved, load_recipe
from soundsentry.errors import ConfigError, DataError
from soundsentry.io import atomic_output, atomic_write_text
from soundsentry.types import Clip, Split

CONFIG_FILE = "config.yaml"
MANIFEST_FILE = "manifest.jsonl"
CLASS_MAPS_FILE = "class_maps.json"
SUMMARY_FILE = "train_summary.json"
EMBEDDINGS_FILE = "embeddings.npz"


def _device(recipe: Recipe) -> str:
    """Where features and extraction run: the GPU when the recipe allows one and there is one."""
    import torch

    accelerator = recipe.train.accelerator
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def _check_same_config(recipe: Recipe, run_dir: Path) -> None:
    existing = run_dir / CONFIG_FILE
    if not existing.is_file():
        return
    previous = load_recipe(existing)
    if previous.to_dict() != recipe.to_dict():
        changed = sorted(_diff(previous.to_dict(), recipe.to_dict()))
        raise ConfigError(
            f"{run_dir} holds a run of a different config (changed: {', '.join(changed[:5])}); "
            "use another run folder, or pass resume=False (--no-resume) to retrain from scratch there"
        )


def _diff(a: Any, b: Any, prefix: str = "") -> set[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: set[str] = set()
        for key in set(a) | set(b):
            out |= _diff(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return set() if a == b else {prefix.rstrip(".")}


def _read_clips(manifest_path: Path) -> list[Clip]:
    from soundsentry.data.manifest import read_manifest

    clips = read_manifest(manifest_path)
    if not clips:
        raise DataError(f"{manifest_path}: the manifest lists no clips; run `soundsentry prepare` first")
    return clips


def train(
    recipe: Recipe | str | os.PathLike[str],
    manifest_path: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    resume: bool = True,
) -> Path:
    """Train the recipe's embedding network(s) on the manifest's training clips.

    Args:
        recipe: a :class:`Recipe`, or a recipe file / packaged recipe name.
        manifest_path: manifest written by the prepare step; copied into the run folder.
        run_dir: the run folder (created).
        resume: skip units that already have ``model.pt`` and continue interrupted ones from ``last.ckpt``;
            False deletes earlier checkpoints in ``run_dir/models`` and trains from scratch.

    Returns:
        ``run_dir``.
    """
    from soundsentry.data.manifest import write_manifest
    from soundsentry.training.data import training_units
    from soundsentry.training.features import build_feature_pipeline
    from soundsentry.training.trainer import MODEL_FILE, fit_unit, load_embedding_model

    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        _check_same_config(recipe, run_dir)
    elif (run_dir / "models").exists():
        shutil.rmtree(run_dir / "models")
    dump_resolved(recipe, run_dir / CONFIG_FILE)
    clips = _read_clips(Path(manifest_path))
    if Path(manifest_path).resolve() != (run_dir / MANIFEST_FILE).resolve():
        write_manifest(clips, run_dir / MANIFEST_FILE)

    pipeline = build_feature_pipeline(recipe).to(_device(recipe))
    class_maps: dict[str, list[str]] = {}
    summary: dict[str, Any] = {}
    for unit, unit_clips in training_units(clips, recipe.train.mode).items():
        out = run_dir / "models" / unit
        done = out / MODEL_FILE
        if resume and done.is_file():
            _, meta = load_embedding_model(done)
            class_maps[unit] = meta["classes"]
            print(f"[{unit}] model.pt exists, skipped (resume)")
            continue
        print(f"[{unit}] training on {len(unit_clips)} clips")
        result = fit_unit(recipe, unit, unit_clips, out, resume=resume, pipeline=pipeline)
        class_maps[unit] = result.classes
        summary[unit] = {
            "classes": result.classes,
            "train_clips": result.n_train_clips,
            "val_clips": result.n_val_clips,
            "checkpoint": result.best_checkpoint.name if result.best_checkpoint else None,
            "seconds": round(result.seconds, 2),
        }
        print(f"[{unit}] done in {result.seconds:.1f} s -> {result.model_path}")
    atomic_write_text(run_dir / CLASS_MAPS_FILE, json.dumps(class_maps, indent=2) + "\n")
    previous = run_dir / SUMMARY_FILE
    merged = {**(json.loads(previous.read_text()) if previous.is_file() else {}), **summary}
    atomic_write_text(previous, json.dumps(merged, indent=2) + "\n")
    return run_dir


def _load_run(run_dir: Path) -> tuple[Recipe, list[Clip]]:
    config = run_dir / CONFIG_FILE
    if not config.is_file():
        raise DataError(f"{run_dir}: no {CONFIG_FILE}; train a model into this folder first (`soundsentry train`)")
    return load_recipe(config), _read_clips(run_dir / MANIFEST_FILE)


def extract(run_dir: str | os.PathLike[str]) -> Path:
    """Embed every train and test clip of the run's manifest; writes ``run_dir/embeddings.npz`` atomically.

    The file holds ``clip_embeddings`` (N, D) (mean over each clip's chunks), ``chunk_embeddings`` (M, D),
    ``chunk_clip`` (M,) (index of each chunk's clip), ``paths`` (N,) and ``units`` (N,) in manifest order.
    """
    from soundsentry.training.data import unit_of
    from soundsentry.training.extract import embed_clips
    from soundsentry.training.features import build_feature_pipeline
    from soundsentry.training.trainer import MODEL_FILE, load_embedding_model

    run_dir = Path(run_dir)
    recipe, clips = _load_run(run_dir)
    device = _device(recipe)
    pipeline = build_feature_pipeline(recipe)
    units = [unit_of(c, recipe.train.mode) for c in clips]
    clip_emb: list[np.ndarray | None] = [None] * len(clips)
    chunk_parts: list[tuple[int, np.ndarray]] = []
    for unit in sorted(set(units)):
        path = run_dir / "models" / unit / MODEL_FILE
        if not path.is_file():
            raise DataError(f"{path} is missing: {unit} has no trained model; run `soundsentry train` on this run")
        model, _ = load_embedding_model(path)
        index = [i for i, u in enumerate(units) if u == unit]
        start = time.perf_counter()
        emb = embed_clips(model, pipeline, [clips[i] for i in index], recipe.features, device=device)
        for j, i in enumerate(index):
            clip_emb[i] = emb.clip[j]
            chunk_parts.append((i, emb.chunk[emb.chunk_clip == j]))
        print(f"[{unit}] embedded {len(index)} clips in {time.perf_counter() - start:.1f} s")
    chunk_parts.sort(key=lambda item: item[0])
    arrays = {
        "clip_embeddings": np.stack(clip_emb),  # type: ignore[arg-type]
        "chunk_embeddings": np.concatenate([a for _, a in chunk_parts]),
        "chunk_clip": np.concatenate([np.full(len(a), i, dtype=np.int64) for i, a in chunk_parts]),
        "paths": np.array([c.path for c in clips]),
        "units": np.array(units),
    }
    target = run_dir / EMBEDDINGS_FILE
    with atomic_output(target) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return target


def load_embeddings(run_dir: str | os.PathLike[str], clips: Sequence[Clip]) -> np.ndarray:
    """Clip embeddings (N, D) of ``run_dir/embeddings.npz`` in the order of ``clips`` (matched by path)."""
    path = Path(run_dir) / EMBEDDINGS_FILE
    if not path.is_file():
        raise DataError(f"{path} is missing; run the extract stage first")
    with np.load(path) as data:
        row = {str(p): i for i, p in enumerate(data["paths"])}
        missing = [c.path for c in clips if c.path not in row]
        if missing:
            raise DataError(f"{path}: {len(missing)} clips have no embedding (e.g. {missing[0]}); rerun extract")
        return data["clip_embeddings"][[row[c.path] for c in clips]]


def scores_file_name(spec: str) -> str:
    """File name of a scorer spec's scores: ``knn_cosine:k=10`` -> ``knn_cosine_k=10.csv`` (no ``:`` or ``,``)."""
    return re.sub(r"[^A-Za-z0-9_.=+-]", "_", spec.replace(" ", "")) + ".csv"


def _fill_unscored_train(
    features: np.ndarray, clips: Sequence[Clip], scores: np.ndarray, spec: str, centres: Any = None
) -> np.ndarray:
    """Training clips of a group with one training clip get no out-of-fold score; score them in sample."""
    from soundsentry.scoring import fit_scorer, score_rows

    for group in sorted({clips[i].group for i in np.flatnonzero(~np.isfinite(scores))}):
        idx = np.array([i for i, c in enumerate(clips) if c.group == group and c.split is Split.TRAIN])
        scorer = fit_scorer(spec, features, clips, idx, centres)
        scores[idx] = np.where(np.isfinite(scores[idx]), scores[idx], score_rows(scorer, features, clips, idx))
    return scores


def load_centres(run_dir: str | os.PathLike[str], clips: Sequence[Clip]) -> dict[tuple[str, str], np.ndarray]:
    """Learned sub-cluster centres per (machine type, section): the centres of every class of the group.

    Read from each unit's ``model.pt`` (head weights and class map); a group's classes are those whose key is
    its section (``fan/00`` in ``all`` mode), or starts with it (``fan/00/source`` ...). Empty when the run's
    head has no ``centres`` (e.g. ArcFace).
    """
    import torch

    from soundsentry.training.data import unit_of
    from soundsentry.training.trainer import MODEL_FILE, build_head

    run_dir = Path(run_dir)
    recipe, _ = _load_run(run_dir)
    out: dict[tuple[str, str], np.ndarray] = {}
    for unit in sorted({unit_of(c, recipe.train.mode) for c in clips}):
        path = run_dir / "models" / unit / MODEL_FILE
        if not path.is_file():
            raise DataError(f"{path} is missing: {unit} has no trained model; run `soundsentry train` on this run")
        payload = torch.load(path, map_location="cpu", weights_only=False)
        state = payload["head_state_dict"]
        head = build_head(recipe.head, int(state["weight"].shape[1]), len(payload["classes"]))
        head.load_state_dict(state)
        if not hasattr(head, "centres"):
            return {}
        centres = head.centres.numpy().astype(np.float64)  # (C, S, D)
        for group in {c.group for c in clips if unit_of(c, recipe.train.mode) == unit}:
            base = f"{group[0]}/{group[1]}" if recipe.train.mode == "all" else group[1]
            rows = [i for i, key in enumerate(payload["classes"]) if key == base or key.startswith(base + "/")]
            if rows:
                out[group] = centres[rows].reshape(-1, centres.shape[-1])
    return out


def _wants_centres(spec: str) -> bool:
    from soundsentry.scorers import create_scorer

    return bool(getattr(create_scorer(spec), "wants_centres", False))


def score(run_dir: str | os.PathLike[str], specs: Sequence[str] | None = None) -> list[Path]:
    """Fit each scorer per (machine type, section) on training clip embeddings and score every clip.

    Args:
        run_dir: a run folder with ``embeddings.npz``.
        specs: scorer specs; the recipe's ``score.scorers`` when None.

    Returns:
        The written ``run_dir/scores/<spec>.csv`` files (``path,anomaly_score``; test clips scored by a scorer fitted
        on all training clips of their group, training clips out of fold).
    """
    from soundsentry.evaluation import write_scores
    from soundsentry.scoring import score_clips

    run_dir = Path(run_dir)
    recipe, clips = _load_run(run_dir)
    specs = list(specs) if specs else list(recipe.score.scorers)
    features = load_embeddings(run_dir, clips).astype(np.float64)
    # Scorers initialised from the head's sub-cluster centres (gmm:init=centres) get them per group.
    centres = load_centres(run_dir, clips) if any(_wants_centres(s) for s in specs) else None
    written = []
    for spec in specs:
        scores = score_clips(features, clips, spec, centres=centres)
        scores = _fill_unscored_train(features, clips, scores, spec, centres)
        path = write_scores(run_dir / "scores" / scores_file_name(spec), clips, scores)
        print(f"{spec}: scored {len(clips)} clips -> {path}")
        written.append(Path(path))
    return written


def run(
    recipe_path: str | os.PathLike[str],
    data_root: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    overrides: Sequence[str] = (),
    *,
    resume: bool = True,
    layout: str | None = None,
) -> dict[str, Any]:
    """Prepare ``data_root``, train, extract, score with every recipe scorer and evaluate each scores file.

    Returns:
        ``{scores file stem: EvaluationResult}``; tables go to ``run_dir/results/<stem>/``.
    """
    from soundsentry.config import ANOMALY_TASK, recipe_task
    from soundsentry.pipeline import evaluate, prepare

    task = recipe_task(recipe_path)
    if task != ANOMALY_TASK:
        from soundsentry.scenes.config import TASK as SCENE_TASK
        from soundsentry.scenes.config import load_scene_recipe
        from soundsentry.scenes.run import run_scene_recipe

        if task != SCENE_TASK:
            raise ConfigError(f"{recipe_path}: unknown task {task!r}; known tasks: {ANOMALY_TASK}, {SCENE_TASK}")
        if layout is not None:
            raise ConfigError(f"--layout applies to anomaly-detection data, not to the {task!r} recipe {recipe_path}")
        return run_scene_recipe(load_scene_recipe(recipe_path, overrides), data_root, run_dir)
    recipe = load_recipe(recipe_path, overrides)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = run_dir / MANIFEST_FILE
    prepare(Path(data_root), manifest, layout=layout)
    train(recipe, manifest, run_dir, resume=resume)
    extract(run_dir)
    results = {}
    for path in score(run_dir):
        results[path.stem] = evaluate(manifest, path, out_dir=run_dir / "results" / path.stem)
    return results
