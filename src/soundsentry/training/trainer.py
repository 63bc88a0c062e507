"""Train one unit (a machine type, or all types) end to end and save ``model.pt``; load it back for extraction.

Layout of a unit's folder ``run_dir/models/<unit>/``::

    last.ckpt      Lightning checkpoint after the latest epoch (weights, optimiser, scheduler, loop state): resume
    best.ckpt      the epoch with the lowest validation loss of the ID classifier (the last epoch without val split)
    logs/metrics.csv   per-epoch train_loss / train_acc / val_loss / val_acc / lr
    model.pt       the selected weights for extraction: standardiser + backbone state, class map, recipe
    step1/         two-step recipes (``train.finetune``, S3) only: step 1's last.ckpt, best.ckpt, logs and model.pt;
                   the files above are then step 2's (source + target fine-tuning, ``finetune.steps`` iterations)
    pretrain/      recipes with ``train.pretrain`` (S2) only: the self-supervised pre-training's last.ckpt, logs and
                   model.pt (see :mod:`soundsentry.training.pretrain`); the files above are then the fine-tuning's

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
from soundsentry.training.data import (
    ChunkDataset,
    EpochShuffleSampler,
    MixupDataset,
    PairDataset,
    PairSampler,
    class_key,
    class_map,
    split_train_val,
)
from soundsentry.training.features import (
    ChunkCache,
    FeaturePipeline,
    build_feature_pipeline,
    check_backbone_input,
    chunk_shape,
    compute_chunks,
)
from soundsentry.training.module import EmbeddingModel, ExecutionOptions, MarginClassifierModule, PairMixupModule
from soundsentry.training.selection import MONITOR, AucPaucSelection, selection_callback
from soundsentry.types import Clip, Domain

MODEL_FILE = "model.pt"
MODEL_FORMAT = 1
# Expected here: the unit folder already holds logs/ (and, on resume, checkpoints); a torch/Lightning deprecation;
# no validation loader when S4's selection (or no split) replaces the validation loss.
_QUIET_WARNINGS = (
    r"Checkpoint directory .* exists and is not empty",
    r".*isinstance\(treespec, LeafSpec\)",
    r"You defined a `validation_step` but have no `val_dataloader`",  # S4's selection validates in a callback
)


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
    """The recipe's head for ``embed_dim``-wide embeddings and ``num_classes`` classes."""
    import soundsentry.heads  # noqa: F401  (registration)
    from soundsentry.registry import HEADS

    return HEADS.create(spec.name, embed_dim=embed_dim, num_classes=num_classes, **spec.kwargs)


def _train_loader(
    recipe: Recipe,
    cache: ChunkCache,
    chunk_labels: torch.Tensor,
    num_classes: int,
    first: torch.Tensor,
    second: torch.Tensor | None,
) -> DataLoader:
    """Training batches over the chunks of the boolean mask ``first`` (and ``second``, the partners of mixup).

    Without mixup the batches shuffle the chunks of ``first | second``; with ``train.mixup`` every chunk of
    ``first`` is mixed with a random chunk of ``second`` (of ``first`` when ``second`` is None); with
    ``train.geometric_weight`` too (S2) the pairs come unmixed (:class:`PairDataset`).
    """
    t = recipe.train
    dataset: torch.utils.data.Dataset
    sampler: torch.utils.data.Sampler
    if t.mixup:
        partners = first if second is None else second
        pairs = t.geometric_weight > 0
        dataset = (PairDataset if pairs else MixupDataset)(cache.chunks, chunk_labels, num_classes)
        sampler = PairSampler(_indices(first), _indices(partners), t.seed, alpha=t.mixup_alpha)
    else:
        mask = first if second is None else first | second
        dataset = ChunkDataset(cache.chunks[mask], chunk_labels[mask])
        sampler = EpochShuffleSampler(len(dataset), t.seed)
    return _loader(recipe, dataset, sampler, t.batch_size)


def _indices(mask: torch.Tensor) -> list[int]:
    return torch.nonzero(mask).flatten().tolist()


def _loader(
    recipe: Recipe, dataset: torch.utils.data.Dataset, sampler: torch.utils.data.Sampler, batch_size: int
) -> DataLoader:
    n = len(sampler)  # type: ignore[arg-type]
    if n < 2:
        raise DataError(f"only {n} training chunk(s); batch norm needs at least 2 per batch")
    workers = recipe.train.num_workers
    # A final batch of one chunk would break batch norm; it is reshuffled into the next epoch instead.
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        drop_last=n % batch_size == 1,
        persistent_workers=workers > 0,
    )


def _trainer(
    recipe: Recipe,
    out_dir: Path,
    has_val: bool,
    max_steps: int = -1,
    epochs: int | None = None,
    selection: AucPaucSelection | None = None,
) -> Any:
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
    if selection is not None:  # S4: AUC + pAUC every N epochs, the largest kept (Lightning runs checkpoints last)
        best = ModelCheckpoint(
            dirpath=out_dir,
            filename="best",
            monitor=MONITOR,
            mode="max",
            save_top_k=1,
            every_n_epochs=selection.every,
            save_on_train_epoch_end=True,
            enable_version_counter=False,
        )
        callbacks += [selection, best]
    if t.scheduler.name != "none" or epochs is not None:  # epochs: S2's pre-training, warm-up + cosine
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    if t.channels_last or t.compile:
        callbacks.append(ExecutionOptions(channels_last=t.channels_last, compile=t.compile))
    return pl.Trainer(
        # A step budget (S3's step 2: "fine-tuned for 5000 iterations") replaces the epoch count.
        max_epochs=-1 if max_steps > 0 else (epochs or t.epochs),
        max_steps=max_steps,
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


def _run_step(
    recipe: Recipe,
    module: Any,
    train_loader: DataLoader,
    val_loader: DataLoader | None,
    out_dir: Path,
    *,
    resume: bool,
    max_steps: int = -1,
    epochs: int | None = None,
    selection: AucPaucSelection | None = None,
) -> tuple[Any, Path]:
    """Fit ``module`` with checkpoints in ``out_dir`` (resuming from its ``last.ckpt``), then load the selected
    weights into it: ``best.ckpt`` when there is one, else ``last.ckpt``; a step budget keeps the final weights.
    ``epochs`` replaces ``train.epochs`` (S2's pre-training); ``selection`` (S4) selects on AUC + pAUC.

    Returns:
        (the trainer, the selected checkpoint).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    trainer = _trainer(recipe, out_dir, val_loader is not None, max_steps=max_steps, epochs=epochs, selection=selection)
    last = out_dir / "last.ckpt"
    ckpt_path = str(last) if resume and last.is_file() else None
    with warnings.catch_warnings():
        for message in _QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader, ckpt_path=ckpt_path)
    if max_steps > 0:
        # The budget usually ends inside an epoch, after the last epoch-end checkpoint: save the final state.
        trainer.save_checkpoint(last)
        return trainer, last
    best = out_dir / "best.ckpt"
    selected = best if best.is_file() else last
    module.load_state_dict(torch.load(selected, map_location="cpu", weights_only=False)["state_dict"])
    return trainer, selected


def _meta(unit: str, classes: list[str], shape: tuple[int, int, int], recipe: Recipe, checkpoint: str) -> dict:
    return {
        "format": MODEL_FORMAT,
        "unit": unit,
        "classes": classes,
        "chunk_shape": list(shape),
        "recipe": recipe.to_dict(),
        "checkpoint": checkpoint,
    }


def _save_model(
    path: Path,
    module: MarginClassifierModule,
    unit: str,
    classes: list[str],
    shape: tuple[int, int, int],
    recipe: Recipe,
    checkpoint: str,
) -> None:
    payload = {
        **_meta(unit, classes, shape, recipe, checkpoint),
        "state_dict": {k: v.detach().cpu() for k, v in module.model.state_dict().items()},
        "head_state_dict": {k: v.detach().cpu() for k, v in module.head.state_dict().items()},
    }
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)


def _split(recipe: Recipe, clips: list[Clip]) -> tuple[list[int], list[int]]:
    """Held-out split; a two-step recipe holds out source clips only (the few target clips all train step 2)."""
    t = recipe.train
    if t.finetune is None:
        return split_train_val(clips, t.val_fraction, t.seed, t.mode, t.classes)
    source = [i for i, c in enumerate(clips) if c.domain is not Domain.TARGET]
    _, val = split_train_val([clips[i] for i in source], t.val_fraction, t.seed, t.mode, t.classes)
    held = {source[j] for j in val}
    return [i for i in range(len(clips)) if i not in held], sorted(held)


def _init_encoder(
    recipe: Recipe,
    unit: str,
    model: EmbeddingModel,
    cache: ChunkCache,
    pool: torch.Tensor,
    classes: list[str],
    out_dir: Path,
    resume: bool,
) -> bool:
    """Start ``model`` from ``train.init_from`` or from S2's pre-training on the chunks of the mask ``pool``
    (every training chunk of the unit, source and target); returns whether either happened.

    A finished pre-training (``out_dir/pretrain/model.pt``) is loaded, not redone, when resuming.
    """
    from soundsentry.training.pretrain import PRETRAIN_DIR, VICRegModule, load_init_encoder, save_pretrained

    t = recipe.train
    shape: tuple[int, int, int] = tuple(cache.chunks.shape[1:])  # type: ignore[assignment]
    if t.init_from is not None:
        source = load_init_encoder(recipe, unit, model, shape)
        print(f"[{unit}] encoder from {source} (train.init_from); no pre-training here")
        return True
    if t.pretrain is None:
        return False
    done = out_dir / PRETRAIN_DIR / MODEL_FILE
    if resume and done.is_file():
        model.load_state_dict(torch.load(done, map_location="cpu", weights_only=False)["state_dict"])
        print(f"[{unit}] pre-training finished earlier ({done}); continuing with fine-tuning")
        return True
    p = t.pretrain
    labels = torch.zeros(len(cache.chunks), dtype=torch.long)  # pre-training reads no labels
    dataset = PairDataset(cache.chunks, labels, 1)
    sampler = PairSampler(_indices(pool), _indices(pool), t.seed, alpha=p.mixup_alpha)
    loader = _loader(recipe, dataset, sampler, p.batch_size)
    module = VICRegModule(model, p, batches_per_epoch=len(loader))
    print(f"[{unit}] self-supervised pre-training: {p.epochs} epochs of {len(loader)} batches")
    trainer, selected = _run_step(recipe, module, loader, None, done.parent, resume=resume, epochs=p.epochs)
    if trainer.is_global_zero:
        save_pretrained(done, module, _meta(unit, classes, shape, recipe, f"{PRETRAIN_DIR}/{selected.name}"))
    return True


def fit_unit(
    recipe: Recipe,
    unit: str,
    clips: list[Clip],
    out_dir: Path,
    *,
    resume: bool = True,
    pipeline: FeaturePipeline | None = None,
    selection_clips: list[Clip] | None = None,
) -> UnitResult:
    """Train the embedding network of one unit on its training ``clips`` and write ``out_dir/model.pt``.

    With ``train.pretrain`` (S2) the encoder is first pre-trained without labels (``out_dir/pretrain/``, skipped
    on resume once its ``model.pt`` exists); with ``train.init_from`` it starts from another run's encoder instead.
    With ``train.finetune`` (S3) this is two steps: step 1 on source clips only, checkpoints and its own
    ``model.pt`` in ``out_dir/step1/``; step 2 (source + target, only ``finetune.trainable`` updated) with its
    checkpoints in ``out_dir``. A run interrupted in step 2 finds ``step1/model.pt`` and resumes step 2 from
    ``out_dir/last.ckpt``.

    Args:
        recipe: the resolved recipe.
        unit: unit name (machine type or ``"all"``), stored in the model file.
        clips: the unit's training clips (normal).
        out_dir: the unit's folder (checkpoints, logs, model file).
        resume: continue from ``last.ckpt`` (and a finished step 1) when they exist; otherwise start afresh.
        pipeline: feature pipeline (built from the recipe when None).
        selection_clips: labelled validation clips of the unit for ``train.selection`` (its test clips with
            ``on_test``, or a validation manifest's); ``None`` uses the held-out clips plus pseudo-anomalies.
    """
    import lightning.pytorch as pl

    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    t = recipe.train
    classes = class_map(clips, t.mode, t.classes)
    index = {c: i for i, c in enumerate(classes)}
    labels = torch.tensor([index[class_key(c, t.mode, t.classes)] for c in clips], dtype=torch.long)
    train_clips, val_clips = _split(recipe, clips)

    pipeline = pipeline or build_feature_pipeline(recipe)
    cache = compute_chunks(clips, pipeline, recipe.features)
    shape: tuple[int, int, int] = tuple(cache.chunks.shape[1:])  # type: ignore[assignment]
    in_train = torch.zeros(cache.n_clips, dtype=torch.bool)
    in_train[train_clips] = True
    train_chunk = in_train[cache.clip_index]
    chunk_labels = labels[cache.clip_index]

    pl.seed_everything(t.seed, workers=True, verbose=False)
    model = build_embedding_model(recipe, shape)
    if recipe.features.standardize != "none":
        model.standardizer.fit(cache.chunks[train_chunk])  # S3 sec. 2.1: statistics of all training data
    head = build_head(recipe.head, model.embed_dim, len(classes))
    if _init_encoder(recipe, unit, model, cache, train_chunk, classes, out_dir, resume):
        pl.seed_everything(t.seed + 2, workers=True, verbose=False)  # the same fine-tuning after a resume
    val_loader = None
    selection = _selection(recipe, unit, clips, cache, val_clips, classes, selection_clips, pipeline)
    if val_clips and selection is None:
        val_chunk = ~train_chunk
        val_set = ChunkDataset(cache.chunks[val_chunk], chunk_labels[val_chunk])
        val_loader = DataLoader(val_set, batch_size=t.batch_size, shuffle=False, num_workers=t.num_workers)

    if t.finetune is None:
        loader = _train_loader(recipe, cache, chunk_labels, len(classes), train_chunk, None)
        module_class = PairMixupModule if t.mixup and t.geometric_weight > 0 else MarginClassifierModule
        module = module_class(model, head, t, batches_per_epoch=len(loader))
        trainer, selected = _run_step(recipe, module, loader, val_loader, out_dir, resume=resume, selection=selection)
        checkpoint = selected.name
    else:
        is_target = torch.tensor([c.domain is Domain.TARGET for c in clips], dtype=torch.bool)[cache.clip_index]
        source_chunk, target_chunk = train_chunk & ~is_target, train_chunk & is_target
        if not target_chunk.any() or not source_chunk.any():
            raise DataError(
                f"[{unit}] two-step training (train.finetune) needs source and target training clips, got "
                f"{int(source_chunk.sum())} source and {int(target_chunk.sum())} target chunks; "
                "set train.finetune=null to train once on all clips"
            )
        loader = _train_loader(recipe, cache, chunk_labels, len(classes), source_chunk, None)
        module = MarginClassifierModule(model, head, t, batches_per_epoch=len(loader))
        step1_model = out_dir / "step1" / MODEL_FILE
        if resume and step1_model.is_file():
            done = torch.load(step1_model, map_location="cpu", weights_only=False)
            module.model.load_state_dict(done["state_dict"])
            module.head.load_state_dict(done["head_state_dict"])
            print(f"[{unit}] step 1 finished earlier ({step1_model}); continuing with step 2")
        else:
            trainer, selected = _run_step(recipe, module, loader, val_loader, step1_model.parent, resume=resume)
            if trainer.is_global_zero:
                _save_model(step1_model, module, unit, classes, shape, recipe, f"step1/{selected.name}")
        pl.seed_everything(t.seed + 1, workers=True, verbose=False)
        loader = _train_loader(recipe, cache, chunk_labels, len(classes), source_chunk, target_chunk)
        module = MarginClassifierModule(
            module.model,
            module.head,
            t,
            batches_per_epoch=len(loader),
            trainable=t.finetune.trainable,
            optimizer=t.finetune.optimizer,
        )
        trainer, selected = _run_step(recipe, module, loader, None, out_dir, resume=resume, max_steps=t.finetune.steps)
        checkpoint = selected.name

    return _finish_unit(
        trainer,
        module,
        recipe,
        unit,
        classes,
        shape,
        out_dir,
        checkpoint,
        selected,
        len(train_clips),
        len(val_clips),
        start,
    )


def _selection(
    recipe: Recipe,
    unit: str,
    clips: list[Clip],
    cache: ChunkCache,
    val_clips: list[int],
    classes: list[str],
    selection_clips: list[Clip] | None,
    pipeline: FeaturePipeline,
) -> AucPaucSelection | None:
    """S4's AUC + pAUC selection callback of the unit, or None without ``train.selection``."""
    t = recipe.train
    if t.selection is None:
        return None
    index = {c: i for i, c in enumerate(classes)}
    if selection_clips is None:
        held = torch.zeros(cache.n_clips, dtype=torch.bool)
        held[val_clips] = True
        rows = held[cache.clip_index]
        remap = torch.full((cache.n_clips,), -1, dtype=torch.long)
        remap[val_clips] = torch.arange(len(val_clips))
        chunks, chunk_clip = cache.chunks[rows], remap[cache.clip_index[rows]]
        chosen = [clips[i] for i in val_clips]
    else:
        other = compute_chunks(selection_clips, pipeline, recipe.features)
        chunks, chunk_clip, chosen = other.chunks, other.clip_index, selection_clips
    own = [index.get(class_key(c, t.mode, t.classes)) for c in chosen]
    return selection_callback(
        t.selection, unit, chunks, chunk_clip, chosen, own, t.batch_size, heldout=selection_clips is None
    )


def restrict_head(head: torch.nn.Module, integrated_state: dict[str, torch.Tensor], rows: list[int | None]) -> None:
    """Initialise ``head`` (C classes) from an integrated head's state: class ``k`` gets row ``rows[k]`` of every
    per-class tensor (``weight``, ``bias``); a ``None`` row (an ID the integrated model never saw) keeps its init."""
    state = head.state_dict()
    if "weight" not in integrated_state:  # a head without class weights (section_classifier) starts afresh
        return
    c_all = int(integrated_state["weight"].shape[0])
    for name, value in integrated_state.items():
        mine = state.get(name)
        if mine is None or value.dim() == 0 or value.shape[0] != c_all or value.shape[1:] != mine.shape[1:]:
            continue
        for k, r in enumerate(rows):
            if r is not None:
                mine[k] = value[r]
    head.load_state_dict(state)


def fit_transfer_unit(
    recipe: Recipe,
    unit: str,
    clips: list[Clip],
    out_dir: Path,
    integrated: Path,
    *,
    resume: bool = True,
    pipeline: FeaturePipeline | None = None,
    selection_clips: list[Clip] | None = None,
) -> UnitResult:
    """S4's transfer learning for one machine type: the integrated model's encoder, frozen, and a new classifier
    over the type's IDs (initialised from the integrated head's rows of those IDs), the only thing trained
    (``train.transfer_epochs`` epochs, the recipe's optimiser, schedule, mixup and selection).

    Args:
        recipe: the resolved recipe (``train.mode: transfer``).
        unit: the machine type.
        clips: its training clips.
        out_dir: the unit's folder.
        integrated: the integrated (``all``) model's ``model.pt``.
        resume, pipeline, selection_clips: as :func:`fit_unit`.
    """
    import lightning.pytorch as pl

    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    t = recipe.train
    payload = torch.load(integrated, map_location="cpu", weights_only=False)
    classes = class_map(clips, t.mode, t.classes)
    index = {c: i for i, c in enumerate(classes)}
    labels = torch.tensor([index[class_key(c, t.mode, t.classes)] for c in clips], dtype=torch.long)
    train_clips, val_clips = _split(recipe, clips)
    pipeline = pipeline or build_feature_pipeline(recipe)
    cache = compute_chunks(clips, pipeline, recipe.features)
    shape: tuple[int, int, int] = tuple(cache.chunks.shape[1:])  # type: ignore[assignment]
    if list(shape) != list(payload["chunk_shape"]):
        raise DataError(f"{integrated}: built for chunks {payload['chunk_shape']}, these are {list(shape)}; retrain")
    in_train = torch.zeros(cache.n_clips, dtype=torch.bool)
    in_train[train_clips] = True
    train_chunk = in_train[cache.clip_index]
    chunk_labels = labels[cache.clip_index]

    pl.seed_everything(t.seed + 3, workers=True, verbose=False)
    model = build_embedding_model(recipe, shape)
    model.load_state_dict(payload["state_dict"])
    head = build_head(recipe.head, model.embed_dim, len(classes))
    integrated_index = {c: i for i, c in enumerate(payload["classes"])}
    restrict_head(head, payload["head_state_dict"], [integrated_index.get(f"{unit}/{c}") for c in classes])
    selection = _selection(recipe, unit, clips, cache, val_clips, classes, selection_clips, pipeline)
    val_loader = None
    if val_clips and selection is None:
        val_set = ChunkDataset(cache.chunks[~train_chunk], chunk_labels[~train_chunk])
        val_loader = DataLoader(val_set, batch_size=t.batch_size, shuffle=False, num_workers=t.num_workers)
    loader = _train_loader(recipe, cache, chunk_labels, len(classes), train_chunk, None)
    module = MarginClassifierModule(model, head, t, batches_per_epoch=len(loader), trainable=["head"])
    epochs = t.transfer_epochs or t.epochs
    print(f"[{unit}] transfer: classifier of {len(classes)} IDs on the frozen integrated encoder, {epochs} epochs")
    trainer, selected = _run_step(
        recipe, module, loader, val_loader, out_dir, resume=resume, epochs=epochs, selection=selection
    )
    return _finish_unit(
        trainer,
        module,
        recipe,
        unit,
        classes,
        shape,
        out_dir,
        selected.name,
        selected,
        len(train_clips),
        len(val_clips),
        start,
    )


def _finish_unit(
    trainer: Any,
    module: Any,
    recipe: Recipe,
    unit: str,
    classes: list[str],
    shape: tuple[int, int, int],
    out_dir: Path,
    checkpoint: str,
    selected: Path,
    n_train: int,
    n_val: int,
    start: float,
) -> UnitResult:
    """Write the unit's ``model.pt`` (on the main process) and report what training produced."""
    model_path = out_dir / MODEL_FILE
    if trainer.is_global_zero:
        _save_model(model_path, module, unit, classes, shape, recipe, checkpoint)
    best = selected if selected.is_file() else None
    return UnitResult(unit, classes, model_path, best, n_train, n_val, time.perf_counter() - start)


def load_head(path: str | os.PathLike[str], embed_dim: int) -> tuple[torch.nn.Module, list[str]] | None:
    """The trained classification head of a ``model.pt`` (eval mode) for ``embed_dim``-wide embeddings and its
    class map; None if the head has no ``logits``."""
    payload = torch.load(path, map_location="cpu", weights_only=False)
    recipe = recipe_from_dict(payload["recipe"], str(path))
    state = payload["head_state_dict"]
    head = build_head(recipe.head, embed_dim, len(payload["classes"]))
    head.load_state_dict(state)
    if not hasattr(head, "logits"):
        return None
    return head.eval(), list(payload["classes"])


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
    "fit_transfer_unit",
    "fit_unit",
    "load_embedding_model",
    "load_head",
]
