"""The run folder: its file names, reading its recipe and manifest back, and the embedding / logit arrays.

Everything a stage needs is read from the run folder, so each stage can be rerun on its own::

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

import os
import pickle
import re
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from soundsentry.config import Recipe, load_recipe
from soundsentry.errors import ConfigError, DataError
from soundsentry.types import Clip, Split

CONFIG_FILE = "config.yaml"
MANIFEST_FILE = "manifest.jsonl"
CLASS_MAPS_FILE = "class_maps.json"
SUMMARY_FILE = "train_summary.json"
EMBEDDINGS_FILE = "embeddings.npz"


def device(recipe: Recipe) -> str:
    """Where features and extraction run: the GPU when the recipe allows one and there is one."""
    import torch

    accelerator = recipe.train.accelerator
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def check_same_config(recipe: Recipe, run_dir: Path) -> None:
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


def read_clips(manifest_path: Path) -> list[Clip]:
    from soundsentry.data.manifest import read_manifest

    try:
        clips = read_manifest(manifest_path)
    except UnicodeDecodeError as err:  # read_manifest reports bad lines; a binary or damaged file fails before
        raise DataError(
            f"{manifest_path} is damaged or not a manifest (not UTF-8 text: {err.reason} at byte {err.start}); "
            "write it again with `soundsentry prepare`"
        ) from None
    if not clips:
        raise DataError(f"{manifest_path}: the manifest lists no clips; run `soundsentry prepare` first")
    return clips


def load_run(run_dir: Path) -> tuple[Recipe, list[Clip]]:
    """A run's recipe and the clips it embeds and scores: every clip of its manifest except DCASE 2025's
    supplemental ones (clean machine and noise clips: training may mix them in, nothing embeds or scores them)."""
    config = run_dir / CONFIG_FILE
    if not config.is_file():
        raise DataError(f"{run_dir}: no {CONFIG_FILE}; train a model into this folder first (`soundsentry train`)")
    clips = read_clips(run_dir / MANIFEST_FILE)
    return load_recipe(config), [c for c in clips if c.split is not Split.SUPPLEMENTAL]


#: What reading a damaged or half-written file raises: a truncated zip (``.npz``, ``model.pt``), a truncated
#: compressed member, a short read, a malformed array header.
DAMAGED_FILE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    RuntimeError,
    zipfile.BadZipFile,
    zlib.error,
    pickle.UnpicklingError,
)


def damaged_file_error(path: Path, err: BaseException, fix: str) -> DataError:
    """The one-line error for a run file that exists but cannot be read: the file, the reason and the fix."""
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    return DataError(f"{path} is damaged or incomplete ({reason}); {fix}")


def extract_fix(run_dir: str | os.PathLike[str]) -> str:
    """How to rebuild ``embeddings.npz``: rerun the extract stage on the run."""
    return f"rerun `soundsentry extract {run_dir}` to write it again"


def read_run_arrays(run_dir: str | os.PathLike[str], names: Sequence[str]) -> dict[str, np.ndarray]:
    """Read the ``names`` arrays of ``run_dir/embeddings.npz`` into memory (those the file holds).

    Every array is read here, inside one guard, because ``np.load`` of an ``.npz`` is lazy: a truncated file
    fails on the first array read, not on opening.

    Raises:
        DataError: the file is missing, or damaged (truncated, not an ``.npz``), naming it and the fix.
    """
    path = Path(run_dir) / EMBEDDINGS_FILE
    if not path.is_file():
        raise DataError(f"{path} is missing; run the extract stage first (`soundsentry extract {run_dir}`)")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in names if name in data.files}
    except DAMAGED_FILE_ERRORS as err:
        raise damaged_file_error(path, err, extract_fix(run_dir)) from None


def _require(arrays: dict[str, np.ndarray], run_dir: str | os.PathLike[str], names: Sequence[str]) -> None:
    absent = [name for name in names if name not in arrays]
    if absent:
        raise DataError(
            f"{Path(run_dir) / EMBEDDINGS_FILE} holds no {', '.join(absent)} array; it was not written by "
            f"`soundsentry extract`: {extract_fix(run_dir)}"
        )


def load_logits(run_dir: str | os.PathLike[str], clips: Sequence[Clip]) -> np.ndarray:
    """Clip logits (N, C_max) of ``run_dir/embeddings.npz`` in the order of ``clips`` (NaN-padded per unit)."""
    path = Path(run_dir) / EMBEDDINGS_FILE
    data = read_run_arrays(run_dir, ("paths", "clip_logits"))
    _require(data, run_dir, ("paths",))
    if "clip_logits" not in data:
        raise DataError(
            f"{path} holds no classifier logits (the run's head has none, or it was extracted before logits were "
            "saved); rerun `soundsentry extract`, or use an embedding scorer instead of softmax_id"
        )
    row = {str(p): i for i, p in enumerate(data["paths"])}
    missing = [c.path for c in clips if c.path not in row]
    if missing:
        raise DataError(f"{path}: {len(missing)} clips have no logits (e.g. {missing[0]}); rerun extract")
    return data["clip_logits"][[row[c.path] for c in clips]]


def load_embeddings(run_dir: str | os.PathLike[str], clips: Sequence[Clip]) -> np.ndarray:
    """Clip embeddings (N, D) of ``run_dir/embeddings.npz`` in the order of ``clips`` (matched by path)."""
    path = Path(run_dir) / EMBEDDINGS_FILE
    data = read_run_arrays(run_dir, ("paths", "clip_embeddings"))
    _require(data, run_dir, ("paths", "clip_embeddings"))
    row = {str(p): i for i, p in enumerate(data["paths"])}
    missing = [c.path for c in clips if c.path not in row]
    if missing:
        raise DataError(f"{path}: {len(missing)} clips have no embedding (e.g. {missing[0]}); rerun extract")
    return data["clip_embeddings"][[row[c.path] for c in clips]]


def load_chunk_embeddings(run_dir: str | os.PathLike[str], clips: Sequence[Clip]) -> tuple[np.ndarray, np.ndarray]:
    """Chunk embeddings of the ``clips`` in ``run_dir/embeddings.npz`` and, for each chunk, the index in ``clips``
    of its clip (chunks of clips not in ``clips`` are left out).

    Returns:
        (chunk embeddings (M, D), chunk_clip (M,) indices into ``clips``).
    """
    path = Path(run_dir) / EMBEDDINGS_FILE
    data = read_run_arrays(run_dir, ("paths", "chunk_clip", "chunk_embeddings"))
    _require(data, run_dir, ("paths", "chunk_clip", "chunk_embeddings"))
    position = {c.path: i for i, c in enumerate(clips)}
    file_to_clip = np.array([position.get(str(p), -1) for p in data["paths"]], dtype=np.int64)
    missing = len(clips) - int((file_to_clip >= 0).sum())
    if missing:
        raise DataError(f"{path}: {missing} clips have no embedding; rerun extract")
    owner = file_to_clip[data["chunk_clip"]]
    keep = owner >= 0
    return data["chunk_embeddings"][keep], owner[keep]


def scores_file_name(spec: str) -> str:
    """File name of a scorer spec's scores: ``knn_cosine:k=10`` -> ``knn_cosine_k=10.csv`` (no ``:`` or ``,``)."""
    return re.sub(r"[^A-Za-z0-9_.=+-]", "_", spec.replace(" ", "")) + ".csv"
