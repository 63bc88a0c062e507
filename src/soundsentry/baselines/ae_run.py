"""Extraction for a run trained with ``train.phase: autoencoder``: per clip the statistics both baseline scores need.

:func:`ae_embeddings` is what ``soundsentry extract`` writes for such a run: ``clip_embeddings`` are the rows
``[mse, m]`` (:func:`~soundsentry.scorers.autoencoder.clip_statistics`, ``1 + n_mels`` float64 values per clip),
and, so that chunk-level code reads the same keys, one "chunk" per clip holding the same row. The per-section
covariances stay in each unit's ``model.pt``; :func:`load_covariances` gives them to the score stage.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from soundsentry.baselines.ae_model import chunk_vectors, clip_rows, load_ae_model, reconstruction_errors
from soundsentry.config import Recipe
from soundsentry.errors import DataError
from soundsentry.scorers.autoencoder import DomainCovariances
from soundsentry.types import Clip


def _model_path(run_dir: Path, unit: str) -> Path:
    from soundsentry.training.modelfile import MODEL_FILE

    path = run_dir / "models" / unit / MODEL_FILE
    if not path.is_file():
        raise DataError(f"{path} is missing: {unit} has no trained model; run `soundsentry train` on this run")
    return path


def ae_statistics(run_dir: Path, recipe: Recipe, clips: Sequence[Clip], unit: str) -> np.ndarray:
    """``(len(clips), 1 + n_mels)`` rows ``[mse, m]`` of ``clips`` through the unit's trained autoencoder."""
    from soundsentry.training.features import build_feature_pipeline, iter_clip_chunks

    model = load_ae_model(_model_path(run_dir, unit))
    pipeline = build_feature_pipeline(recipe)
    rows = np.full((len(clips), 1 + model.slice_width), np.nan)
    for indices, chunks in iter_clip_chunks(clips, pipeline, recipe.features):
        b, n = chunks.shape[:2]
        errors = reconstruction_errors(model.net, chunk_vectors(chunks.reshape(b * n, *chunks.shape[2:]).float()))
        rows[indices] = clip_rows(errors, np.repeat(np.arange(b), n), b, model.slice_width)
    return rows


def ae_embeddings(run_dir: str | Path, recipe: Recipe, clips: Sequence[Clip]) -> dict[str, np.ndarray]:
    """The arrays of ``embeddings.npz`` for an autoencoder run, in manifest order (see the module docstring)."""
    from soundsentry.training.data import unit_of

    run_dir = Path(run_dir)
    units = [unit_of(c, recipe.train.mode) for c in clips]
    stats = np.full((len(clips), 0), np.nan)
    for unit in sorted(set(units)):
        index = [i for i, u in enumerate(units) if u == unit]
        start = time.perf_counter()
        part = ae_statistics(run_dir, recipe, [clips[i] for i in index], unit)
        if stats.shape[1] == 0:
            stats = np.full((len(clips), part.shape[1]), np.nan)
        stats[index] = part
        print(f"[{unit}] AE statistics of {len(index)} clips in {time.perf_counter() - start:.1f} s")
    return {
        "clip_embeddings": stats,
        "chunk_embeddings": stats.copy(),
        "chunk_clip": np.arange(len(clips), dtype=np.int64),
        "paths": np.array([c.path for c in clips]),
        "units": np.array(units),
    }


def load_covariances(
    run_dir: str | Path, recipe: Recipe, clips: Sequence[Clip]
) -> dict[tuple[str, str], DomainCovariances]:
    """Source / target error covariances per (machine type, section) of ``clips``, from each unit's ``model.pt``.

    Empty for a run not trained with ``train.phase: autoencoder`` (``selective_mahalanobis`` then estimates one
    covariance from the training rows).
    """
    from soundsentry.training.data import unit_of

    if recipe.train.phase != "autoencoder":
        return {}
    run_dir = Path(run_dir)
    out: dict[tuple[str, str], DomainCovariances] = {}
    for unit in sorted({unit_of(c, recipe.train.mode) for c in clips}):
        model = load_ae_model(_model_path(run_dir, unit))
        for group in {c.group for c in clips if unit_of(c, recipe.train.mode) == unit}:
            if group[1] in model.covariances:
                out[group] = model.covariances[group[1]]
    return out


__all__ = ["ae_embeddings", "ae_statistics", "load_covariances"]
