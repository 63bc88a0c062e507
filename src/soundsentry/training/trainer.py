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

The work is split by concern: :mod:`~soundsentry.training.unit` (shared state, the phase interface, the model
file written at the end), :mod:`~soundsentry.training.phases` (one module per phase),
:mod:`~soundsentry.training.loop` (loaders, the Lightning trainer, checkpoints, resume),
:mod:`~soundsentry.training.monitor` (model selection) and :mod:`~soundsentry.training.modelfile` (``model.pt``).
This module keeps the entry points and the names other code imports.

Reproducibility: model initialisation is seeded per unit, the held-out split and the per-epoch shuffle depend only
on the seed, so a unit resumed from ``last.ckpt`` after an interrupt at an epoch boundary reproduces the
uninterrupted run bit for bit on CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from soundsentry.config import Recipe
from soundsentry.training.features import FeaturePipeline, chunk_shape
from soundsentry.training.modelfile import (
    MODEL_FILE,
    MODEL_FORMAT,
    build_embedding_model,
    build_head,
    load_embedding_model,
    load_head,
)
from soundsentry.training.phases import resolve_phases, restrict_head
from soundsentry.training.unit import UnitResult, prepare_unit, run_unit
from soundsentry.types import Clip


def fit_unit(
    recipe: Recipe,
    unit: str,
    clips: list[Clip],
    out_dir: Path,
    *,
    resume: bool = True,
    pipeline: FeaturePipeline | None = None,
    selection_clips: list[Clip] | None = None,
    noise_clips: Sequence[Clip] = (),
) -> UnitResult:
    """Train the embedding network of one unit on its training ``clips`` and write ``out_dir/model.pt``.

    The phases come from :func:`~soundsentry.training.phases.resolve_phases`. With ``train.pretrain`` (S2) the
    encoder is first pre-trained without labels (``out_dir/pretrain/``, skipped on resume once its ``model.pt``
    exists); with ``train.init_from`` it starts from another run's encoder instead. With ``train.finetune`` (S3)
    this is two steps: step 1 on source clips only, checkpoints and its own ``model.pt`` in ``out_dir/step1/``;
    step 2 (source + target, only ``finetune.trainable`` updated) with its checkpoints in ``out_dir``. A run
    interrupted in step 2 finds ``step1/model.pt`` and resumes step 2 from ``out_dir/last.ckpt``.

    Args:
        recipe: the resolved recipe.
        unit: unit name (machine type or ``"all"``), stored in the model file.
        clips: the unit's training clips (normal).
        out_dir: the unit's folder (checkpoints, logs, model file).
        resume: continue from ``last.ckpt`` (and a finished step 1) when they exist; otherwise start afresh.
        pipeline: feature pipeline (built from the recipe when None).
        selection_clips: labelled validation clips of the unit for ``train.selection`` (its test clips with
            ``on_test``, or a validation manifest's); ``None`` uses the held-out clips plus pseudo-anomalies.
        noise_clips: noise-only supplemental clips mixed into the training clips with ``train.noise_mix``
            (:func:`~soundsentry.training.noise_mix.noise_clips`); unused without it.
    """
    run = prepare_unit(
        recipe,
        unit,
        clips,
        out_dir,
        resume=resume,
        pipeline=pipeline,
        selection_clips=selection_clips,
        noise_clips=noise_clips,
    )
    return run_unit(run, resolve_phases(recipe))


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
    noise_clips: Sequence[Clip] = (),
) -> UnitResult:
    """S4's transfer learning for one machine type (:mod:`soundsentry.training.phases.transfer`): the integrated
    model's encoder, frozen, and a new classifier over the type's IDs, the only thing trained.

    Args:
        recipe: the resolved recipe (``train.mode: transfer``).
        unit: the machine type.
        clips: its training clips.
        out_dir: the unit's folder.
        integrated: the integrated (``all``) model's ``model.pt``.
        resume, pipeline, selection_clips, noise_clips: as :func:`fit_unit`.
    """
    run = prepare_unit(
        recipe,
        unit,
        clips,
        out_dir,
        resume=resume,
        pipeline=pipeline,
        selection_clips=selection_clips,
        noise_clips=noise_clips,
    )
    return run_unit(run, resolve_phases(recipe, integrated=integrated))


__all__ = [
    "MODEL_FILE",
    "MODEL_FORMAT",
    "UnitResult",
    "build_embedding_model",
    "build_head",
    "chunk_shape",
    "fit_transfer_unit",
    "fit_unit",
    "load_embedding_model",
    "load_head",
    "restrict_head",
]
