"""The embedding model (standardiser + backbone) and the Lightning module that trains it with a margin head.

:class:`EmbeddingModel` is a plain ``nn.Module`` with no knowledge of data loading or logging; it is what
``model.pt`` stores and what extraction runs. :class:`MarginClassifierModule` adds the classification head, the
optimiser and the schedule for training only; the head is dropped afterwards (S1 scores with embeddings alone).
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor, nn

from soundsentry.config import ComponentSpec, TrainConfig
from soundsentry.errors import ConfigError


class EmbeddingModel(nn.Module):
    """``chunks (B, C, F, W) -> embeddings (B, D)``: standardise with training statistics, then the backbone.

    Args:
        backbone: any registered backbone (``forward((B, C, F, T)) -> (B, D)``, ``.embed_dim``).
        standardizer: fitted :class:`~soundsentry.frontends.Standardizer`, or ``None`` for no standardisation.
    """

    def __init__(self, backbone: nn.Module, standardizer: nn.Module | None) -> None:
        super().__init__()
        self.backbone = backbone
        self.standardizer = standardizer if standardizer is not None else nn.Identity()
        self.embed_dim = int(backbone.embed_dim)

    def forward(self, chunks: Tensor) -> Tensor:
        return self.backbone(self.standardizer(chunks))


def build_optimizer(params: Any, spec: ComponentSpec) -> torch.optim.Optimizer:
    """``sgd`` / ``adam`` / ``adamw`` from ``torch.optim``, ``adamp`` (Heo et al., ICLR 2021) from
    ``pytorch_optimizer``, ``lars`` (S2, :func:`~soundsentry.ssl.optim.build_lars`), with the spec's keyword
    arguments."""
    from pytorch_optimizer import AdamP

    from soundsentry.ssl.optim import build_lars

    classes = {
        "sgd": torch.optim.SGD,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "adamp": AdamP,
        "lars": build_lars,
    }
    if spec.name not in classes:
        raise ConfigError(f"unknown optimizer {spec.name!r}; valid: {', '.join(classes)}")
    try:
        return classes[spec.name](params, **spec.kwargs)
    except TypeError as err:
        raise ConfigError(f"optimizer {spec.name!r}: {err}") from None


class ExecutionOptions(pl.Callback):
    """``train.channels_last`` / ``train.compile`` for every training phase (S1-S4 heads, S2's pre-training).

    Applied in ``setup``, before the optimiser is built, a checkpoint is restored or a DDP wrapper is made:
    ``Module.to(memory_format=...)`` keeps each ``Parameter`` object (only its data changes layout), and
    ``Module.compile`` compiles the backbone in place, so parameter names, checkpoints and ``model.pt`` are unchanged.
    """

    def __init__(self, *, channels_last: bool, compile: bool) -> None:
        self.channels_last = channels_last
        self.compile = compile

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.channels_last:
            # Convolutions follow their weight's layout, so the inputs need no conversion.
            pl_module.to(memory_format=torch.channels_last)
        if self.compile:
            # The backbone only: the standardiser is cheap and its fitted-check would break the graph.
            pl_module.model.backbone.compile()


class MarginClassifierModule(pl.LightningModule):
    """Trains an :class:`EmbeddingModel` as a classifier of ``num_classes`` machine IDs through a margin head.

    Logs per epoch ``train_loss``, ``train_acc`` and, with a validation split, ``val_loss`` (the margin loss) and
    ``val_acc`` (arg-max of the margin-free logits, chunk level); ``val_loss`` selects ``best.ckpt``. Targets are
    class indices (B,) or mixed soft labels (B, C) (mixup; accuracy then counts the dominant class).

    Args:
        model: standardiser + backbone.
        head: margin head (e.g. ArcFace) with ``forward(emb, target) -> loss`` and ``logits(emb)``.
        train: optimiser and schedule settings.
        batches_per_epoch: optimiser steps per epoch, for a schedule stepped per batch.
        trainable: name prefixes of the only parameters to train (S3's step 2); every other parameter gets
            ``requires_grad=False`` and its modules stay in eval mode (batch norms keep their statistics).
            ``None`` trains everything.
        optimizer: overrides ``train.optimizer`` (step 2's optimiser).
    """

    def __init__(
        self,
        model: EmbeddingModel,
        head: nn.Module,
        train: TrainConfig,
        batches_per_epoch: int,
        *,
        trainable: list[str] | None = None,
        optimizer: ComponentSpec | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.head = head
        self.train_config = train
        self.batches_per_epoch = max(1, int(batches_per_epoch))
        self.optimizer_spec = optimizer or train.optimizer
        self.trainable = list(trainable) if trainable is not None else None
        if self.trainable is not None:
            self._freeze(self.trainable)

    def _is_trainable(self, name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in self.trainable or [])

    def _freeze(self, prefixes: list[str]) -> None:
        names = [n for n, _ in self.named_parameters()]
        unmatched = [p for p in prefixes if not any(n == p or n.startswith(p + ".") for n in names)]
        if unmatched:
            tops = sorted({".".join(n.split(".")[:3]) for n in names})
            raise ConfigError(
                f"train.finetune.trainable: {', '.join(unmatched)} matches no parameter; parameter names start "
                f"with {', '.join(tops)}"
            )
        for name, param in self.named_parameters():
            param.requires_grad_(self._is_trainable(name))

    def _keep_frozen_in_eval(self) -> None:
        if self.trainable is not None:
            for name, module in self.named_modules():
                if next(module.children(), None) is None and not self._is_trainable(name):
                    module.eval()

    def train(self, mode: bool = True) -> MarginClassifierModule:
        """As ``nn.Module.train``, but frozen leaf modules stay in eval mode (no batch-norm statistic updates)."""
        super().train(mode)
        if mode:
            self._keep_frozen_in_eval()
        return self

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Lightning restores each submodule's mode by itself (not through train()), so re-apply before every step.
        self._keep_frozen_in_eval()

    def forward(self, chunks: Tensor) -> Tensor:
        return self.model(chunks)

    def _step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        x, y = batch
        emb = self.model(x)
        loss = self.head(emb, y)
        with torch.no_grad():
            hard = y.argmax(dim=1) if y.dim() == 2 else y
            acc = (self.head.logits(emb).argmax(dim=1) == hard).float().mean()
        on_step = stage == "train"
        self.log(
            f"{stage}_loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, batch_size=len(y), sync_dist=True
        )
        self.log(f"{stage}_acc", acc, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y), sync_dist=True)
        return loss

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    def configure_optimizers(self) -> Any:
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = build_optimizer(params, self.optimizer_spec)
        spec = self.train_config.scheduler
        if spec.name == "none":
            return optimizer
        kwargs = dict(spec.kwargs)
        interval = kwargs.pop("interval", "epoch")
        if spec.name == "cosine_warm_restarts_with_warmup":
            from soundsentry.schedules import cosine_warm_restarts_with_warmup

            # S4 steps it per epoch; per batch, t_up / t_0 stay counted in optimiser steps.
            warm = cosine_warm_restarts_with_warmup(optimizer, **kwargs)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": warm, "interval": interval}}
        T_0 = int(kwargs.pop("T_0", 10))
        # Per batch, the cycle is counted in batches: the same curve as SGDR's fractional epochs, and Lightning
        # checkpoints the scheduler's state either way.
        per = self.batches_per_epoch if interval == "step" else 1
        scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=T_0 * per, **kwargs)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval}}


class PairMixupModule(MarginClassifierModule):
    """S2's fine-tuning (section 2.4): KL to the mixed section labels plus eq. 1 on the encoder outputs.

    Training batches are unmixed pairs ``(x_a, x_b, t_a, t_b, lam)`` (:class:`~soundsentry.training.data.
    PairDataset`); each step is :func:`~soundsentry.ssl.vicreg.finetune_step` (three encoder passes: ``X``, ``X'``
    and their mix; the classifier sees the mix). Validation batches are plain ``(x, y)`` chunks, scored by the
    head's loss as in :class:`MarginClassifierModule`. Logs ``train_kl`` and ``train_geometric`` besides
    ``train_loss`` / ``train_acc`` (the dominant class of the mix).

    Args:
        model, head, train, batches_per_epoch: as :class:`MarginClassifierModule`; ``head`` must be the
            ``section_classifier`` head (its ``classifier`` gives the logits).
    """

    def __init__(self, model: EmbeddingModel, head: nn.Module, train: TrainConfig, batches_per_epoch: int) -> None:
        super().__init__(model, head, train, batches_per_epoch)
        if not hasattr(head, "classifier"):
            raise ConfigError("train.geometric_weight > 0 needs the section_classifier head")

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        from soundsentry.ssl.vicreg import finetune_step

        xa, xb, ta, tb, lam = batch
        t = self.train_config
        out = finetune_step(
            self.model,
            self.head.classifier,
            xa,
            xb,
            ta,
            tb,
            lam=lam.to(xa.dtype),
            geometric_weight=t.geometric_weight,
            reduction=t.geometric_reduction,
        )
        with torch.no_grad():
            dominant = torch.where(lam[:, None] >= 0.5, ta, tb).argmax(dim=1)
            acc = (out["logits"].argmax(dim=1) == dominant).float().mean()
        n = len(xa)
        self.log("train_loss", out["loss"], on_step=True, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        for key in ("kl", "geometric"):
            self.log(f"train_{key}", out[key], on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        self.log("train_acc", acc, on_step=False, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        return out["loss"]
