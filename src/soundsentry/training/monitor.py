"""Model selection: what decides a phase's ``best.ckpt``.

* default: the validation loss of the classifier on the held-out chunks (``train.val_fraction``), through a
  validation loader; without held-out clips there is no ``best.ckpt`` and the last epoch is kept;
* ``train.selection`` (S4): AUC + pAUC of the own-ID softmax score every N epochs
  (:class:`~soundsentry.training.selection.AucPaucSelection`) on the held-out clips plus pseudo-anomalies, or on
  labelled clips (a validation manifest, or the run's test clips with ``on_test``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from soundsentry.training.data import ChunkDataset, class_key
from soundsentry.training.features import compute_chunks
from soundsentry.training.selection import AucPaucSelection, selection_callback
from soundsentry.training.unit import UnitRun


@dataclass
class Monitor:
    """How one phase selects its checkpoint: a validation loader (by loss), a selection callback, or neither."""

    val_loader: DataLoader | None
    selection: AucPaucSelection | None


def checkpoint_monitor(run: UnitRun) -> Monitor:
    """The unit's :class:`Monitor`: S4's selection when the recipe asks for it, else the held-out loss."""
    selection = selection_for(run)
    if not run.val_clips or selection is not None:
        return Monitor(None, selection)
    t = run.recipe.train
    val_chunk = ~run.train_chunk
    val_set = ChunkDataset(run.cache.chunks[val_chunk], run.chunk_labels[val_chunk])
    return Monitor(DataLoader(val_set, batch_size=t.batch_size, shuffle=False, num_workers=t.num_workers), None)


def selection_for(run: UnitRun) -> AucPaucSelection | None:
    """S4's AUC + pAUC selection callback of the unit, or None without ``train.selection``."""
    t = run.recipe.train
    if t.selection is None:
        return None
    cache, val_clips = run.cache, run.val_clips
    index = {c: i for i, c in enumerate(run.classes)}
    if run.selection_clips is None:
        held = torch.zeros(cache.n_clips, dtype=torch.bool)
        held[val_clips] = True
        rows = held[cache.clip_index]
        remap = torch.full((cache.n_clips,), -1, dtype=torch.long)
        remap[val_clips] = torch.arange(len(val_clips))
        chunks, chunk_clip = cache.chunks[rows], remap[cache.clip_index[rows]]
        chosen = [run.clips[i] for i in val_clips]
    else:
        other = compute_chunks(run.selection_clips, run.pipeline, run.recipe.features)
        chunks, chunk_clip, chosen = other.chunks, other.clip_index, run.selection_clips
    own = [index.get(class_key(c, t.mode, t.classes)) for c in chosen]
    return selection_callback(
        t.selection, run.unit, chunks, chunk_clip, chosen, own, t.batch_size, heldout=run.selection_clips is None
    )
