"""The phase of a backbone that needs no training (``flatten``): build the model, fit its standardiser, save.

Nothing goes through the gradient loop (no dummy loss): the unit's ``model.pt`` holds the standardiser statistics
and the (parameter-free) backbone, and extraction, scoring and export read it like any other model file.
"""

from __future__ import annotations

from dataclasses import dataclass

from soundsentry.distributed import is_global_zero
from soundsentry.training.phases.checks import record_training
from soundsentry.training.unit import Fitted, Phase, UnitRun

CHECKPOINT = "untrained"


@dataclass(frozen=True)
class _MainProcess:
    """What ``run_unit`` asks of a trainer: whether this process writes the model file."""

    is_global_zero: bool


class Frozen(Phase):
    """No gradient steps; ``run.fitted`` names no checkpoint (``model.pt`` records ``untrained``)."""

    name = "frozen"

    def setup(self, run: UnitRun) -> None:
        run.new_model()

    def fit(self, run: UnitRun) -> None:
        fitted = "; standardiser fitted on the training chunks" if run.recipe.features.standardize != "none" else ""
        print(f"[{run.unit}] {run.recipe.backbone.name}: nothing to train{fitted}")
        run.fitted = Fitted(_MainProcess(is_global_zero()), run.out_dir / CHECKPOINT, CHECKPOINT)
        record_training(run, ran=False, reason="a backbone without parameters: nothing to learn")
