"""Plain folders: your own normal recordings, optionally labelled by CSV files.

Without options::

    <root>/*.wav               machine type = the root folder's name (or ``machine_type``)
    <root>/<machine>/*.wav     machine type = the sub-folder's name

Every clip is TRAIN / NORMAL / SOURCE, section ``"00"``; deeper files are reported as unknown.

With ``labels_csv`` (one or more paths or glob patterns, relative to the root), the CSV files decide which clips
exist and what they are. Each CSV has a file-name column and a label column (``filename_column``,
``label_column``); you name the labels that mean normal (``normal_labels``) and anomalous (``anomaly_labels``).

* Split: a ``split`` column (``train`` / ``test``) when the CSV has one, else the CSV's file name
  (``train*.csv`` -> train, ``test*.csv`` / ``eval*.csv`` -> test).
* Paths: a relative file name is looked up in the CSV's folder, then in the root; if neither exists, leading folders
  are dropped one at a time and both are tried again (so ``dataset/train/a.wav`` listed in ``dataset/train.csv``
  is found whether the root is the folder above ``dataset/`` or ``dataset/`` itself).
* The original label is kept as attribute ``label``. Anomalous clips listed in a train CSV stay TRAIN / ANOMALY:
  the manifest records the data as it is, so fit models on normal training clips only.
* Nothing is dropped silently: clips whose label is neither normal nor anomalous, and audio files no CSV lists, go
  to ``unknown`` with a note; CSV rows naming missing files are counted in a note.

Example: ``parse_dataset(root, "folder", labels_csv="dataset/*.csv", normal_labels=["ON"],
anomaly_labels=["BLADE FAULT"])``.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from soundsentry.data.layouts.base import Layout, ParseResult, audio_files
from soundsentry.errors import ConfigError, LayoutError
from soundsentry.registry import register_layout
from soundsentry.types import Clip, Domain, Label, Split

_SPLIT_PREFIXES = (("train", Split.TRAIN), ("test", Split.TEST), ("eval", Split.TEST))


def _as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


@register_layout("folder")
class FolderLayout(Layout):
    """A plain folder of normal clips, or any folder labelled by CSV files (see the module docstring)."""

    name = "folder"
    priority = 0

    def __init__(
        self,
        labels_csv: str | Sequence[str] | None = None,
        normal_labels: str | Sequence[str] = (),
        anomaly_labels: str | Sequence[str] = (),
        machine_type: str | None = None,
        filename_column: str = "filename",
        label_column: str = "label",
    ) -> None:
        self.labels_csv = _as_tuple(labels_csv)
        self.normal_labels = _as_tuple(normal_labels)
        self.anomaly_labels = _as_tuple(anomaly_labels)
        self.machine_type = machine_type
        self.filename_column = filename_column
        self.label_column = label_column
        if (self.normal_labels or self.anomaly_labels) and not self.labels_csv:
            raise ConfigError("folder layout: normal_labels / anomaly_labels need labels_csv (the CSV files to read)")
        if self.labels_csv and not self.normal_labels:
            raise ConfigError("folder layout: labels_csv needs normal_labels, the CSV labels that mean normal")
        both = set(self.normal_labels) & set(self.anomaly_labels)
        if both:
            raise ConfigError(f"folder layout: labels {sorted(both)} are both normal and anomalous; pick one")

    def parse(self, root: Path) -> ParseResult:
        return self._parse_csv(root) if self.labels_csv else self._parse_plain(root)

    def _clip(self, path: Path, machine_type: str, split: Split, label: Label, attributes: dict[str, str]) -> Clip:
        return Clip(str(path), machine_type, "00", Domain.SOURCE, split, label, attributes, self.name)

    def _parse_plain(self, root: Path) -> ParseResult:
        result = ParseResult(self.name)
        for path in audio_files(root):
            parts = path.relative_to(root).parts
            if len(parts) == 1:
                result.clips.append(self._clip(path, self.machine_type or root.name, Split.TRAIN, Label.NORMAL, {}))
            elif len(parts) == 2:
                result.clips.append(self._clip(path, parts[0], Split.TRAIN, Label.NORMAL, {}))
            else:
                result.unknown.append(str(path))
        return result

    def _parse_csv(self, root: Path) -> ParseResult:
        result = ParseResult(self.name)
        machine_type = self.machine_type or root.name
        listed: dict[Path, str] = {}
        unlisted_labels: Counter[str] = Counter()
        for csv_path in self._csv_files(root):
            for path, split, label in self._read_csv(root, csv_path, result.notes):
                if path in listed:
                    result.notes.append(f"{path} is listed twice ({listed[path]} and {csv_path.name}); kept the first")
                    continue
                listed[path] = csv_path.name
                if label in self.normal_labels or label in self.anomaly_labels:
                    kind = Label.NORMAL if label in self.normal_labels else Label.ANOMALY
                    result.clips.append(self._clip(path, machine_type, split, kind, {"label": label}))
                else:
                    unlisted_labels[label] += 1
                    result.unknown.append(str(path))
        for label, count in sorted(unlisted_labels.items()):
            result.notes.append(
                f"{count} clips labelled {label!r} are neither normal nor anomalous and were left out; "
                "add the label to normal_labels or anomaly_labels to use them"
            )
        in_train = sum(c.split is Split.TRAIN and c.label is Label.ANOMALY for c in result.clips)
        if in_train:
            result.notes.append(
                f"{in_train} anomalous clips are in the train split; fit models on normal training clips only"
            )
        not_listed = [str(p) for p in audio_files(root) if p not in listed]
        if not_listed:
            result.unknown.extend(not_listed)
            result.notes.append(f"{len(not_listed)} audio files are in no labels CSV, e.g. {not_listed[0]}")
        result.clips.sort(key=lambda clip: clip.path)
        result.unknown.sort()
        return result

    def _csv_files(self, root: Path) -> list[Path]:
        files: list[Path] = []
        for pattern in self.labels_csv:
            if Path(pattern).is_absolute():
                matches = [Path(pattern)] if Path(pattern).is_file() else []
            else:
                matches = sorted(root.glob(pattern))
            if not matches:
                raise LayoutError(f"labels CSV {pattern!r} matches no file under {root}; give a path relative to it")
            files.extend(m for m in matches if m not in files)
        return files

    def _read_csv(self, root: Path, csv_path: Path, notes: list[str]) -> list[tuple[Path, Split, str]]:
        """(absolute audio path, split, label) for each row whose file exists."""
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            missing = [c for c in (self.filename_column, self.label_column) if c not in columns]
            if missing:
                raise LayoutError(
                    f"{csv_path}: no column {', '.join(map(repr, missing))} (columns: {', '.join(columns)}); "
                    "set filename_column / label_column"
                )
            has_split = "split" in columns
            default_split = None if has_split else _split_from_name(csv_path)
            rows, absent = [], []
            for line, row in enumerate(reader, start=2):
                name, label = (row[self.filename_column] or "").strip(), (row[self.label_column] or "").strip()
                split = _split_value(csv_path, line, row["split"]) if has_split else default_split
                path = _resolve(name, csv_path.parent, root)
                if path is None:
                    absent.append(name)
                elif split is not None:
                    rows.append((path, split, label))
        if absent:
            notes.append(f"{csv_path}: {len(absent)} rows name files that do not exist, e.g. {absent[0]!r}")
        return rows


def _split_from_name(csv_path: Path) -> Split:
    stem = csv_path.stem.lower()
    for prefix, split in _SPLIT_PREFIXES:
        if stem.startswith(prefix):
            return split
    raise LayoutError(
        f"{csv_path}: cannot tell the split; add a 'split' column (train/test) or name the file train*.csv or test*.csv"
    )


def _split_value(csv_path: Path, line: int, value: str | None) -> Split:
    text = (value or "").strip().lower()
    if text not in ("train", "test"):
        raise LayoutError(f"{csv_path}, line {line}: split is {value!r}; expected 'train' or 'test'")
    return Split(text)


def _resolve(name: str, csv_dir: Path, root: Path) -> Path | None:
    """Absolute path of a CSV file name (see the module docstring for the search order), or None."""
    if not name:
        return None
    given = Path(name)
    if given.is_absolute():
        return given if given.is_file() else None
    parts = given.parts
    for start in range(len(parts)):
        for base in (csv_dir, root):
            candidate = base.joinpath(*parts[start:])
            if candidate.is_file():
                return Path(os.path.abspath(candidate))
    return None
