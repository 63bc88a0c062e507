"""Refuse training that cannot learn, and record in ``model.pt`` whether training ran and learned.

A classifier phase (S1-S4's margin heads over sections, machine IDs or attributes) learns only by telling classes
apart: over one class its softmax loss is 0 from the first step and the network stays as initialised. Such a
recipe is refused before any work (:func:`check_can_learn`, called by the ``train`` stage for ``train`` and
``run``), and a head whose loss is already 0 on the first training chunks is refused before fitting
(:func:`refuse_zero_loss`). What training did is written into the unit's ``model.pt`` under ``training``
(:func:`record_training`): ``ran`` (gradient steps were taken), ``learned`` (True, False, or None for a phase that
has nothing to learn), ``reason``, ``classes``, ``initial_loss`` and ``final_loss``. ``export`` refuses a model
whose record says ``learned: false``.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from typing import Any

import torch

from soundsentry.config import Recipe
from soundsentry.errors import DataError
from soundsentry.training.data import class_map, training_units
from soundsentry.training.unit import UnitRun
from soundsentry.types import Clip

RECORD_KEY = "training"
PROBE_CHUNKS = 16
ZERO_LOSS = 1e-8
_CLASS_WORDS = {
    "section": "sections / machine IDs",
    "section_domain": "sections and domains",
    "attributes": "sections, domains and attributes",
}


def data_folder(clips: Sequence[Clip]) -> str:
    """The folder that holds every clip (their common parent), for messages."""
    if not clips:
        return "the data"
    return os.path.commonpath([os.path.dirname(os.path.abspath(c.path)) for c in clips])


def _unit_modes(recipe: Recipe) -> list[str]:
    """The unit modes a recipe trains classifiers in: S4's ``transfer`` trains the integrated model (``all``) and
    a classifier per machine type."""
    mode = recipe.train.mode
    return ["all", mode] if mode == "transfer" else [mode]


def too_few_classes(recipe: Recipe, clips: Sequence[Clip], phases: Sequence[Any]) -> tuple[str, list[str]] | None:
    """The first unit a classifier recipe would train on fewer than two classes, with its classes; None when every
    unit has two or more, or no phase needs classes.

    Args:
        recipe: the resolved recipe.
        clips: the manifest's clips (its normal training clips are what is trained on).
        phases: the recipe's phases (:func:`~soundsentry.training.phases.resolve_phases`); only a phase with
            ``needs_classes`` needs two classes.
    """
    if not any(getattr(phase, "needs_classes", False) for phase in phases):
        return None
    for mode in _unit_modes(recipe):
        for unit, unit_clips in training_units(clips, mode).items():
            classes = class_map(unit_clips, mode, recipe.train.classes)
            if len(classes) < 2:
                return unit, classes
    return None


def class_words(recipe: Recipe) -> str:
    """What a recipe's classes are, in words (``sections / machine IDs`` ...)."""
    return _CLASS_WORDS.get(recipe.train.classes, recipe.train.classes)


def check_can_learn(recipe: Recipe, clips: Sequence[Clip], phases: Sequence[Any]) -> None:
    """Refuse, before any work, a classifier recipe whose units have fewer than two classes.

    Args:
        recipe, clips, phases: as :func:`too_few_classes`.

    Raises:
        DataError: one line naming the data folder, the classes found and the fix.
    """
    found = too_few_classes(recipe, clips, phases)
    if found is None:
        return
    unit, classes = found
    where = "" if unit == "all" else f" (model {unit})"
    folder = data_folder([c for c in clips if unit in ("all", c.machine_type)])
    raise DataError(
        f"{folder}: recipe {recipe.name} trains a classifier ({recipe.head.name} head) over {class_words(recipe)}, "
        f"which needs at least 2 classes, but the training clips{where} have {len(classes)} "
        f"({', '.join(classes) or 'none'}), so nothing would be learned; build a detector with `soundsentry fit "
        f"{data_folder(clips)} -o detector/`, or use a recipe that needs no classes such as sentry_flagship"
    )


def probe_loss(run: UnitRun) -> float:
    """The head's loss on the first :data:`PROBE_CHUNKS` training chunks with the current weights.

    Computed without gradients, the network in eval mode and the head copied, under a forked RNG, so the training
    that follows is exactly what it would have been without the probe.
    """
    if run.model is None or run.head is None:
        return float("nan")
    rows = torch.nonzero(run.train_chunk).flatten()[:PROBE_CHUNKS]
    if rows.numel() == 0:
        return float("nan")
    head = copy.deepcopy(run.head)
    was_training = run.model.training
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        try:
            run.model.eval()
            device = next(iter(run.model.parameters()), torch.empty(0)).device
            emb = run.model(run.cache.chunks[rows].to(device))
            loss = head.to(emb.device)(emb.float(), run.chunk_labels[rows].to(emb.device))
        finally:
            run.model.train(was_training)
    return float(loss.detach().float().mean().cpu())


def refuse_zero_loss(run: UnitRun, loss: float) -> None:
    """Refuse a classifier whose loss is already 0 before the first step: it has nothing to learn from.

    Raises:
        DataError: one line naming the data folder, the classes and the fix.
    """
    if math.isfinite(loss) and loss <= ZERO_LOSS:
        raise DataError(
            f"{data_folder(run.clips)}: [{run.unit}] the {run.recipe.head.name} loss is {loss:.3g} before training "
            f"(classes: {', '.join(run.classes)}), so nothing would be learned; build a detector with "
            "`soundsentry fit` or use a recipe that needs no classes such as sentry_flagship"
        )


def record_training(run: UnitRun, *, ran: bool, initial_loss: float | None = None, reason: str = "") -> dict[str, Any]:
    """Write the unit's training record into ``run.extra_meta`` (it goes into ``model.pt``) and return it.

    ``learned`` is None for a phase with nothing to learn (``ran`` False), False when the final loss is not finite
    (training diverged) or there was a single class, else True.
    """
    if initial_loss is None:  # an earlier phase of the unit probed it (S3's step 1)
        initial_loss = run.extra_meta.get(RECORD_KEY, {}).get("initial_loss")
    final = probe_loss(run) if ran else float("nan")
    learned: bool | None = None
    if ran:
        learned = len(run.classes) >= 2 and math.isfinite(final)
        if not reason:
            reason = "trained" if learned else ("the loss diverged" if len(run.classes) >= 2 else "one class")
    record = {
        "ran": ran,
        "learned": learned,
        "reason": reason,
        "classes": len(run.classes),
        "initial_loss": _json_float(initial_loss),
        "final_loss": _json_float(final),
    }
    run.extra_meta[RECORD_KEY] = record
    return record


def _json_float(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


__all__ = [
    "RECORD_KEY",
    "check_can_learn",
    "class_words",
    "data_folder",
    "probe_loss",
    "record_training",
    "refuse_zero_loss",
    "too_few_classes",
]
