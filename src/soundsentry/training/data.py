"""Training units, class maps, the held-out split of training normals, and a resumable shuffling sampler.

A *unit* is what one model is trained on: one machine type (``mode: per_machine_type``; its classes are its
sections / machine IDs, as S1's per-type machine-ID classifier) or everything (``mode: all``; its classes are every
(machine type, section)). Only training clips enter; the held-out split is taken from them by clip, so no chunk of
a validation clip is ever trained on, and test labels are never looked at.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from soundsentry.config import CLASS_LABELS  # noqa: F401  (re-exported)
from soundsentry.errors import DataError
from soundsentry.scoring import is_fit_clip
from soundsentry.types import Clip

ALL_UNIT = "all"


def training_units(clips: Sequence[Clip], mode: str) -> dict[str, list[Clip]]:
    """Training clips per unit name (the machine type, or ``"all"``), in manifest order.

    ``mode: transfer`` (S4) has one unit per machine type, like ``per_machine_type``; :func:`soundsentry.stages.train`
    trains the integrated ``all`` unit before them.
    """
    train = [c for c in clips if is_fit_clip(c)]  # labelled training anomalies are never trained on
    if not train:
        raise DataError("the manifest has no training clips; the embedding network is trained on normal train clips")
    if mode == "all":
        return {ALL_UNIT: train}
    units: dict[str, list[Clip]] = defaultdict(list)
    for clip in train:
        units[unit_of(clip, mode)].append(clip)
    return dict(sorted(units.items()))


def unit_of(clip: Clip, mode: str) -> str:
    """Name of the unit (model) that embeds ``clip``: ``all``, the machine type, or (``mode: per_section``, the AE
    baseline's unit) ``<machine type>_section_<section>``."""
    if mode == "per_section":
        return f"{clip.machine_type}_section_{clip.section}"
    return ALL_UNIT if mode == "all" else clip.machine_type


def class_key(clip: Clip, mode: str, classes: str = "section") -> str:
    """The class label of a clip.

    ``classes``: ``section`` (S1: the machine ID / section), ``section_domain`` (section and domain as separate
    classes) or ``attributes`` (section, domain and the sorted attribute pairs: the auxiliary attribute
    classification of DCASE 2022-2024 systems). In ``all`` mode the machine type is prefixed (``fan/00``).
    """
    key = clip.section
    if classes in ("section_domain", "attributes"):
        key += f"/{clip.domain.value}"
    if classes == "attributes" and clip.attributes:
        key += "/" + ",".join(f"{k}={v}" for k, v in sorted(clip.attributes.items()))
    return f"{clip.machine_type}/{key}" if mode == "all" else key


def class_map(clips: Sequence[Clip], mode: str, classes: str = "section") -> list[str]:
    """Sorted class keys; a class's index is its position."""
    return sorted({class_key(c, mode, classes) for c in clips})


def _class_seed(seed: int, key: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(key.encode())) % (2**32)


def split_train_val(
    clips: Sequence[Clip], val_fraction: float, seed: int, mode: str, classes: str = "section"
) -> tuple[list[int], list[int]]:
    """Deterministic held-out split of training clips by clip, stratified by class.

    Each class gives ``round(val_fraction * n)`` of its ``n`` clips to validation, but always keeps at least one
    for training (and a class of one clip gives none). The choice depends only on the clips' paths, the class and
    the seed, not on the manifest order.

    Returns:
        (train indices, validation indices) into ``clips``, each sorted.
    """
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, clip in enumerate(clips):
        by_class[class_key(clip, mode, classes)].append(i)
    val: list[int] = []
    for key, members in sorted(by_class.items()):
        members = sorted(members, key=lambda i: clips[i].path)
        n_val = min(int(round(val_fraction * len(members))), len(members) - 1)
        if n_val <= 0:
            continue
        order = np.random.default_rng(_class_seed(seed, key)).permutation(len(members))
        val.extend(members[j] for j in order[:n_val])
    held = set(val)
    return [i for i in range(len(clips)) if i not in held], sorted(val)


class EpochShuffleSampler(Sampler[int]):
    """A fresh permutation every epoch that depends only on (seed, epoch).

    Lightning calls :meth:`set_epoch` before each epoch, so a run resumed from a checkpoint at an epoch boundary
    draws exactly the batches the uninterrupted run would have drawn (the global RNG state is not needed).
    Under DDP Lightning wraps it in a distributed sampler, which shards these indices.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


class ChunkDataset(torch.utils.data.Dataset):
    """``(chunk (C, F, W), class index)`` pairs over cached chunks."""

    def __init__(self, chunks: torch.Tensor, labels: torch.Tensor) -> None:
        if len(chunks) != len(labels):
            raise DataError(f"{len(chunks)} chunks but {len(labels)} labels")
        self.chunks = chunks
        self.labels = labels

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.chunks[i], self.labels[i]


class PairSampler(Sampler[tuple[int, int, float]]):
    """Mixup pairs ``(a, b, lam)``: every index of ``first`` once per epoch, each with a random partner from
    ``second`` and a mixing ratio ``lam ~ U(0, 1)`` (S3 sec. 2.4: "uniform distribution for sampling mixing ratio").

    S3's step 1 draws both from the source chunks, step 2 ``a`` from the source and ``b`` from the target chunks;
    S2 draws both from every chunk of the unit with ``lam ~ Beta(0.5, 0.5)``. Like :class:`EpochShuffleSampler`,
    the draws depend only on (seed, epoch), so a resumed run repeats them.

    Args:
        first: indices (into the dataset) of the first element of each pair.
        second: indices the partner is drawn from (uniformly, with replacement).
        seed: base seed.
        alpha: draw ``lam ~ Beta(alpha, alpha)`` instead of ``U(0, 1)``.
    """

    def __init__(self, first: Sequence[int], second: Sequence[int], seed: int, alpha: float | None = None) -> None:
        if len(first) == 0 or len(second) == 0:
            raise DataError(
                f"mixup needs chunks on both sides of a pair, got {len(first)} and {len(second)}; "
                "a two-step recipe needs source and target training clips"
            )
        self.first = torch.as_tensor(list(first), dtype=torch.long)
        self.second = torch.as_tensor(list(second), dtype=torch.long)
        self.seed = seed
        self.alpha = alpha
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[tuple[int, int, float]]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = self.first[torch.randperm(len(self.first), generator=g)]
        partners = self.second[torch.randint(len(self.second), (len(order),), generator=g)]
        if self.alpha is None:
            lam = torch.rand(len(order), generator=g, dtype=torch.float64).tolist()
        else:
            rng = np.random.default_rng([self.seed, self.epoch])
            lam = rng.beta(self.alpha, self.alpha, size=len(order)).tolist()
        return iter(zip(order.tolist(), partners.tolist(), lam, strict=True))

    def __len__(self) -> int:
        return len(self.first)


class MixupDataset(torch.utils.data.Dataset):
    """Indexed by ``(a, b, lam)``: ``(lam * x_a + (1 - lam) * x_b, lam * onehot(y_a) + (1 - lam) * onehot(y_b))``.

    Args:
        chunks: (M, C, F, W) cached chunks.
        labels: (M,) class indices.
        num_classes: length of the soft label.
    """

    def __init__(self, chunks: torch.Tensor, labels: torch.Tensor, num_classes: int) -> None:
        if len(chunks) != len(labels):
            raise DataError(f"{len(chunks)} chunks but {len(labels)} labels")
        self.chunks = chunks
        self.labels = labels
        self.num_classes = num_classes

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, item: tuple[int, int, float]) -> tuple[torch.Tensor, torch.Tensor]:
        a, b, lam = item
        x = lam * self.chunks[a] + (1.0 - lam) * self.chunks[b]
        y = torch.zeros(self.num_classes, dtype=torch.float32)
        y[self.labels[a]] += lam
        y[self.labels[b]] += 1.0 - lam
        return x.to(self.chunks.dtype), y


class PairDataset(MixupDataset):
    """Indexed by ``(a, b, lam)``: the unmixed pair ``(x_a, x_b, onehot(y_a), onehot(y_b), lam)``.

    S2 needs both samples and the ratio, not only their mix: pre-training encodes ``X``, ``X'`` and
    ``X_lambda`` (eq. 1 compares them), and fine-tuning adds eq. 1 on the encoder outputs to the KL loss.
    Same arguments as :class:`MixupDataset`.
    """

    def __init__(self, chunks: torch.Tensor, labels: torch.Tensor, num_classes: int) -> None:
        super().__init__(chunks, labels, num_classes)
        self._eye = torch.eye(num_classes, dtype=torch.float32)  # one-hot rows, built once

    def __getitem__(self, item: tuple[int, int, float]) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        a, b, lam = item
        eye = self._eye
        return self.chunks[a], self.chunks[b], eye[self.labels[a]], eye[self.labels[b]], torch.tensor(float(lam))
