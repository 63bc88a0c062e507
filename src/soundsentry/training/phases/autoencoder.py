"""The ``autoencoder`` phase (``train.phase: autoencoder``): the DCASE 2023-2025 Task 2 autoencoder baseline.

The unit's chunks (the recipe's log-mel front-end cut into 5-frame chunks with a hop of 1: the baseline's frame
vectors, :func:`~soundsentry.baselines.ae_model.chunk_vectors`) are split at random into training and validation
*vectors* (``train.val_fraction``, not clips, as the baseline does); the recipe's ``backbone`` names the network
in :data:`~soundsentry.baselines.autoencoder.AUTOENCODERS`; the mean squared reconstruction error is minimised by
the recipe's optimiser through the shared loop (checkpoints, resume, logs), and the *last* epoch is kept (the
baseline saves every epoch and selects nothing). Then, in eval mode, the per-section error covariances and the
gamma thresholds of both scores are computed (:func:`~soundsentry.baselines.ae_model.covariances_and_thresholds`)
and go into ``model.pt`` beside the weights (no head). Facts and sources: ``docs/ae_baseline.md``.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from soundsentry.baselines.ae_model import (
    VectorSet,
    build_autoencoder,
    chunk_vectors,
    covariances_and_thresholds,
    gamma_or_none,
)
from soundsentry.errors import DataError
from soundsentry.training.data import ChunkDataset, EpochShuffleSampler
from soundsentry.training.loop import fit, make_loader
from soundsentry.training.module import build_optimizer
from soundsentry.training.unit import Fitted, Phase, UnitRun, seed
from soundsentry.types import Domain

#: The gamma percentile of both decision thresholds (``decision_threshold: 0.9`` in the baseline).
DECISION_PERCENTILE = 0.9


class AEModule(pl.LightningModule):
    """Mean squared reconstruction error; keeps the epoch's batch losses (training, then validation), the sample
    the baseline fits the MSE threshold to. They travel in the checkpoint, so a resumed run keeps them."""

    def __init__(self, net: nn.Module, optimizer: Any) -> None:
        super().__init__()
        self.net = net
        self.optimizer_spec = optimizer
        self.batch_losses: list[float] = []

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, _ = batch
        return torch.mean((self.net(x)[0] - x) ** 2)

    def on_train_epoch_start(self) -> None:
        self.batch_losses = []

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.batch_losses.append(float(loss.detach()))
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(batch[0]))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss = self._loss(batch)
        self.batch_losses.append(float(loss))
        self.log("val_loss", loss, on_step=False, on_epoch=True, batch_size=len(batch[0]))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return build_optimizer(self.parameters(), self.optimizer_spec)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["ae_batch_losses"] = list(self.batch_losses)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.batch_losses = list(checkpoint.get("ae_batch_losses", []))


def vector_split(n: int, fraction: float, seed_value: int) -> tuple[np.ndarray, np.ndarray]:
    """Random vector-level hold-out of ``ceil(fraction * n)`` vectors (``train_test_split``'s size)."""
    n_val = min(int(np.ceil(fraction * n)), n - 2) if fraction > 0 else 0
    order = np.random.default_rng(seed_value).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def unit_vectors(run: UnitRun) -> VectorSet:
    """The unit's frame vectors with each vector's section and domain, split by vector."""
    x = chunk_vectors(run.cache.chunks.float())
    if len(x) < 3:
        raise DataError(f"[{run.unit}] only {len(x)} frame vectors in {len(run.clips)} clips; use longer or more clips")
    owner = run.cache.clip_index.numpy()
    sections = np.array([run.clips[i].section for i in owner])
    is_target = np.array([run.clips[i].domain is Domain.TARGET for i in owner])
    train, val = vector_split(len(x), run.recipe.train.val_fraction, run.recipe.train.seed)
    return VectorSet(x, sections, is_target, train, val)


class Autoencoder(Phase):
    """The baseline's training of one unit: ``train.epochs`` epochs, the last kept, then covariances and thresholds."""

    name = "autoencoder"

    def setup(self, run: UnitRun) -> None:
        seed(run.recipe.train.seed)
        run.model = build_autoencoder(run.recipe.backbone, run.shape)  # type: ignore[assignment]
        run.head = None

    def fit(self, run: UnitRun) -> None:
        t = run.recipe.train
        data = unit_vectors(run)
        zeros = torch.zeros(len(data.x), dtype=torch.long)
        train_set = ChunkDataset(data.x[data.train], zeros[data.train])
        loader = make_loader(run.recipe, train_set, EpochShuffleSampler(len(train_set), t.seed), t.batch_size)
        val_loader = None
        if len(data.val):
            val_set = ChunkDataset(data.x[data.val], zeros[data.val])
            val_loader = DataLoader(val_set, batch_size=t.batch_size, shuffle=False, num_workers=t.num_workers)
        module = AEModule(run.model, t.optimizer)
        trainer, _ = fit(run.recipe, module, loader, val_loader, run.out_dir, resume=run.resume)
        last = run.out_dir / "last.ckpt"  # the baseline keeps the last epoch, not the best validation loss
        module.load_state_dict(torch.load(last, map_location="cpu", weights_only=False)["state_dict"])
        net = module.net.eval().cpu()
        slice_width = run.shape[0] * run.shape[1]
        covs, maha = covariances_and_thresholds(
            net, data, slice_width, t.batch_size, t.seed + t.epochs, DECISION_PERCENTILE
        )
        run.model = net  # type: ignore[assignment]
        run.extra_meta = {
            "ae_covariances": {s: {"source": c.source.tolist(), "target": c.target.tolist()} for s, c in covs.items()},
            "ae_thresholds": {
                "ae_mse": gamma_or_none(module.batch_losses, DECISION_PERCENTILE),
                "selective_mahalanobis": maha,
            },
            "ae_vectors": {"train": int(len(data.train)), "val": int(len(data.val))},
        }
        run.fitted = Fitted(trainer, last, last.name)
