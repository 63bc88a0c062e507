"""Training stages as plain functions the CLI calls: train, extract, score, and ``run`` for all of them.

The run folder's files and embedding I/O are in :mod:`soundsentry.runfiles`, what the heads give the scorers
(logits, centres) in :mod:`soundsentry.run_scoring`; their names stay importable from here. ``run`` uses the data
stages of :mod:`soundsentry.data_stages` (prepare, evaluate). Everything a stage needs is read from the run folder,
so each stage can be rerun on its own::

    run_dir/
      config.yaml            the resolved recipe (every default filled in)
      manifest.jsonl         the clips the run was trained and scored on
      class_maps.json        {unit: [class key, ...]}; a class's index is its position
      train_summary.json     clips, classes, checkpoint used and seconds per unit
      models/<unit>/         last.ckpt, best.ckpt, logs/metrics.csv, model.pt (unit = machine type, or "all";
                             ``mode: transfer`` has both: the integrated model and each type's classifier on it)
      embeddings.npz         clip and chunk embeddings of every train and test clip
      scores/<spec>.csv      path,anomaly_score per scorer spec
      results/<spec>/        evaluation tables and official CSVs (``run`` only)
      results/embedding_map_<unit>.png   t-SNE map per unit (``run`` with ``score.embedding_map: true``)
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from soundsentry.config import Recipe, dump_resolved, load_recipe
from soundsentry.distributed import is_global_zero
from soundsentry.errors import ConfigError, DataError
from soundsentry.io import atomic_output, atomic_write_text
from soundsentry.run_scoring import (
    _fill_unscored_train,
    _input_kind,
    _wants_centres,
    _wants_covariances,
    group_class_indices,
    load_centres,
    load_covariances,
    score_logits,
)
from soundsentry.runfiles import (
    CLASS_MAPS_FILE,
    CONFIG_FILE,
    EMBEDDINGS_FILE,
    MANIFEST_FILE,
    SUMMARY_FILE,
    check_same_config,
    device,
    load_chunk_embeddings,
    load_embeddings,
    load_logits,
    load_run,
    read_clips,
    scores_file_name,
)
from soundsentry.types import Clip, Split

# The names these had when they lived here.
_device, _check_same_config, _read_clips, _load_run = device, check_same_config, read_clips, load_run


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
    from soundsentry.training.data import ALL_UNIT, training_units, unit_of
    from soundsentry.training.features import build_feature_pipeline
    from soundsentry.training.modelfile import MODEL_FILE, read_model_file
    from soundsentry.training.noise_mix import noise_clips
    from soundsentry.training.phases import check_can_learn
    from soundsentry.training.trainer import fit_transfer_unit, fit_unit

    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        check_same_config(recipe, run_dir)
    elif (run_dir / "models").exists():
        shutil.rmtree(run_dir / "models")
    dump_resolved(recipe, run_dir / CONFIG_FILE)
    clips = read_clips(Path(manifest_path))
    check_can_learn(recipe, clips)  # a classifier over one class learns nothing: refused before any work
    noise = noise_clips(recipe, clips, manifest_path)  # train.noise_mix: each trained type needs noise clips
    if Path(manifest_path).resolve() != (run_dir / MANIFEST_FILE).resolve():
        write_manifest(clips, run_dir / MANIFEST_FILE)

    pipeline = build_feature_pipeline(recipe).to(device(recipe))
    class_maps: dict[str, list[str]] = {}
    summary: dict[str, Any] = {}
    selection = _selection_clips(recipe, clips)
    if recipe.train.selection is not None:
        where = "THE TEST SET (train.selection.on_test=true)" if recipe.train.selection.on_test else None
        where = where or ("held-out normals + pseudo-anomalies" if selection is None else recipe.train.selection.data)
        print(f"checkpoint selection: AUC + pAUC every {recipe.train.selection.every} epochs on {where}")
        summary["selection"] = where
    integrated = None
    if recipe.train.mode == "transfer":
        # S4: the integrated model over every machine ID first; each type then fine-tunes its classifier on it.
        integrated = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, mode="all"))
    units = [(integrated, *item) for item in training_units(clips, "all").items()] if integrated else []
    units += [(recipe, *item) for item in training_units(clips, recipe.train.mode).items()]
    for unit_recipe, unit, unit_clips in units:
        out = run_dir / "models" / unit
        done = out / MODEL_FILE
        is_integrated = unit_recipe is integrated
        if resume and done.is_file():
            if not is_integrated:
                class_maps[unit] = read_model_file(done)["classes"]
            print(f"[{unit}] model.pt exists, skipped (resume)")
            continue
        print(f"[{unit}] training on {len(unit_clips)} clips")
        mode = unit_recipe.train.mode
        chosen = None if selection is None else [c for c in selection if unit_of(c, mode) == unit]
        if recipe.train.mode == "transfer" and not is_integrated:
            integrated_model = run_dir / "models" / ALL_UNIT / MODEL_FILE
            result = fit_transfer_unit(
                recipe,
                unit,
                unit_clips,
                out,
                integrated_model,
                resume=resume,
                pipeline=pipeline,
                selection_clips=chosen,
                noise_clips=noise,
            )
        else:
            result = fit_unit(
                unit_recipe,
                unit,
                unit_clips,
                out,
                resume=resume,
                pipeline=pipeline,
                selection_clips=chosen,
                noise_clips=noise,
            )
        if not is_integrated:
            class_maps[unit] = result.classes
        summary[unit] = {
            "classes": result.classes,
            "train_clips": result.n_train_clips,
            "val_clips": result.n_val_clips,
            "checkpoint": result.best_checkpoint.name if result.best_checkpoint else None,
            "seconds": round(result.seconds, 2),
        }
        print(f"[{unit}] done in {result.seconds:.1f} s -> {result.model_path}")
    if not is_global_zero():  # a DDP worker: the launching process writes the run's files
        return run_dir
    atomic_write_text(run_dir / CLASS_MAPS_FILE, json.dumps(class_maps, indent=2) + "\n")
    previous = run_dir / SUMMARY_FILE
    merged = {**(json.loads(previous.read_text()) if previous.is_file() else {}), **summary}
    atomic_write_text(previous, json.dumps(merged, indent=2) + "\n")
    return run_dir


def _selection_clips(recipe: Recipe, clips: Sequence[Clip]) -> list[Clip] | None:
    """Labelled clips of ``train.selection`` (the run's test clips, or a validation manifest's); None = held out."""
    sel = recipe.train.selection
    if sel is None or (sel.data == "heldout" and not sel.on_test):
        return None
    if sel.on_test:
        return [c for c in clips if c.split is Split.TEST]
    path = Path(sel.data)
    if not path.is_file():
        raise DataError(
            f"{path}: train.selection.data names no manifest file; write one with `soundsentry prepare` or use heldout"
        )
    return read_clips(path)


def extract(run_dir: str | os.PathLike[str]) -> Path:
    """Embed every train and test clip of the run's manifest; writes ``run_dir/embeddings.npz`` atomically.

    The file holds ``clip_embeddings`` (N, D) (mean over each clip's chunks), ``chunk_embeddings`` (M, D),
    ``chunk_clip`` (M,) (index of each chunk's clip), ``paths`` (N,) and ``units`` (N,) in manifest order, and,
    when the heads have ``logits`` (S4's ``softmax_id`` scorer), ``clip_logits`` (N, C_max): the mean over each
    clip's chunks of the head's margin-free chunk logits, in the class order of the clip's unit
    (``class_maps.json``), NaN beyond that unit's class count. (S4 feeds a whole clip as one input, where the mean
    of chunk logits and the logits of the mean embedding coincide; with several chunks, averaging the classifier's
    outputs is what the checkpoint selection scores too.)
    """
    from soundsentry.training.data import unit_of
    from soundsentry.training.extract import embed_clips
    from soundsentry.training.features import build_feature_pipeline
    from soundsentry.training.modelfile import MODEL_FILE, load_embedding_model, load_head

    run_dir = Path(run_dir)
    recipe, clips = load_run(run_dir)
    if recipe.train.phase == "autoencoder":  # rows [mse, m] per clip (soundsentry.baselines.ae_run)
        from soundsentry.baselines.ae_run import ae_embeddings

        return _write_embeddings(run_dir, ae_embeddings(run_dir, recipe, clips))
    where = device(recipe)
    pipeline = build_feature_pipeline(recipe)
    units = [unit_of(c, recipe.train.mode) for c in clips]
    clip_emb: list[np.ndarray | None] = [None] * len(clips)
    chunk_parts: list[tuple[int, np.ndarray]] = []
    logit_parts: dict[int, np.ndarray] = {}
    for unit in sorted(set(units)):
        path = run_dir / "models" / unit / MODEL_FILE
        if not path.is_file():
            raise DataError(f"{path} is missing: {unit} has no trained model; run `soundsentry train` on this run")
        model, _ = load_embedding_model(path)
        index = [i for i, u in enumerate(units) if u == unit]
        start = time.perf_counter()
        emb = embed_clips(model, pipeline, [clips[i] for i in index], recipe.features, device=where)
        for j, i in enumerate(index):
            clip_emb[i] = emb.clip[j]
            chunk_parts.append((i, emb.chunk[emb.chunk_clip == j]))
        head = load_head(path, model.embed_dim)
        if head is not None:
            logits = _clip_logits(head[0], emb.chunk, emb.chunk_clip, len(index))
            logit_parts.update({i: logits[j] for j, i in enumerate(index)})
        print(f"[{unit}] embedded {len(index)} clips in {time.perf_counter() - start:.1f} s")
    chunk_parts.sort(key=lambda item: item[0])
    arrays = {
        "clip_embeddings": np.stack(clip_emb),  # type: ignore[arg-type]
        "chunk_embeddings": np.concatenate([a for _, a in chunk_parts]),
        "chunk_clip": np.concatenate([np.full(len(a), i, dtype=np.int64) for i, a in chunk_parts]),
        "paths": np.array([c.path for c in clips]),
        "units": np.array(units),
    }
    if len(logit_parts) == len(clips):
        width = max(len(v) for v in logit_parts.values())
        padded = np.full((len(clips), width), np.nan, dtype=np.float32)
        for i, v in logit_parts.items():
            padded[i, : len(v)] = v
        arrays["clip_logits"] = padded
    return _write_embeddings(run_dir, arrays)


def _write_embeddings(run_dir: Path, arrays: dict[str, np.ndarray]) -> Path:
    target = run_dir / EMBEDDINGS_FILE
    with atomic_output(target) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return target


def _clip_logits(head: Any, chunk_emb: np.ndarray, chunk_clip: np.ndarray, n_clips: int) -> np.ndarray:
    """(n_clips, C) mean over each clip's chunks of ``head.logits(chunk embedding)`` (no margin)."""
    import torch

    with torch.no_grad():
        logits = head.logits(torch.from_numpy(chunk_emb).float()).double().numpy()
    sums = np.zeros((n_clips, logits.shape[1]))
    np.add.at(sums, chunk_clip, logits)
    return (sums / np.bincount(chunk_clip, minlength=n_clips)[:, None]).astype(np.float32)


def score(run_dir: str | os.PathLike[str], specs: Sequence[str] | None = None) -> list[Path]:
    """Fit each scorer per (machine type, section) on training clip embeddings and score every clip.

    Args:
        run_dir: a run folder with ``embeddings.npz``.
        specs: scorer specs; the recipe's ``score.scorers`` when None.

    A scorer whose ``input_kind`` is ``logits`` (``softmax_id``) gets the clips' classifier logits instead of
    embeddings, and the own class of each group from ``class_maps.json`` (see :func:`group_class_indices`). One whose
    ``input_kind`` is ``chunks`` (``chunks:inner=...``) is fitted on the chunk embeddings of the training clips and
    pools each clip's chunk scores (:func:`soundsentry.chunk_scoring.score_chunk_clips`).

    Returns:
        The written ``run_dir/scores/<spec>.csv`` files (``path,anomaly_score``; test clips scored by a scorer fitted
        on all training clips of their group, training clips out of fold).
    """
    from soundsentry.evaluation import write_scores
    from soundsentry.scoring import score_clips

    run_dir = Path(run_dir)
    recipe, clips = load_run(run_dir)
    specs = list(specs) if specs else list(recipe.score.scorers)
    features = load_embeddings(run_dir, clips).astype(np.float64)
    # Scorers initialised from the head's sub-cluster centres (gmm:init=centres) get them per group.
    centres = load_centres(run_dir, clips) if any(_wants_centres(s) for s in specs) else None
    # selective_mahalanobis on an autoencoder run gets each group's error covariances from its model.pt.
    covariances = load_covariances(run_dir, clips) if any(_wants_covariances(s) for s in specs) else None
    written = []
    chunks: tuple[np.ndarray, np.ndarray] | None = None
    for spec in specs:
        kind = _input_kind(spec)
        if kind == "logits":
            scores, _ = score_logits(run_dir, recipe, clips, spec)
        elif kind == "chunks":
            from soundsentry.chunk_scoring import fill_unscored_train_chunks, score_chunk_clips

            if chunks is None:
                chunks = load_chunk_embeddings(run_dir, clips)
            scores = score_chunk_clips(chunks[0], chunks[1], clips, spec, centres=centres)
            scores = fill_unscored_train_chunks(chunks[0], chunks[1], clips, scores, spec, centres)
        else:
            scores = score_clips(features, clips, spec, centres=centres, covariances=covariances)
            scores = _fill_unscored_train(features, clips, scores, spec, centres, covariances=covariances)
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
    from soundsentry.data_stages import evaluate, prepare

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
    if not is_global_zero():  # a DDP worker is done when training is; the launching process goes on
        return {}
    extract(run_dir)
    results = {}
    for path in score(run_dir):
        results[path.stem] = evaluate(manifest, path, out_dir=run_dir / "results" / path.stem)
    sel = recipe.train.selection
    if sel is not None and sel.on_test:
        note = "checkpoints were selected on THE TEST SET (train.selection.on_test=true): these figures are optimistic"
        atomic_write_text(run_dir / "results" / "SELECTED_ON_TEST.txt", note + "\n")
        print(note)
    if recipe.score.embedding_map:
        from soundsentry.deploy.report import write_embedding_maps

        for unit, png in write_embedding_maps(run_dir, read_clips(manifest), recipe.train.mode, run_dir / "results"):
            print(f"[{unit}] embedding map -> {png}")
    return results


__all__ = [
    "CLASS_MAPS_FILE",
    "CONFIG_FILE",
    "EMBEDDINGS_FILE",
    "MANIFEST_FILE",
    "SUMMARY_FILE",
    "extract",
    "group_class_indices",
    "load_centres",
    "load_embeddings",
    "load_logits",
    "run",
    "score",
    "score_logits",
    "scores_file_name",
    "train",
]
