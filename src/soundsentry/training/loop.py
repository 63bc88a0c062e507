"""The one training loop every phase runs: data loaders, the Lightning trainer, checkpoints, resume, execution options.

A phase builds a Lightning module and its loaders and calls :func:`fit`; the loop gives every phase the same
behaviour:

* ``out_dir/last.ckpt`` after every ``train.checkpoint_every`` epochs (resume point), ``out_dir/best.ckpt`` by the
  validation loss (with a validation loader) or by S4's AUC + pAUC (with a selection callback);
* ``out_dir/logs/metrics.csv`` (CSV logger), the learning rate logged per epoch when it changes; a resumed fit keeps
  the rows of the epochs before its checkpoint, so the file holds every epoch once;
* resume from ``last.ckpt``, then the selected weights loaded back into the module;
* Ctrl-C (SIGINT) raises ``KeyboardInterrupt`` out of :func:`fit` (Lightning turns it into ``sys.exit(1)``), so the
  CLI prints "interrupted" and exits 130; ``last.ckpt`` of the last finished epoch is kept for the resume;
* ``train.channels_last`` / ``train.compile`` (:class:`~soundsentry.training.module.ExecutionOptions`),
  precision, accelerator, devices, strategy and determinism from the recipe;
* the warnings expected here silenced, and Lightning's cloud-logger advertisement dropped.
"""

from __future__ import annotations

import csv
import logging
import os
import signal
import threading
import warnings
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from soundsentry.config import Recipe
from soundsentry.errors import DataError
from soundsentry.training.data import ChunkDataset, EpochShuffleSampler, MixupDataset, PairDataset, PairSampler
from soundsentry.training.features import ChunkCache
from soundsentry.training.module import ExecutionOptions
from soundsentry.training.noise_mix import NoiseMixSampler, with_noisy
from soundsentry.training.selection import MONITOR, AucPaucSelection

# Expected here: the unit folder already holds logs/ (and, on resume, checkpoints); a torch/Lightning deprecation;
# no validation loader when S4's selection (or no split) replaces the validation loss.
QUIET_WARNINGS = (
    r"Checkpoint directory .* exists and is not empty",
    r".*isinstance\(treespec, LeafSpec\)",
    r"You defined a `validation_step` but have no `val_dataloader`",  # S4's selection validates in a callback
)


class _DropAdverts(logging.Filter):
    """Drops Lightning's advertisement for its cloud logger from the console output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropAdverts())


def indices(mask: torch.Tensor) -> list[int]:
    """Positions of the ``True`` entries of a boolean mask."""
    return torch.nonzero(mask).flatten().tolist()


def make_loader(
    recipe: Recipe, dataset: torch.utils.data.Dataset, sampler: torch.utils.data.Sampler, batch_size: int
) -> DataLoader:
    """A training loader over ``dataset`` in the order of ``sampler`` with the recipe's workers."""
    n = len(sampler)  # type: ignore[arg-type]
    if n < 2:
        raise DataError(f"only {n} training chunk(s); batch norm needs at least 2 per batch")
    workers = recipe.train.num_workers
    # A final batch of one chunk would break batch norm; it is reshuffled into the next epoch instead.
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        drop_last=n % batch_size == 1,
        persistent_workers=workers > 0,
    )


def train_loader(
    recipe: Recipe,
    cache: ChunkCache,
    chunk_labels: torch.Tensor,
    num_classes: int,
    first: torch.Tensor,
    second: torch.Tensor | None,
) -> DataLoader:
    """Classifier training batches over the chunks of the boolean mask ``first`` (and ``second``, the partners of
    mixup).

    Without mixup the batches shuffle the chunks of ``first | second``; with ``train.mixup`` every chunk of
    ``first`` is mixed with a random chunk of ``second`` (of ``first`` when ``second`` is None); with
    ``train.geometric_weight`` too (S2) the pairs come unmixed (:class:`PairDataset`). With ``train.noise_mix``
    (``cache.noisy``), :class:`~soundsentry.training.noise_mix.NoiseMixSampler` may swap each drawn chunk for the
    same chunk of a noisy version of its clip, before mixup mixes it.
    """
    t = recipe.train
    dataset: torch.utils.data.Dataset
    sampler: torch.utils.data.Sampler
    noisy, lookup = cache.noisy, None
    if t.mixup:
        partners = first if second is None else second
        pairs = t.geometric_weight > 0
        chunks, labels = cache.chunks, chunk_labels
        if noisy is not None:
            chunks, labels, lookup = with_noisy(chunks, labels, noisy, chunk_labels, None)
        dataset = (PairDataset if pairs else MixupDataset)(chunks, labels, num_classes)
        sampler = PairSampler(indices(first), indices(partners), t.seed, alpha=t.mixup_alpha)
    else:
        mask = first if second is None else first | second
        chunks, labels = cache.chunks[mask], chunk_labels[mask]
        sampler = EpochShuffleSampler(len(chunks), t.seed)  # the clean chunks; noisy ones come through the lookup
        if noisy is not None:
            chunks, labels, lookup = with_noisy(chunks, labels, noisy, chunk_labels, mask)
        dataset = ChunkDataset(chunks, labels)
    if noisy is not None and lookup is not None:
        sampler = NoiseMixSampler(sampler, lookup, noisy.prob, t.seed)
    return make_loader(recipe, dataset, sampler, t.batch_size)


def build_trainer(
    recipe: Recipe,
    out_dir: Path,
    has_val: bool,
    max_steps: int = -1,
    epochs: int | None = None,
    selection: AucPaucSelection | None = None,
    keep_before_step: int = 0,
) -> Any:
    """The Lightning trainer of one phase, with its checkpoint, learning-rate and execution-option callbacks.

    ``keep_before_step``: the rows of ``logs/metrics.csv`` logged before this global step are kept (the step of the
    checkpoint a resumed fit starts from); the others are dropped, as the resumed epochs log them again.
    """
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint

    t = recipe.train
    # last.ckpt is its own callback: Lightning's save_last only refreshes it when a new best is saved, so a run
    # whose validation loss stopped improving would otherwise resume from an old epoch.
    callbacks: list[Any] = [
        ModelCheckpoint(
            dirpath=out_dir,
            filename="last",
            save_top_k=1,
            every_n_epochs=t.checkpoint_every,
            enable_version_counter=False,
        )
    ]
    if has_val:
        best = ModelCheckpoint(
            dirpath=out_dir,
            filename="best",
            monitor="val_loss",
            mode="min",
            save_top_k=1,
            every_n_epochs=t.checkpoint_every,
            enable_version_counter=False,
        )
        callbacks.append(best)
    if selection is not None:  # S4: AUC + pAUC every N epochs, the largest kept (Lightning runs checkpoints last)
        best = ModelCheckpoint(
            dirpath=out_dir,
            filename="best",
            monitor=MONITOR,
            mode="max",
            save_top_k=1,
            every_n_epochs=selection.every,
            save_on_train_epoch_end=True,
            enable_version_counter=False,
        )
        callbacks += [selection, best]
    if t.scheduler.name != "none" or epochs is not None:  # epochs: S2's pre-training, warm-up + cosine
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    if t.channels_last or t.compile:
        callbacks.append(ExecutionOptions(channels_last=t.channels_last, compile=t.compile))
    return pl.Trainer(
        # A step budget (S3's step 2: "fine-tuned for 5000 iterations") replaces the epoch count.
        max_epochs=-1 if max_steps > 0 else (epochs or t.epochs),
        max_steps=max_steps,
        accelerator=t.accelerator,
        devices=t.devices,
        strategy=t.strategy,
        precision=t.precision,
        deterministic=t.deterministic,
        callbacks=callbacks,
        logger=_resumable_csv_logger(out_dir, keep_before_step),
        enable_progress_bar=t.progress_bar,
        enable_model_summary=t.progress_bar,
        num_sanity_val_steps=0,
        log_every_n_steps=10,
    )


def fit(
    recipe: Recipe,
    module: Any,
    train_loader: DataLoader,
    val_loader: DataLoader | None,
    out_dir: Path,
    *,
    resume: bool,
    max_steps: int = -1,
    epochs: int | None = None,
    selection: AucPaucSelection | None = None,
) -> tuple[Any, Path]:
    """Fit ``module`` with checkpoints in ``out_dir`` (resuming from its ``last.ckpt``), then load the selected
    weights into it: ``best.ckpt`` when there is one, else ``last.ckpt``; a step budget keeps the final weights.
    ``epochs`` replaces ``train.epochs`` (S2's pre-training, S4's transfer); ``selection`` (S4) selects on
    AUC + pAUC.

    Returns:
        (the trainer, the selected checkpoint).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    last = out_dir / "last.ckpt"
    ckpt_path = str(last) if resume and last.is_file() else None
    keep = _checkpoint_step(last) if ckpt_path else 0
    trainer = build_trainer(
        recipe,
        out_dir,
        val_loader is not None,
        max_steps=max_steps,
        epochs=epochs,
        selection=selection,
        keep_before_step=keep,
    )
    with warnings.catch_warnings():
        for message in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        _fit_interruptible(trainer, module, train_loader, val_loader, ckpt_path)
    if max_steps > 0:
        # The budget usually ends inside an epoch, after the last epoch-end checkpoint: save the final state.
        trainer.save_checkpoint(last)
        return trainer, last
    best = out_dir / "best.ckpt"
    selected = best if best.is_file() else last
    module.load_state_dict(torch.load(selected, map_location="cpu", weights_only=False)["state_dict"])
    return trainer, selected


def _checkpoint_step(path: Path) -> int:
    """The global step of the checkpoint a fit resumes from; a damaged file is one :class:`DataError` line."""
    import pickle
    import zipfile

    try:
        return int(torch.load(path, map_location="cpu", weights_only=False)["global_step"])
    except (RuntimeError, EOFError, ValueError, KeyError, OSError, zipfile.BadZipFile, pickle.UnpicklingError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(
            f"{path} is damaged or incomplete ({reason}); delete it to train this unit from scratch, or rerun with "
            "--no-resume"
        ) from None


def _fit_interruptible(
    trainer: Any, module: Any, train_loader: DataLoader, val_loader: DataLoader | None, ckpt_path: str | None
) -> None:
    """``trainer.fit`` that lets Ctrl-C out as ``KeyboardInterrupt``: Lightning catches it, ignores SIGINT from then
    on and calls ``sys.exit(1)``; here the SIGINT handler is restored and the interrupt raised again, so the CLI
    reports it like every other command ("interrupted", exit status 130)."""
    main_thread = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if main_thread else None
    try:
        trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader, ckpt_path=ckpt_path)
    except SystemExit:
        if trainer.interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        if main_thread and handler is not None:
            signal.signal(signal.SIGINT, handler)


def _resumable_csv_logger(out_dir: Path, keep_before_step: int) -> Any:
    """Lightning's CSV logger writing ``out_dir/logs/metrics.csv``, whose writer keeps the rows logged before
    ``keep_before_step`` instead of deleting the file (Lightning's writer starts every fit with an empty file, so a
    resumed run lost the epochs before its checkpoint)."""
    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.loggers.csv_logs import ExperimentWriter
    from lightning.pytorch.loggers.logger import rank_zero_experiment

    class KeepingWriter(ExperimentWriter):
        def _check_log_dir_exists(self) -> None:  # Lightning's hook deletes metrics.csv; keep the earlier rows
            self.metrics_keys = keep_metrics_rows(Path(self.metrics_file_path), keep_before_step)

    class ResumableCSVLogger(CSVLogger):
        @property
        @rank_zero_experiment
        def experiment(self) -> ExperimentWriter:
            if self._experiment is None:
                os.makedirs(self.log_dir, exist_ok=True)
                self._experiment = KeepingWriter(log_dir=self.log_dir)
            return self._experiment

    return ResumableCSVLogger(save_dir=out_dir, name="logs", version="")


def keep_metrics_rows(path: Path, before_step: int) -> list[str]:
    """Rewrite the metrics CSV at ``path`` with only its rows of global step < ``before_step`` (atomically; the file
    is removed when no row is kept) and return its columns, sorted as Lightning's writer sorts them.

    Returns:
        The column names of the kept file (empty when there is none), for the writer to append under.
    """
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = sorted(reader.fieldnames or [])
        rows = [r for r in reader if _step(r) is not None and _step(r) < before_step]  # type: ignore[operator]
    if not rows:
        path.unlink()
        return []
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return columns


def _step(row: dict[str, str]) -> int | None:
    try:
        return int(float(row.get("step") or ""))
    except ValueError:
        return None
