"""S2's self-supervised pre-training of a unit's encoder, and ``train.init_from`` (an encoder from another run).

Pre-training (``train.pretrain``) writes into ``models/<unit>/pretrain/``::

    last.ckpt          Lightning checkpoint (encoder, expander, LARS state, schedule): resume mid-way
    logs/metrics.csv   per-epoch train_loss and its invariance / variance / covariance parts, lr
    model.pt           the pre-trained standardiser + encoder (the ``model.pt`` format, plus the expander's state);
                       its presence marks pre-training as done, so a rerun goes straight to fine-tuning

The Lightning module reuses :func:`~soundsentry.ssl.vicreg.vicreg_step` (three weight-sharing branches),
:class:`~soundsentry.ssl.vicreg.Expander`, :func:`~soundsentry.ssl.optim.build_lars` and
:func:`~soundsentry.ssl.optim.warmup_cosine_scheduler`; nothing here knows about the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor

from soundsentry.config import PretrainConfig, Recipe
from soundsentry.errors import ConfigError
from soundsentry.training.modelfile import MODEL_FILE, MODEL_FORMAT, save_model
from soundsentry.training.module import EmbeddingModel, build_optimizer

PRETRAIN_DIR = "pretrain"


class VICRegModule(pl.LightningModule):
    """Pre-trains ``model`` (standardiser + encoder) with VICReg-with-mixup (eq. 5) through an expander.

    Batches are unmixed pairs ``(x_a, x_b, _, _, lam)`` (:class:`~soundsentry.training.data.PairDataset`); the
    labels are ignored. Logs ``train_loss`` and the unweighted ``train_invariance`` (s), ``train_variance``
    (v(Z) + v(Z')) and ``train_covariance`` (c(Z) + c(Z')).

    Args:
        model: standardiser (fitted, not trained) + encoder.
        config: the recipe's ``train.pretrain``.
        batches_per_epoch: optimiser steps per epoch, to count the warm-up and decay in steps.
    """

    def __init__(self, model: EmbeddingModel, config: PretrainConfig, batches_per_epoch: int) -> None:
        super().__init__()
        from soundsentry.ssl.vicreg import Expander, VICRegMixupLoss

        self.model = model
        self.expander = Expander(model.embed_dim, config.expander_dim, config.expander_layers)
        self.loss_fn = VICRegMixupLoss(config.gamma, config.mu, config.nu, reduction=config.reduction)
        self.config = config
        self.batches_per_epoch = max(1, int(batches_per_epoch))

    def forward(self, chunks: Tensor) -> Tensor:
        return self.model(chunks)

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        from soundsentry.ssl.vicreg import vicreg_step

        xa, xb, _, _, lam = batch
        out = vicreg_step(self.model, self.expander, xa, xb, lam=lam.to(xa.dtype), loss_fn=self.loss_fn)
        n = len(xa)
        self.log("train_loss", out["loss"], on_step=True, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        for key in ("invariance", "variance", "covariance"):
            self.log(f"train_{key}", out[key], on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        return out["loss"]

    def configure_optimizers(self) -> Any:
        from soundsentry.ssl.optim import warmup_cosine_scheduler

        c = self.config
        optimizer = build_optimizer(self.parameters(), c.optimizer)
        scheduler = warmup_cosine_scheduler(
            optimizer, c.epochs * self.batches_per_epoch, c.warmup_epochs * self.batches_per_epoch, c.end_lr
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def save_pretrained(path: Path, module: VICRegModule, meta: dict[str, Any]) -> None:
    """``model.pt`` of the pre-trained encoder: ``meta`` (format, unit, classes, chunk shape, recipe, checkpoint),
    the standardiser + encoder state and the expander's state (no classifier head yet)."""
    save_model(path, module.model, None, meta, expander=module.expander)


def encoder_candidates(run_dir: Path, unit: str) -> list[Path]:
    """Where ``init_from`` looks for a unit's encoder, in order: pre-trained, then fully trained."""
    return [run_dir / "models" / unit / PRETRAIN_DIR / MODEL_FILE, run_dir / "models" / unit / MODEL_FILE]


def load_init_encoder(recipe: Recipe, unit: str, model: EmbeddingModel, shape: tuple[int, ...]) -> Path:
    """Load the encoder of ``unit`` from the run folder ``recipe.train.init_from`` into ``model``.

    The encoder must come from the same backbone, front-end and standardisation on chunks of the same shape;
    anything else is a one-line :class:`ConfigError` naming the folder and the mismatch.

    Returns:
        The file the weights came from.
    """
    run_dir = Path(str(recipe.train.init_from))
    found = [p for p in encoder_candidates(run_dir, unit) if p.is_file()]
    if not found:
        raise ConfigError(
            f"train.init_from: {run_dir} has no encoder for unit {unit!r} (no models/{unit}/{PRETRAIN_DIR}/model.pt "
            f"or models/{unit}/model.pt); point it at a finished run of the same train.mode, or set it to null"
        )
    path = found[0]
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ConfigError(f"train.init_from: {path} is not a soundsentry model file (format {MODEL_FORMAT})")
    theirs = payload.get("recipe", {})
    mine = recipe.to_dict()
    checks = {
        "backbone": (theirs.get("backbone"), mine["backbone"]),
        "frontend": (theirs.get("frontend"), mine["frontend"]),
        "features.standardize": (theirs.get("features", {}).get("standardize"), mine["features"]["standardize"]),
        "chunk shape": (list(payload.get("chunk_shape", [])), list(shape)),
    }
    for what, (a, b) in checks.items():
        if a != b:
            raise ConfigError(
                f"train.init_from: the encoder in {path} is not compatible with this recipe ({what} is {a} there, "
                f"{b} here); pre-train with the same backbone, front-end and features, or set train.init_from=null"
            )
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()[0]
        raise ConfigError(f"train.init_from: {path} does not fit this recipe's encoder ({first})") from None
    return path
