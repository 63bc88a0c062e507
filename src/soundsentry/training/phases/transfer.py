"""S4's transfer learning (``train.mode: transfer``), per machine type: the integrated model's encoder, frozen, and
a new classifier over the type's IDs, initialised from the integrated head's rows of those IDs, the only thing
trained (``train.transfer_epochs`` epochs, the recipe's optimiser, schedule, mixup and selection)."""

from __future__ import annotations

from pathlib import Path

import torch

from soundsentry.errors import DataError
from soundsentry.training.loop import fit, train_loader
from soundsentry.training.modelfile import build_embedding_model, build_head
from soundsentry.training.module import MarginClassifierModule
from soundsentry.training.monitor import checkpoint_monitor
from soundsentry.training.phases.checks import probe_loss, record_training, refuse_zero_loss
from soundsentry.training.unit import Fitted, Phase, UnitRun, seed


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


class Transfer(Phase):
    """The per-type classifier on the integrated model ``integrated`` (its ``model.pt``).

    Args:
        integrated: the integrated (``all``) model's ``model.pt``.
    """

    name = "transfer"
    needs_classes = True

    def __init__(self, integrated: Path) -> None:
        self.integrated = Path(integrated)

    def setup(self, run: UnitRun) -> None:
        payload = torch.load(self.integrated, map_location="cpu", weights_only=False)
        shape = run.shape
        if list(shape) != list(payload["chunk_shape"]):
            raise DataError(
                f"{self.integrated}: built for chunks {payload['chunk_shape']}, these are {list(shape)}; retrain"
            )
        seed(run.recipe.train.seed + 3)
        model = build_embedding_model(run.recipe, shape)
        model.load_state_dict(payload["state_dict"])
        head = build_head(run.recipe.head, model.embed_dim, len(run.classes))
        integrated_index = {c: i for i, c in enumerate(payload["classes"])}
        restrict_head(head, payload["head_state_dict"], [integrated_index.get(f"{run.unit}/{c}") for c in run.classes])
        run.model, run.head = model, head

    def fit(self, run: UnitRun) -> None:
        t = run.recipe.train
        initial = probe_loss(run)
        refuse_zero_loss(run, initial)
        monitor = checkpoint_monitor(run)
        loader = train_loader(run.recipe, run.cache, run.chunk_labels, len(run.classes), run.train_chunk, None)
        module = MarginClassifierModule(run.model, run.head, t, batches_per_epoch=len(loader), trainable=["head"])
        epochs = t.transfer_epochs or t.epochs
        print(
            f"[{run.unit}] transfer: classifier of {len(run.classes)} IDs on the frozen integrated encoder, "
            f"{epochs} epochs"
        )
        trainer, selected = fit(
            run.recipe,
            module,
            loader,
            monitor.val_loader,
            run.out_dir,
            resume=run.resume,
            epochs=epochs,
            selection=monitor.selection,
        )
        run.fitted = Fitted(trainer, selected, selected.name)
        record_training(run, ran=True, initial_loss=initial)
