"""Train one unit (a machine type, or all types) end to end and save ``model.pt``; load it back for extraction.

Layout of a unit's folder ``run_dir/models/<unit>/``::

    last.ckpt      Lightning checkpoint after the latest epoch (weights, optimiser, scheduler, loop state): resume
    best.ckpt      the epoch with the lowest validation loss of the ID classifier (the last epoch without val split)
    logs/metrics.csv   per-epoch train_loss / train_acc / val_loss / val_acc / lr
    model.pt       the selected weights for extraction: standardiser + backbone state, class map, recipe

Reproducibility: model initialisation is seeded per unit, the held-out split and the per-epoch shuffle depend only
on the seed, so a unit resumed from ``last.ckpt`` after an interrupt at an epoch boundary reproduces the
uninterrupted run bit for bit on CPU.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from soundsentry.config import ComponentSpec, Recipe, recipe_from_dict
from soundsentry.errors import DataError
from soundsentry.io import atomic_output
from soundsentry.training.data import ChunkDataset, EpochShuffleSampler, class_key, class_map, split_train_val
from soundsentry.training.features import (
    ChunkCache,
    FeaturePipeline,
    build_feature_pipeline,
    check_backbone_input,
    chunk_shape,
    compute_chunks,
)
from soundsentry.training.module import EmbeddingModel, MarginClassifierModule
from soundsentry.types import Clip

MODEL_FILE = "model.pt"
MODEL_FORMAT = 1
# Expected here: the unit folder already holds logs/ (and, on resume, checkpoints); a torch/Lightning deprecation.
_QUIET_WARNINGS = (r"Checkpoint directory .* exists and is not empty", r".*isinstance\(treespec, LeafSpec\)")


class _DropAdverts(logging.Filter):
    """Drops Lightning's advertisement for its cloud logger from the console output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropAdverts())


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


def build_embedding_model(recipe: Recipe, shape: tuple[int, int, int]) -> EmbeddingModel:
    """An untrained standardiser + backbone for chunks of ``shape`` = (C, F, W); checks the backbone fits them."""
    import soundsentry.backbones  # noqa: F401  (registration)
    from soundsentry.frontends import Standardizer
    from soundsentry.registry import BACKBONES

    backbone = BACKBONES.create(recipe.backbone.name, **recipe.backbone.kwargs)
    check_backbone_input(recipe, shape, backbone)
    mode = recipe.features.standardize
    standardizer = None if mode == "none" else Standardizer(per_bin=mode == "per_bin")
    return EmbeddingModel(backbone, standardizer)


def build_head(spec: ComponentSpec, embed_dim: int, num_classes: int) -> torch.nn.Module:
    import soundsentry.heads  # noqa: F401  (registration)
    from soundsentry.registry import HEADS

    return HEADS.create(spec.name, embed_dim=embed_dim, num_classes=num_classes, **spec.kwargs)


def _loaders(
    recipe: Recipe, cache: ChunkCache, labels: torch.Tensor, train_clips: list[int], val_clips: list[int]
) -> tuple[DataLoader, DataLoader | None]:
    in_train = torch.zeros(cache.n_clips, dtype=torch.bool)
    in_train[train_clips] = True
    chunk_in_train = in_train[cache.clip_index]
    chunk_labels = labels[cache.clip_index]
    t = recipe.train
    train_set = ChunkDataset(cache.chunks[chunk_in_train], chunk_labels[chunk_in_train])
    if len(train_set) < 2:
        raise DataError(f"only {len(train_set)} training chunk(s); batch norm needs at least 2 per batch")
    # A final batch of one chunk would break batch norm; it is reshuffled into the next epoch instead.
    drop_last = len(train_set) % t.batch_size == 1
    train = DataLoader(
        train_set,
        batch_size=t.batch_size,
        sampler=EpochShuffleSampler(len(train_set), t.seed),
        num_workers=t.num_workers,
        drop_last=drop_last,
        persistent_workers=t.num_workers > 0,
    )
    if not val_clips:
        return train, None
    val_set = ChunkDataset(cache.chunks[~chunk_in_train], chunk_labels[~chunk_in_train])
    val = DataLoader(val_set, batch_size=t.batch_size, shuffle=False, num_workers=t.num_workers)
    return train, val


def _trainer(recipe: Recipe, out_dir: Path, has_val: bool) -> Any:
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    t = recipe.train
    # last.ckpt is its own callback: Lightning's save_last only refreshes it when a new best is saved, so a run
    # whose validation loss stopped improving would otherwise resume from an old epoch.
    callbacks: list[Any] = [
        ModelCheckpoint(
            dirpath=out_dir,
            filename="last",
            save_top_k=1,
            every_n_epochs=t.checkpoint_every,
            enable_version_counter=False,
        )
    ]
    if has_val:
        best = ModelCheckpoint(
            dirpath=out_dir,
            filename="best",
            monitor="val_loss",
            mode="min",
            save_top_k=1,
            every_n_epochs=t.checkpoint_every,
            enable_version_counter=False,
        )
        callbacks.append(best)
    if t.scheduler.name != "none":
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    return pl.Trainer(
        max_epochs=t.epochs,
        accelerator=t.accelerator,
        devices=t.devices,
        strategy=t.strategy,
        precision=t.precision,
        deterministic=t.deterministic,
        callbacks=callbacks,
        logger=CSVLogger(save_dir=out_dir, name="logs", version=""),
        enable_progress_bar=t.progress_bar,
        enable_model_summary=t.progress_bar,
        num_sanity_val_steps=0,
        log_every_n_steps=10,
    )


def fit_unit(
    recipe: Recipe,
    unit: str,
    clips: list[Clip],
    out_dir: Path,
    *,
    resume: bool = True,
    pipeline: FeaturePipeline | None = None,
) -> UnitResult:
    """Train the embedding network of one unit on its training ``clips`` and write ``out_dir/model.pt``.

    Args:
        recipe: the resolved recipe.
        unit: unit name (machine type or ``"all"``), stored in the model file.
        clips: the unit's training clips (normal).
        out_dir: the unit's folder (checkpoints, logs, model file).
        resume: continue from ``out_dir/last.ckpt`` when it exists; otherwise start afresh.
        pipeline: feature pipeline (built from the recipe when None).
    """
    import lightning.pytorch as pl

    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    mode = recipe.train.mode
    labelling = recipe.train.classes
    classes = class_map(clips, mode, labelling)
    index = {c: i for i, c in enumerate(classes)}
    labels = torch.tensor([index[class_key(c, mode, labelling)] for c in clips], dtype=torch.long)
    train_clips, val_clips = split_train_val(clips, recipe.train.val_fraction, recipe.train.seed, mode, labelling)

    pipeline = pipeline or build_feature_pipeline(recipe)
    cache = compute_chunks(clips, pipeline, recipe.features)
    shape: tuple[int, int, int] = tuple(cache.chunks.shape[1:])  # type: ignore[assignment]

    pl.seed_everything(recipe.train.seed, workers=True, verbose=False)
    model = build_embedding_model(recipe, shape)
    if recipe.features.standardize != "none":
        in_train = torch.zeros(cache.n_clips, dtype=torch.bool)
        in_train[train_clips] = True
        model.standardizer.fit(cache.chunks[in_train[cache.clip_index]])
    head = build_head(recipe.head, model.embed_dim, len(classes))
    train_loader, val_loader = _loaders(recipe, cache, labels, train_clips, val_clips)
    module = MarginClassifierModule(model, head, recipe.train, batches_per_epoch=len(train_loader))

    trainer = _trainer(recipe, out_dir, val_loader is not None)
    last = out_dir / "last.ckpt"
    ckpt_path = str(last) if resume and last.is_file() else None
    with warnings.catch_warnings():
        for message in _QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader, ckpt_path=ckpt_path)

    best = out_dir / "best.ckpt"
    selected = best if best.is_file() else last
    model_path = out_dir / MODEL_FILE
    if trainer.is_global_zero:
        state = torch.load(selected, map_location="cpu", weights_only=False)["state_dict"]
        module.load_state_dict(state)
        payload = {
            "format": MODEL_FORMAT,
            "unit": unit,
            "classes": classes,
            "chunk_shape": list(shape),
            "recipe": recipe.to_dict(),
            "checkpoint": selected.name,
            "state_dict": {k: v.detach().cpu() for k, v in module.model.state_dict().items()},
            "head_state_dict": {k: v.detach().cpu() for k, v in module.head.state_dict().items()},
        }
        with atomic_output(model_path) as tmp:
            torch.save(payload, tmp)
    return UnitResult(
        unit,
        classes,
        model_path,
        selected if selected.is_file() else None,
        len(train_clips),
        len(val_clips),
        time.perf_counter() - start,
    )


def load_embedding_model(path: str | os.PathLike[str]) -> tuple[EmbeddingModel, dict[str, Any]]:
    """The trained standardiser + backbone of a ``model.pt`` (in eval mode) and the file's metadata."""
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise DataError(f"{path}: not a soundsentry model file (format {MODEL_FORMAT}); retrain with `train`")
    recipe = recipe_from_dict(payload["recipe"], str(path))
    model = build_embedding_model(recipe, tuple(payload["chunk_shape"]))  # type: ignore[arg-type]
    model.load_state_dict(payload["state_dict"])
    meta = {k: v for k, v in payload.items() if k not in ("state_dict", "head_state_dict")}
    return model.eval(), meta


__all__ = [
    "MODEL_FILE",
    "UnitResult",
    "build_embedding_model",
    "build_head",
    "chunk_shape",
    "fit_unit",
    "load_embedding_model",
]
