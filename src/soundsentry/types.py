"""Typed records passed between stages: clips and their labels.

Every dataset layout is parsed into :class:`Clip` records in the prepare step; everything downstream reads
only these records (through a manifest file), never file names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path


class Domain(str, enum.Enum):
    """Recording condition: the source domain has many training clips, the target domain few."""

    SOURCE = "source"
    TARGET = "target"
    UNKNOWN = "unknown"  # unlabelled evaluation clips of DCASE 2022-2025; supplemental clips whose name gives none


class Split(str, enum.Enum):
    """Where a clip belongs: models fit on ``train`` normals, ``test`` is scored and evaluated.

    ``supplemental`` holds DCASE 2025's extra clips (clean machine sounds, noise-only recordings): never fitted on
    or evaluated, only read by what asks for them (e.g. clean + noise mixing as augmentation).
    """

    TRAIN = "train"
    TEST = "test"
    SUPPLEMENTAL = "supplemental"  # appended last: list(Split) order is part of the generated set's seeds


class Label(str, enum.Enum):
    NORMAL = "normal"
    ANOMALY = "anomaly"
    UNKNOWN = "unknown"  # unlabelled evaluation clips


@dataclass(frozen=True)
class Clip:
    """One recording and everything known about it.

    Attributes:
        path: absolute path of the audio file.
        machine_type: e.g. ``fan``, ``ToyCar``; for a plain folder the folder name.
        section: section number (DCASE 2021-2024) or machine ID (DCASE 2020, MIMII) as two digits, e.g. ``"00"``.
        domain: source or target (DCASE 2020 and MIMII clips are all source).
        split: train, test or supplemental (DCASE 2025's clean-machine and noise clips).
        label: normal, anomaly or unknown (unlabelled evaluation data, noise-only supplemental clips).
        attributes: operating conditions parsed from the file name or ``attributes_XX.csv``; supplemental clips
            carry ``kind`` (``clean`` or ``noise``) when the file name tells.
        dataset: the layout the clip was parsed from (``dcase2020``, ``dcase2021``, ``dcase2022``, ``dcase2025``,
            ``dcase2026``, ``mimii``, ``folder``).
    """

    path: str
    machine_type: str
    section: str
    domain: Domain = Domain.SOURCE
    split: Split = Split.TRAIN
    label: Label = Label.NORMAL
    attributes: dict[str, str] = field(default_factory=dict, hash=False, compare=True)
    dataset: str = "folder"

    @property
    def name(self) -> str:
        """File name without folders, as written in the official result CSVs."""
        return Path(self.path).name

    @property
    def group(self) -> tuple[str, str]:
        """(machine type, section): the unit DCASE scores and models are fitted on."""
        return (self.machine_type, self.section)
