"""DCASE 2022-2024 Task 2 layout (sections and source/target domains), registered as ``dcase2022``.

::

    <root>/<type>/train/section_00_source_train_normal_0000_<attributes>.wav
    <root>/<type>/test/section_00_target_test_anomaly_0012_<attributes>.wav   development test, labelled
    <root>/<type>/test/section_00_0000.wav                                    evaluation: domain, label UNKNOWN
    <root>/<type>/attributes_00.csv                                           optional (2024): per-file attributes

Attributes: the file-name tail (``car_A1_spd_28V_mic_1_noise_1``, ``m-n_X``) becomes name/value pairs when it
alternates name and value, else ``{"raw": tail}``; the hidden-attribute marker (``noAttribute`` in the released 2024
and 2025 data, ``noAttributes`` accepted too) and an empty tail (``..._0000_.wav``) give ``{}``. ``attributes_*.csv``
files in a machine-type folder are merged by file name and win over the name: a ``file_name`` column, then either
plain attribute columns or DCASE 2024's ``d1p``/``d1v`` (parameter name / value) column pairs; empty values are
skipped.

``root`` may also be one machine-type folder. DCASE 2021 uses the same names but ``source_test/`` and
``target_test/`` folders; a tree with only ``train/`` and ``test/`` folders fits both conventions and is detected
as ``dcase2022`` (the clips are the same either way). Pass ``layout="dcase2021"`` to override.
"""

from __future__ import annotations

import csv
import re
from dataclasses import replace
from pathlib import Path

from soundsentry.data.layouts.base import (
    Layout,
    ParseResult,
    audio_files,
    machine_dir_parts,
    parse_attribute_string,
    two_digits,
)
from soundsentry.registry import register_layout
from soundsentry.types import Clip, Domain, Label, Split

_LABELLED = re.compile(
    r"^section_(?P<section>\d+)_(?P<domain>source|target)_(?P<split>train|test)_"
    r"(?P<label>normal|anomaly)_\d+(?:_(?P<attrs>.*))?$"
)
_UNLABELLED = re.compile(r"^section_(?P<section>\d+)_\d+$")
# The released files write "noAttribute"; "noAttributes" (as some descriptions spell it) is accepted too.
HIDDEN_ATTRIBUTES: tuple[str, ...] = ("noAttribute", "noAttributes")


def name_attributes(tail: str | None) -> dict[str, str]:
    """Attributes of a file-name tail; the hidden-attribute marker and an empty tail give ``{}``."""
    return {} if not tail or tail in HIDDEN_ATTRIBUTES else parse_attribute_string(tail)


@register_layout("dcase2022")
class DCASE2022Layout(Layout):
    name = "dcase2022"
    priority = 40
    test_folders: tuple[str, ...] = ("test",)

    def folders(self) -> tuple[str, ...]:
        """Names of the split folders inside a machine-type folder."""
        return ("train", *self.test_folders)

    def parse(self, root: Path) -> ParseResult:
        result = ParseResult(self.name)
        tables: dict[Path, dict[str, dict[str, str]]] = {}
        for path in audio_files(root):
            where = machine_dir_parts(root, path, self.folders())
            clip = self.clip_from_name(str(path), *where) if where else None
            if clip is None:
                result.unknown.append(str(path))
                continue
            type_dir = path.parent.parent
            if type_dir not in tables:
                tables[type_dir] = _attribute_table(type_dir, result.notes)
            extra = tables[type_dir].get(path.name)
            result.clips.append(replace(clip, attributes={**clip.attributes, **extra}) if extra else clip)
        return result

    def clip_from_name(self, path: str, machine_type: str, folder: str, stem: str) -> Clip | None:
        """The clip a file name describes, or None if the name does not fit the folder it is in."""
        match = _LABELLED.match(stem)
        if match and match["split"] == folder:
            tail = match["attrs"]
            return Clip(
                path=path,
                machine_type=machine_type,
                section=two_digits(match["section"]),
                domain=Domain(match["domain"]),
                split=Split(folder),
                label=Label(match["label"]),
                attributes=name_attributes(tail),
                dataset=self.name,
            )
        match = _UNLABELLED.match(stem)
        if match and folder == "test":
            return Clip(
                path=path,
                machine_type=machine_type,
                section=two_digits(match["section"]),
                domain=Domain.UNKNOWN,
                split=Split.TEST,
                label=Label.UNKNOWN,
                dataset=self.name,
            )
        return None


def _attribute_table(type_dir: Path, notes: list[str]) -> dict[str, dict[str, str]]:
    """File name -> attributes from every ``attributes_*.csv`` in a machine-type folder."""
    table: dict[str, dict[str, str]] = {}
    for csv_path in sorted(type_dir.glob("attributes_*.csv")):
        with open(csv_path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = [c for c in (reader.fieldnames or []) if c]
            if "file_name" not in columns:
                notes.append(f"{csv_path}: ignored, it has no 'file_name' column (columns: {', '.join(columns)})")
                continue
            for row in reader:
                if row.get("file_name"):
                    table[Path(row["file_name"]).name] = _row_attributes(row, columns)
    return table


def _row_attributes(row: dict[str, str | None], columns: list[str]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for column in columns:
        value = (row.get(column) or "").strip()
        if column == "file_name" or not value:
            continue
        if column.endswith("p") and column[:-1] + "v" in columns:  # DCASE 2024: d1p names the value in d1v
            paired = (row.get(column[:-1] + "v") or "").strip()
            if paired and value not in HIDDEN_ATTRIBUTES:
                attributes[value] = paired
        elif column.endswith("v") and column[:-1] + "p" in columns:
            continue
        else:
            attributes[column] = value
    return attributes
