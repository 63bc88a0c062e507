"""Training phases: each one file, composed per unit by :func:`resolve_phases` and run by
:func:`soundsentry.training.unit.run_unit` around the one loop of :mod:`soundsentry.training.loop`.

==================  ==========================================================  =============================
phase               what it trains                                               chosen by
==================  ==========================================================  =============================
``init_from``       nothing: loads another run's encoder                         ``train.init_from``
``pretrain``        the encoder, self-supervised (S2's VICReg with mixup)        ``train.pretrain``
``classifier``      encoder + head on the unit's classes (S1-S4)                 default
``source_step``     step 1 of S3: encoder + head on source clips                 ``train.finetune``
``target_finetune`` step 2 of S3: ``finetune.trainable`` on source + target       ``train.finetune``
``transfer``        S4: a per-type head on the frozen integrated encoder         ``train.mode: transfer``
``frozen``          nothing: a backbone without parameters (``flatten``)         the backbone
``autoencoder``     the DCASE AE baseline on frame vectors, no head             ``train.phase: autoencoder``
==================  ==========================================================  =============================

A new phase subclasses :class:`~soundsentry.training.unit.Phase` in a new module here (``setup`` builds what it
trains, ``fit`` calls :func:`soundsentry.training.loop.fit` and sets ``run.fitted``) and gets a line in
:func:`resolve_phases`; model selection (:mod:`soundsentry.training.monitor`), checkpoints and resume come from
the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from soundsentry.config import Recipe
from soundsentry.training.phases import checks
from soundsentry.training.phases.autoencoder import Autoencoder
from soundsentry.training.phases.classifier import Classifier
from soundsentry.training.phases.frozen import Frozen
from soundsentry.training.phases.pretrain import InitFrom, Pretrain
from soundsentry.training.phases.transfer import Transfer, restrict_head
from soundsentry.training.phases.two_step import SourceStep, TargetFinetune
from soundsentry.training.unit import Phase
from soundsentry.types import Clip


def _needs_training(recipe: Recipe) -> bool:
    """False for a backbone that learns nothing (``flatten``): it runs the :class:`Frozen` phase alone."""
    import soundsentry.backbones  # noqa: F401  (registration)
    from soundsentry.registry import BACKBONES

    factory = BACKBONES.get(recipe.backbone.name)
    return bool(getattr(factory, "needs_training", True))


def resolve_phases(recipe: Recipe, *, integrated: Path | None = None) -> list[Phase]:
    """The phases one unit of ``recipe`` runs, in order.

    Args:
        recipe: the resolved recipe (of the unit: ``mode: all`` for S4's integrated model).
        integrated: S4's integrated ``model.pt``; given, the unit runs the ``transfer`` phase alone.
    """
    if integrated is not None:
        return [Transfer(integrated)]
    t = recipe.train
    if t.phase == "autoencoder":
        return [Autoencoder()]
    if not _needs_training(recipe):
        return [Frozen()]
    phases: list[Phase] = []
    if t.init_from is not None:  # replaces pre-training when both are set
        phases.append(InitFrom())
    elif t.pretrain is not None:
        phases.append(Pretrain())
    phases += [SourceStep(), TargetFinetune()] if t.finetune is not None else [Classifier()]
    return phases


def check_can_learn(recipe: Recipe, clips: Sequence[Clip]) -> None:
    """Refuse, before any work, a recipe whose classifier phases would train on fewer than two classes
    (:func:`soundsentry.training.phases.checks.check_can_learn`; a one-line :class:`DataError`)."""
    checks.check_can_learn(recipe, clips, resolve_phases(recipe))


__all__ = [
    "Autoencoder",
    "Frozen",
    "Classifier",
    "InitFrom",
    "Phase",
    "Pretrain",
    "SourceStep",
    "TargetFinetune",
    "Transfer",
    "check_can_learn",
    "resolve_phases",
    "restrict_head",
]
