"""One unit's training as a list of phases over shared state, and the :class:`Phase` interface a phase implements.

:func:`prepare_unit` does what every phase shares: the class map and labels, the held-out split, the feature
cache (chunks of every clip of the unit) and the training-chunk mask. :func:`run_unit` then runs the phases in
two passes, so that model initialisation is seeded in one place and in a fixed order:

1. ``setup(run)`` of every phase, in order: build what the phase trains (the first one that needs the network
   calls :meth:`UnitRun.new_model`; a classifier phase builds its head);
2. ``fit(run)`` of every phase, in order: train, leaving the weights in ``run.model`` / ``run.head`` and the last
   fit in ``run.fitted``.

Finally the unit's ``model.pt`` is written from ``run.model`` and ``run.head`` (on the main process only). A phase
reads only ``run`` and the recipe; it never calls another phase.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from soundsentry.config import Recipe
from soundsentry.training.data import class_key, class_map, split_train_val
from soundsentry.training.features import ChunkCache, FeaturePipeline, build_feature_pipeline, compute_chunks
from soundsentry.training.modelfile import MODEL_FILE, build_embedding_model, model_meta, save_model
from soundsentry.training.module import EmbeddingModel
from soundsentry.training.noise_mix import noise_mix_active, noisy_chunks
from soundsentry.types import Clip, Domain


@dataclass
class UnitResult:
    """What training one unit produced."""

    unit: str
    classes: list[str]
    model_path: Path
    best_checkpoint: Path | None
    n_train_clips: int
    n_val_clips: int
    seconds: float


@dataclass
class Fitted:
    """The last :func:`~soundsentry.training.loop.fit` of a unit: its trainer and the checkpoint it selected."""

    trainer: Any
    selected: Path
    checkpoint: str  # as stored in model.pt: relative to the unit folder


@dataclass
class UnitRun:
    """Everything the phases of one unit share.

    Attributes:
        recipe, unit, clips, out_dir, resume, pipeline, selection_clips: as :func:`~soundsentry.training.fit_unit`.
        classes: the class map; ``labels`` (N,) the class index of each clip.
        train_clips, val_clips: clip indices of the training and held-out parts.
        cache: chunks (M, C, F, W) of every clip and their clip index (M,).
        train_chunk: (M,) True for the chunks of training clips.
        chunk_labels: (M,) the class index of each chunk.
        model, head: what the phases train (set in ``setup``, replaced or updated in ``fit``).
        fitted: the last fit, for the model file's checkpoint name and the main-process check.
        extra_meta: entries a phase adds to ``model.pt`` beside the metadata (the autoencoder's covariances).
    """

    recipe: Recipe
    unit: str
    clips: list[Clip]
    out_dir: Path
    resume: bool
    pipeline: FeaturePipeline
    selection_clips: list[Clip] | None
    classes: list[str]
    labels: torch.Tensor
    train_clips: list[int]
    val_clips: list[int]
    cache: ChunkCache
    train_chunk: torch.Tensor
    chunk_labels: torch.Tensor
    start: float = field(default_factory=time.perf_counter)
    model: EmbeddingModel | None = None
    head: nn.Module | None = None
    fitted: Fitted | None = None
    extra_meta: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, F, W) of one chunk."""
        return tuple(self.cache.chunks.shape[1:])  # type: ignore[return-value]

    def meta(self, checkpoint: str) -> dict[str, Any]:
        """The ``model.pt`` metadata of this unit (:func:`~soundsentry.training.modelfile.model_meta`)."""
        return model_meta(self.unit, self.classes, self.shape, self.recipe, checkpoint)

    def new_model(self) -> EmbeddingModel:
        """``run.model``, built on first use: seeded with ``train.seed``, its standardiser fitted on the training
        chunks (S3 sec. 2.1: statistics of all training data)."""
        if self.model is None:
            seed(self.recipe.train.seed)
            self.model = build_embedding_model(self.recipe, self.shape)
            if self.recipe.features.standardize != "none":
                self.model.standardizer.fit(self.cache.chunks[self.train_chunk])
        return self.model


class Phase:
    """One step of a unit's training. Subclasses set ``name`` and override :meth:`fit` (and :meth:`setup`)."""

    name = "phase"

    def setup(self, run: UnitRun) -> None:
        """Build what this phase trains; runs for every phase, in order, before any phase fits."""

    def fit(self, run: UnitRun) -> None:
        """Train; leave the weights in ``run.model`` / ``run.head`` and the fit in ``run.fitted``."""
        raise NotImplementedError(f"phase {self.name!r} does not implement fit")


def seed(value: int) -> None:
    """Seed Python, NumPy and torch (and loader workers) quietly."""
    import lightning.pytorch as pl

    pl.seed_everything(value, workers=True, verbose=False)


def split(recipe: Recipe, clips: list[Clip]) -> tuple[list[int], list[int]]:
    """Held-out split; a two-step recipe holds out source clips only (the few target clips all train step 2)."""
    t = recipe.train
    if t.phase == "autoencoder":  # the autoencoder holds out frame vectors, not clips (phases/autoencoder.py)
        return list(range(len(clips))), []
    if t.finetune is None:
        return split_train_val(clips, t.val_fraction, t.seed, t.mode, t.classes)
    source = [i for i, c in enumerate(clips) if c.domain is not Domain.TARGET]
    _, val = split_train_val([clips[i] for i in source], t.val_fraction, t.seed, t.mode, t.classes)
    held = {source[j] for j in val}
    return [i for i in range(len(clips)) if i not in held], sorted(held)


def prepare_unit(
    recipe: Recipe,
    unit: str,
    clips: list[Clip],
    out_dir: Path,
    *,
    resume: bool = True,
    pipeline: FeaturePipeline | None = None,
    selection_clips: list[Clip] | None = None,
    noise_clips: Sequence[Clip] = (),
) -> UnitRun:
    """Class map, labels, held-out split and feature cache of one unit (no model yet).

    With ``train.noise_mix`` on, the cache also holds noisy versions of the training clips, mixed with
    ``noise_clips`` (:func:`~soundsentry.training.noise_mix.noisy_chunks`).
    """
    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    t = recipe.train
    classes = class_map(clips, t.mode, t.classes)
    index = {c: i for i, c in enumerate(classes)}
    labels = torch.tensor([index[class_key(c, t.mode, t.classes)] for c in clips], dtype=torch.long)
    train_clips, val_clips = split(recipe, clips)
    pipeline = pipeline or build_feature_pipeline(recipe)
    cache = compute_chunks(clips, pipeline, recipe.features)
    if noise_mix_active(recipe):
        cache.noisy = noisy_chunks(recipe, clips, train_clips, noise_clips, cache, pipeline)
    in_train = torch.zeros(cache.n_clips, dtype=torch.bool)
    in_train[train_clips] = True
    return UnitRun(
        recipe=recipe,
        unit=unit,
        clips=clips,
        out_dir=out_dir,
        resume=resume,
        pipeline=pipeline,
        selection_clips=selection_clips,
        classes=classes,
        labels=labels,
        train_clips=train_clips,
        val_clips=val_clips,
        cache=cache,
        train_chunk=in_train[cache.clip_index],
        chunk_labels=labels[cache.clip_index],
        start=start,
    )


def run_unit(run: UnitRun, phases: list[Phase]) -> UnitResult:
    """Set up and fit ``phases`` in order, then write the unit's ``model.pt`` (on the main process)."""
    for phase in phases:
        phase.setup(run)
    for phase in phases:
        phase.fit(run)
    if run.fitted is None or run.model is None:
        names = ", ".join(p.name for p in phases) or "none"
        raise RuntimeError(f"[{run.unit}] the phases ({names}) trained no model; the last one must call fit")
    model_path = run.out_dir / MODEL_FILE
    if run.fitted.trainer.is_global_zero:
        save_model(model_path, run.model, run.head, {**run.meta(run.fitted.checkpoint), **run.extra_meta})
    selected = run.fitted.selected
    best = selected if selected.is_file() else None
    return UnitResult(
        run.unit,
        run.classes,
        model_path,
        best,
        len(run.train_clips),
        len(run.val_clips),
        time.perf_counter() - run.start,
    )
