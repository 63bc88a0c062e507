"""The classifier phase: the embedding network trained as a classifier of the unit's classes through the recipe's
head (S1-S4; S2's fine-tuning with ``train.geometric_weight``), selected by :mod:`~soundsentry.training.monitor`."""

from __future__ import annotations

from soundsentry.training.loop import fit, train_loader
from soundsentry.training.modelfile import build_head
from soundsentry.training.module import MarginClassifierModule, PairMixupModule
from soundsentry.training.monitor import checkpoint_monitor
from soundsentry.training.phases.checks import probe_loss, record_training, refuse_zero_loss
from soundsentry.training.unit import Fitted, Phase, UnitRun


def setup_classifier(run: UnitRun) -> None:
    """``run.model`` (built if no earlier phase did) and a new head over the unit's classes."""
    model = run.new_model()
    run.head = build_head(run.recipe.head, model.embed_dim, len(run.classes))


class Classifier(Phase):
    """``train.epochs`` epochs on every training chunk of the unit; checkpoints in the unit folder."""

    name = "classifier"
    needs_classes = True

    def setup(self, run: UnitRun) -> None:
        setup_classifier(run)

    def fit(self, run: UnitRun) -> None:
        t = run.recipe.train
        initial = probe_loss(run)
        refuse_zero_loss(run, initial)
        monitor = checkpoint_monitor(run)
        loader = train_loader(run.recipe, run.cache, run.chunk_labels, len(run.classes), run.train_chunk, None)
        module_class = PairMixupModule if t.mixup and t.geometric_weight > 0 else MarginClassifierModule
        module = module_class(run.model, run.head, t, batches_per_epoch=len(loader))
        trainer, selected = fit(
            run.recipe,
            module,
            loader,
            monitor.val_loader,
            run.out_dir,
            resume=run.resume,
            selection=monitor.selection,
        )
        run.fitted = Fitted(trainer, selected, selected.name)
        record_training(run, ran=True, initial_loss=initial)
