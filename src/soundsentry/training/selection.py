"""S4's checkpoint selection: AUC + pAUC of the own-ID softmax score on a labelled validation set, every N epochs.

The document evaluates "every 2 epochs the AUC and pAUC on the validation set" and keeps the parameters where they
are largest; with one model per machine type it maximises the sum of AUC and pAUC over the types. Here the value
``val_auc_pauc`` = sum over the unit's machine types of (AUC + pAUC), each clip scored ``1 - softmax(z)[own ID]``
with ``z`` the mean of its chunks' logits (as :func:`soundsentry.stages.extract` computes clip logits).

Training data holds no anomalies, so the default validation set is the held-out training normals plus one
*pseudo-anomaly* per held-out clip, made from its (not standardised) log-mel chunks, the kinds taken in turn:

* ``pitch_shift``: every frame moved up by 4 mel bins (the lowest 4 bins repeat the original's), a faster machine;
* ``mix``: the bin-wise maximum with the chunks of another class's held-out clip (the next one in path order), a
  mixed-ID / mixed-type sound;
* ``time_reverse``: frames in reverse order (only useful for non-stationary sounds).

Everything is deterministic: no random draws.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor

from soundsentry.config import SelectionConfig
from soundsentry.errors import DataError
from soundsentry.evaluation.metrics import auc, pauc
from soundsentry.types import Clip, Label

MONITOR = "val_auc_pauc"
PITCH_BINS = 4


def pseudo_anomalies(
    chunks: Tensor, chunk_clip: Tensor, clip_class: Sequence[int], kinds: Sequence[str]
) -> tuple[Tensor, Tensor]:
    """One pseudo-anomalous clip per clip, ``kinds[i % len(kinds)]`` for clip ``i``.

    Args:
        chunks: (M, C, F, W) chunks of N clips, ordered by clip.
        chunk_clip: (M,) index of each chunk's clip in 0..N-1.
        clip_class: (N,) class of each clip (``mix`` pairs clips of different classes).
        kinds: pseudo-anomaly kinds (see the module docstring).

    Returns:
        (chunks (M, C, F, W) of the N pseudo-anomalies, their clip index (M,)): clip ``i``'s anomaly is clip ``i``.
    """
    n = len(clip_class)
    out = []
    for i in range(n):
        x = chunks[chunk_clip == i]
        kind = kinds[i % len(kinds)]
        if kind == "mix":
            other = [j for j in range(n) if clip_class[j] != clip_class[i]]
            later = [j for j in other if j > i]
            partner = later[0] if later else (other[0] if other else None)
            kind = "mix" if partner is not None else "pitch_shift"  # a unit of one class has nothing to mix in
        if kind == "pitch_shift":
            y = x.clone()
            y[:, :, PITCH_BINS:] = x[:, :, :-PITCH_BINS]
        elif kind == "time_reverse":
            y = x.flip(dims=(3,))
        else:
            p = chunks[chunk_clip == partner]
            y = torch.maximum(x, p[torch.arange(len(x)) % len(p)])
        out.append(y)
    return torch.cat(out), chunk_clip.clone()


class AucPaucSelection(pl.Callback):
    """Logs ``val_auc_pauc`` every ``every`` epochs (a ``ModelCheckpoint`` on it, mode ``max``, keeps the best).

    Args:
        chunks: (M, C, F, W) chunks of the N validation clips.
        chunk_clip: (M,) clip of each chunk.
        own_class: (N,) class index of each clip's own ID in the unit's class map.
        is_anomaly: (N,) 1 for anomalous (or pseudo-anomalous) clips.
        groups: (N,) machine type of each clip; AUC and pAUC are per group, then summed.
        every: epochs between evaluations.
        max_fpr: pAUC's false-positive range.
    """

    def __init__(
        self,
        chunks: Tensor,
        chunk_clip: Tensor,
        own_class: Sequence[int],
        is_anomaly: Sequence[int],
        groups: Sequence[str],
        every: int,
        max_fpr: float = 0.1,
        batch_size: int = 64,
    ) -> None:
        self.chunks = chunks
        self.chunk_clip = chunk_clip
        self.own_class = np.asarray(own_class, dtype=int)
        self.is_anomaly = np.asarray(is_anomaly, dtype=int)
        self.groups = np.asarray(groups)
        self.every = every
        self.max_fpr = max_fpr
        self.batch_size = batch_size
        self.scored_groups = [g for g in sorted(set(groups)) if len(set(self.is_anomaly[self.groups == g])) == 2]
        if not self.scored_groups:
            raise DataError(
                "train.selection: no machine type has both normal and anomalous validation clips; raise "
                "train.val_fraction or give a labelled manifest (train.selection.data)"
            )

    @torch.no_grad()
    def clip_scores(self, module: pl.LightningModule) -> np.ndarray:
        """(N,) ``1 - softmax(mean chunk logits)[own class]`` under the module's current weights."""
        was_training = module.training
        module.eval()
        try:
            logits = torch.cat(
                [
                    module.head.logits(module.model(self.chunks[i : i + self.batch_size].to(module.device))).cpu()
                    for i in range(0, len(self.chunks), self.batch_size)
                ]
            ).double()
        finally:
            module.train(was_training)
        n = len(self.own_class)
        sums = torch.zeros(n, logits.shape[1], dtype=torch.float64).index_add_(0, self.chunk_clip, logits)
        counts = torch.bincount(self.chunk_clip, minlength=n).clamp(min=1).double()[:, None]
        probs = torch.softmax(sums / counts, dim=1).numpy()
        return 1.0 - probs[np.arange(n), self.own_class]

    def value(self, module: pl.LightningModule) -> float:
        """Sum over machine types of AUC + pAUC."""
        scores = self.clip_scores(module)
        total = 0.0
        for g in self.scored_groups:
            rows = self.groups == g
            total += auc(self.is_anomaly[rows], scores[rows], g)
            total += pauc(self.is_anomaly[rows], scores[rows], self.max_fpr, g)
        return total

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every:
            return
        pl_module.log(MONITOR, self.value(pl_module), on_epoch=True, prog_bar=True, sync_dist=True)


def selection_callback(
    selection: SelectionConfig,
    unit: str,
    chunks: Tensor,
    chunk_clip: Tensor,
    clips: Sequence[Clip],
    own_class: Sequence[int | None],
    batch_size: int,
    *,
    heldout: bool,
) -> AucPaucSelection:
    """The callback for ``clips`` (held-out normals, to which pseudo-anomalies are added, or labelled clips).

    Clips whose own class is ``None`` (an ID the unit was not trained on) or whose label is unknown are left out.
    """
    keep = [
        i
        for i, c in enumerate(clips)
        if own_class[i] is not None and (heldout or c.label in (Label.NORMAL, Label.ANOMALY))
    ]
    if not keep:
        raise DataError(
            f"[{unit}] train.selection: no labelled validation clip of a trained ID; check train.selection.data"
        )
    remap = torch.full((len(clips),), -1, dtype=torch.long)
    remap[keep] = torch.arange(len(keep))
    rows = remap[chunk_clip] >= 0
    chunks, chunk_clip = chunks[rows], remap[chunk_clip[rows]]
    classes = [int(own_class[i]) for i in keep]  # type: ignore[arg-type]
    groups = [clips[i].machine_type for i in keep]
    if heldout:
        labels = [0] * len(keep)
        fake, fake_clip = pseudo_anomalies(chunks, chunk_clip, classes, selection.pseudo_anomalies)
        chunks = torch.cat([chunks, fake])
        chunk_clip = torch.cat([chunk_clip, fake_clip + len(keep)])
        classes, groups, labels = classes * 2, groups * 2, labels + [1] * len(keep)
    else:
        labels = [int(clips[i].label is Label.ANOMALY) for i in keep]
    try:
        return AucPaucSelection(
            chunks, chunk_clip, classes, labels, groups, selection.every, selection.max_fpr, batch_size
        )
    except DataError as err:
        raise DataError(f"[{unit}] {err}") from None
