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
    UNKNOWN = "unknown"  # unlabelled evaluation clips of DCASE 2022-2024


class Split(str, enum.Enum):
    TRAIN = "train"
    TEST = "test"


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
        split: train or test.
        label: normal, anomaly or unknown (unlabelled evaluation data).
        attributes: operating conditions parsed from the file name or ``attributes_XX.csv``.
        dataset: the layout the clip was parsed from (``dcase2020``, ``dcase2021``, ``dcase2022``, ``mimii``,
            ``folder``).
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
