"""S3's two-step training (``train.finetune``): step 1 trains the classifier on source clips only, step 2
fine-tunes it on source and target clips for ``finetune.steps`` iterations, updating only ``finetune.trainable``.

Step 1 keeps its checkpoints, logs and its own ``model.pt`` in ``<unit>/step1/``; step 2's are the unit folder's.
A run interrupted in step 2 finds ``step1/model.pt`` and resumes step 2 from ``<unit>/last.ckpt``.
"""

from __future__ import annotations

import torch

from soundsentry.errors import ConfigError, DataError
from soundsentry.training.loop import fit, train_loader
from soundsentry.training.modelfile import MODEL_FILE, save_model
from soundsentry.training.module import MarginClassifierModule
from soundsentry.training.monitor import checkpoint_monitor
from soundsentry.training.phases.checks import RECORD_KEY, probe_loss, record_training, refuse_zero_loss
from soundsentry.training.phases.classifier import setup_classifier
from soundsentry.training.unit import Fitted, Phase, UnitRun, seed
from soundsentry.types import Domain

STEP1_DIR = "step1"


def domain_chunks(run: UnitRun) -> tuple[torch.Tensor, torch.Tensor]:
    """(M,) masks of the source and the target training chunks; both must be non-empty."""
    is_target = torch.tensor([c.domain is Domain.TARGET for c in run.clips], dtype=torch.bool)[run.cache.clip_index]
    source, target = run.train_chunk & ~is_target, run.train_chunk & is_target
    if not target.any() or not source.any():
        raise DataError(
            f"[{run.unit}] two-step training (train.finetune) needs source and target training clips, got "
            f"{int(source.sum())} source and {int(target.sum())} target chunks; "
            "set train.finetune=null to train once on all clips"
        )
    return source, target


class SourceStep(Phase):
    """Step 1: ``train.epochs`` epochs on the source chunks; skipped on resume once ``step1/model.pt`` exists."""

    name = "source_step"
    needs_classes = True

    def setup(self, run: UnitRun) -> None:
        setup_classifier(run)

    def fit(self, run: UnitRun) -> None:
        t = run.recipe.train
        val_loader = checkpoint_monitor(run).val_loader
        source, _ = domain_chunks(run)
        loader = train_loader(run.recipe, run.cache, run.chunk_labels, len(run.classes), source, None)
        module = MarginClassifierModule(run.model, run.head, t, batches_per_epoch=len(loader))
        step1_model = run.out_dir / STEP1_DIR / MODEL_FILE
        if run.resume and step1_model.is_file():
            done = torch.load(step1_model, map_location="cpu", weights_only=False)
            module.model.load_state_dict(done["state_dict"])
            module.head.load_state_dict(done["head_state_dict"])
            print(f"[{run.unit}] step 1 finished earlier ({step1_model}); continuing with step 2")
            return
        initial = probe_loss(run)
        refuse_zero_loss(run, initial)
        run.extra_meta[RECORD_KEY] = {"initial_loss": initial}
        trainer, selected = fit(run.recipe, module, loader, val_loader, step1_model.parent, resume=run.resume)
        if trainer.is_global_zero:
            save_model(step1_model, run.model, run.head, run.meta(f"{STEP1_DIR}/{selected.name}"))


class TargetFinetune(Phase):
    """Step 2: ``finetune.steps`` iterations on source + target chunks (with mixup, each source chunk mixed with a
    target one), only the ``finetune.trainable`` parameters updated, with ``finetune.optimizer`` if set."""

    name = "target_finetune"
    needs_classes = True

    def fit(self, run: UnitRun) -> None:
        t = run.recipe.train
        if t.finetune is None:
            raise ConfigError(f"[{run.unit}] the target_finetune phase needs train.finetune (steps, trainable)")
        source, target = domain_chunks(run)
        seed(t.seed + 1)
        loader = train_loader(run.recipe, run.cache, run.chunk_labels, len(run.classes), source, target)
        module = MarginClassifierModule(
            run.model,
            run.head,
            t,
            batches_per_epoch=len(loader),
            trainable=t.finetune.trainable,
            optimizer=t.finetune.optimizer,
        )
        trainer, selected = fit(
            run.recipe, module, loader, None, run.out_dir, resume=run.resume, max_steps=t.finetune.steps
        )
        run.fitted = Fitted(trainer, selected, selected.name)
        record_training(run, ran=True)
