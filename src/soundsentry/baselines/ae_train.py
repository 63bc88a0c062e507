"""Train the baseline autoencoder for one unit and compute what its two scores need; load it back.

Layout of a unit's folder::

    last.ckpt          Lightning checkpoint after the latest epoch (weights, optimiser, loop state): resume
    logs/metrics.csv   per-epoch train_loss / val_loss
    model.pt           weights of the last epoch, the features, per-section source / target error covariances and
                       the gamma-percentile decision thresholds of both scores

As in the baseline: the unit's frame vectors (not clips) are split at random into 90 % training and 10 %
validation; Adam (lr 0.001) minimises the mean squared reconstruction error over batches of 256 for 100 epochs;
the last epoch is kept; then, in eval mode, one more pass over the shuffled training vectors accumulates the
covariances (:class:`~soundsentry.baselines.ae_scores.ErrorCovariance`), and a pass over the training batches and the
validation batches gives the batch-level scores the gamma thresholds are fitted to (``docs/ae_baseline.md``).

Reproducibility: initialisation is seeded, the split and every shuffle depend only on the seed (and the epoch),
so a run resumed from ``last.ckpt`` at an epoch boundary reproduces the uninterrupted run on CPU.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from soundsentry.baselines.ae_features import AEFeatureParams, ae_frontend, clip_vectors
from soundsentry.baselines.ae_scores import DomainCovariances, ErrorCovariance, inverse, quadratic_form
from soundsentry.baselines.autoencoder import DenseAutoencoder
from soundsentry.errors import DataError
from soundsentry.evaluation.threshold import fit_gamma_threshold
from soundsentry.io import atomic_output
from soundsentry.types import Clip, Domain

MODEL_FILE = "model.pt"
MODEL_KIND = "dcase2023_ae"
MODEL_FORMAT = 1
_QUIET_WARNINGS = (
    r"Checkpoint directory .* exists and is not empty",
    r"Experiment logs directory .* exists and is not empty",
    r".*isinstance\(treespec, LeafSpec\)",
    r"The '.*dataloader' does not have many workers",
    r"The number of training batches .* is smaller than the logging interval",
)
logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)


@dataclass(frozen=True)
class AEParams:
    """Everything that defines a baseline run; the defaults are ``baseline.yaml``'s.

    Attributes:
        features: the frame-vector front-end.
        hidden, bottleneck, depth: the network (:class:`~soundsentry.baselines.autoencoder.DenseAutoencoder`).
        epochs, batch_size, lr: Adam on the mean squared error.
        val_fraction: share of the unit's frame vectors held out (vectors, not clips, as the baseline does).
        seed: of initialisation, split and shuffles (the baseline's is 13711).
        decision_threshold: the gamma percentile of the decision thresholds.
        unit: ``"section"``: one model per (machine type, section) as the baseline's scripts train;
            ``"machine_type"``: one model per machine type on all its sections (covariances stay per section).
        accelerator: Lightning accelerator (``"cpu"``, ``"gpu"``, ``"auto"``).
    """

    features: AEFeatureParams = field(default_factory=AEFeatureParams)
    hidden: int = 128
    bottleneck: int = 8
    depth: int = 4
    epochs: int = 100
    batch_size: int = 256
    lr: float = 1e-3
    val_fraction: float = 0.1
    seed: int = 13711
    decision_threshold: float = 0.9
    unit: str = "section"
    accelerator: str = "cpu"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AEParams:
        d = dict(d)
        d["features"] = AEFeatureParams(**d.get("features", {}))
        return cls(**d)


class AEModule(pl.LightningModule):
    """Mean squared reconstruction error with Adam; keeps the epoch's batch losses for the MSE threshold.

    ``batch_losses`` holds the training batches' losses of the current epoch, then its validation batches' (the
    sample the baseline fits the MSE threshold to); it travels in the checkpoint so a resumed run keeps it.
    """

    def __init__(self, net: DenseAutoencoder, lr: float) -> None:
        super().__init__()
        self.net = net
        self.lr = lr
        self.batch_losses: list[float] = []

    def _loss(self, batch: list[torch.Tensor]) -> torch.Tensor:
        (x,) = batch
        return torch.mean((self.net(x)[0] - x) ** 2)

    def on_train_epoch_start(self) -> None:
        self.batch_losses = []

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.batch_losses.append(float(loss.detach()))
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        loss = self._loss(batch)
        self.batch_losses.append(float(loss))
        self.log("val_loss", loss, on_step=False, on_epoch=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["ae_batch_losses"] = list(self.batch_losses)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.batch_losses = list(checkpoint.get("ae_batch_losses", []))


def unit_vectors(clips: list[Clip], features: AEFeatureParams) -> tuple[np.ndarray, np.ndarray]:
    """Frame vectors of every clip, stacked: ``((V, dim) float32, (V,) clip index)``."""
    frontend = ae_frontend(features)
    blocks = [clip_vectors(c, features, frontend=frontend) for c in clips]
    owner = np.concatenate([np.full(len(b), i) for i, b in enumerate(blocks)]).astype(np.int64)
    return np.concatenate(blocks).astype(np.float32, copy=False), owner


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random vector-level hold-out of ``ceil(fraction * n)`` (scikit-learn's ``train_test_split`` size)."""
    n_val = min(int(np.ceil(fraction * n)), n - 2) if fraction > 0 else 0
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _batches(n: int, batch_size: int, seed: int) -> list[np.ndarray]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def _errors(net: DenseAutoencoder, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        t = torch.from_numpy(x)
        return (t - net(t)[0]).numpy()


def _gamma(scores: list[float], q: float) -> float | None:
    try:
        return fit_gamma_threshold(scores, q)
    except DataError:  # too few batches (tiny runs): no threshold
        return None


def _covariances_and_thresholds(
    net: DenseAutoencoder,
    x: np.ndarray,
    sections: np.ndarray,
    is_target: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    params: AEParams,
) -> tuple[dict[str, DomainCovariances], dict[str, float | None]]:
    """Per-section covariances from shuffled training batches, then per-section Mahalanobis thresholds."""
    n_mels = params.features.n_mels
    acc = {s: (ErrorCovariance(n_mels), ErrorCovariance(n_mels)) for s in np.unique(sections)}
    for batch in _batches(len(train), params.batch_size, params.seed + params.epochs + 1):
        if len(batch) <= 1:  # the baseline skips batches of one vector
            continue
        idx = train[batch]
        err = _errors(net, x[idx])
        for s, (source, target) in acc.items():
            here = sections[idx] == s
            source.add(err[here & ~is_target[idx]])
            target.add(err[here & is_target[idx]])
    covs = {s: DomainCovariances.from_accumulators(*a) for s, a in acc.items()}
    precisions = {s: (inverse(c.source), inverse(c.target)) for s, c in covs.items()}
    batch_scores: dict[str, list[float]] = {s: [] for s in covs}
    order = [train[b] for b in _batches(len(train), params.batch_size, params.seed + params.epochs + 2)]
    order += [val[i : i + params.batch_size] for i in range(0, len(val), params.batch_size)]
    for idx in order:
        err = _errors(net, x[idx])
        for s, (p_s, p_t) in precisions.items():
            here = sections[idx] == s
            if here.any():
                m = err[here].reshape(-1, n_mels).mean(axis=0, keepdims=True).astype(np.float64)
                batch_scores[s].append(float(min(quadratic_form(m, p_s)[0], quadratic_form(m, p_t)[0])))
    return covs, {s: _gamma(v, params.decision_threshold) for s, v in batch_scores.items()}


def _trainer(params: AEParams, out_dir: Path) -> pl.Trainer:
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    last = ModelCheckpoint(dirpath=out_dir, filename="last", save_top_k=1, enable_version_counter=False)
    return pl.Trainer(
        max_epochs=params.epochs,
        accelerator=params.accelerator,
        devices=1,
        deterministic=True,
        callbacks=[last],
        logger=CSVLogger(save_dir=out_dir, name="logs", version=""),
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=50,
    )


def fit_ae_unit(
    clips: list[Clip],
    out_dir: str | Path,
    *,
    params: AEParams | None = None,
    seed: int | None = None,
    resume: bool = True,
    unit: str = "",
) -> Path:
    """Train the autoencoder on one unit's normal training ``clips`` and write ``out_dir/model.pt`` atomically.

    Args:
        clips: the unit's training clips (all sections of a machine type, or one section).
        out_dir: the unit's folder (checkpoints, logs, model file).
        params: the run's settings (the baseline's by default).
        seed: replaces ``params.seed``.
        resume: continue from ``last.ckpt``; an existing ``model.pt`` is returned as is.
        unit: name stored in the model file.

    Returns:
        The path of the model file.
    """
    from soundsentry.training.data import EpochShuffleSampler

    params = params or AEParams()
    if seed is not None:
        params = AEParams.from_dict({**asdict(params), "seed": seed})
    out_dir = Path(out_dir)
    model_path = out_dir / MODEL_FILE
    if resume and model_path.is_file():
        return model_path
    if not clips:
        raise DataError(f"{out_dir}: no training clips for this unit; the autoencoder needs normal training clips")
    x, owner = unit_vectors(clips, params.features)
    if len(x) < 3:
        raise DataError(f"{out_dir}: only {len(x)} frame vectors in {len(clips)} clips; use longer or more clips")
    train, val = _split(len(x), params.val_fraction, params.seed)
    pl.seed_everything(params.seed, workers=True, verbose=False)
    net = DenseAutoencoder(params.features.dim, params.hidden, params.bottleneck, params.depth)
    module = AEModule(net, params.lr)
    data = TensorDataset(torch.from_numpy(x[train]))
    drop = len(train) % params.batch_size == 1  # a batch of one vector would break batch norm (the baseline skips it)
    loader = DataLoader(
        data, batch_size=params.batch_size, sampler=EpochShuffleSampler(len(train), params.seed), drop_last=drop
    )
    val_loader = DataLoader(TensorDataset(torch.from_numpy(x[val])), batch_size=params.batch_size) if len(val) else None
    out_dir.mkdir(parents=True, exist_ok=True)
    last = out_dir / "last.ckpt"
    with warnings.catch_warnings():
        for message in _QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        trainer = _trainer(params, out_dir)
        trainer.fit(module, loader, val_loader, ckpt_path=str(last) if resume and last.is_file() else None)
    net.eval().cpu()
    sections = np.array([clips[i].section for i in owner])
    is_target = np.array([clips[i].domain is Domain.TARGET for i in owner])
    covs, maha_thresholds = _covariances_and_thresholds(net, x, sections, is_target, train, val, params)
    payload = {
        "format": MODEL_FORMAT,
        "kind": MODEL_KIND,
        "unit": unit,
        "params": asdict(params),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "covariances": {s: {"source": c.source, "target": c.target} for s, c in covs.items()},
        "thresholds": {
            "mse": _gamma(module.batch_losses, params.decision_threshold),
            "selective_mahalanobis": maha_thresholds,
        },
        "n_vectors": {"train": int(len(train)), "val": int(len(val))},
    }
    with atomic_output(model_path) as tmp:
        torch.save(payload, tmp)
    return model_path


@dataclass
class AEModel:
    """A trained unit loaded back: the network (eval mode, CPU), its settings, covariances and thresholds."""

    net: DenseAutoencoder
    params: AEParams
    covariances: dict[str, DomainCovariances]
    thresholds: dict[str, Any]
    unit: str = ""


def load_ae_model(path: str | Path) -> AEModel:
    """Read a model file written by :func:`fit_ae_unit`."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as err:
        raise DataError(f"{path}: cannot read the AE model file ({err}); retrain the unit") from err
    if not isinstance(payload, dict) or payload.get("kind") != MODEL_KIND:
        raise DataError(f"{path}: not an AE baseline model file (written by fit_ae_unit); pass the unit's model.pt")
    params = AEParams.from_dict(payload["params"])
    net = DenseAutoencoder(params.features.dim, params.hidden, params.bottleneck, params.depth)
    net.load_state_dict(payload["state_dict"])
    covs = {
        s: DomainCovariances(np.asarray(c["source"]), np.asarray(c["target"]))
        for s, c in payload["covariances"].items()
    }
    return AEModel(net.eval(), params, covs, payload["thresholds"], payload.get("unit", ""))
