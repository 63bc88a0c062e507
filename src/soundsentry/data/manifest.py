"""Manifest files: the validated list of clips that every stage after ``prepare`` reads instead of file names.

Two formats, chosen by the file extension:

* ``.jsonl``: one JSON object per clip, enums as their string values::

    {"path": "/data/fan/train/x.wav", "machine_type": "fan", "section": "00", "domain": "source",
     "split": "train", "label": "normal", "attributes": {"m-n": "X"}, "dataset": "dcase2022"}

* ``.csv``: the same fields as columns, ``attributes`` as a JSON string.

Required fields: path, machine_type, section (two digits), split, label; domain defaults to ``source``, attributes
to ``{}`` and dataset to ``folder``. A relative path is read relative to the manifest's folder, so a hand-written
manifest may sit next to its audio. Files are written atomically (temporary file, then ``os.replace``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from soundsentry.errors import DataError
from soundsentry.io import atomic_write_text
from soundsentry.types import Clip, Domain, Label, Split

FIELDS: tuple[str, ...] = ("path", "machine_type", "section", "domain", "split", "label", "attributes", "dataset")
REQUIRED: tuple[str, ...] = ("path", "machine_type", "section", "split", "label")
FORMATS: tuple[str, ...] = (".jsonl", ".csv")
_SECTION = re.compile(r"^\d{2}$")


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{path}: unknown manifest format {suffix or '(no extension)'!r}; use .jsonl or .csv")
    return suffix


def clip_to_record(clip: Clip) -> dict[str, Any]:
    """A clip as a JSON-ready dict (enums as their values)."""
    return {
        "path": clip.path,
        "machine_type": clip.machine_type,
        "section": clip.section,
        "domain": clip.domain.value,
        "split": clip.split.value,
        "label": clip.label.value,
        "attributes": dict(clip.attributes),
        "dataset": clip.dataset,
    }


def write_manifest(clips: Iterable[Clip], path: str | os.PathLike[str]) -> Path:
    """Write clips to ``path`` (``.jsonl`` or ``.csv``) atomically; returns the path written."""
    target = Path(path)
    fmt = _format(target)
    records = [clip_to_record(clip) for clip in clips]
    buffer = io.StringIO(newline="")
    if fmt == ".jsonl":
        for record in records:
            buffer.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow({**record, "attributes": json.dumps(record["attributes"], ensure_ascii=False)})
    return atomic_write_text(target, buffer.getvalue())


def read_manifest(path: str | os.PathLike[str]) -> list[Clip]:
    """Clips listed in a manifest written by :func:`write_manifest` (or by hand).

    Raises:
        DataError: the file is missing, has an unknown extension, or a row is invalid (the message names the file
            and line: unknown or missing fields, a bad enum value, a section that is not two digits, a duplicate).
    """
    source = Path(path)
    fmt = _format(source)
    if not source.is_file():
        raise DataError(f"manifest {source} does not exist; run the prepare step first or check the path")
    with open(source, encoding="utf-8", newline="") as f:
        rows = list(_jsonl_rows(source, f) if fmt == ".jsonl" else _csv_rows(source, f))
    clips: list[Clip] = []
    seen: dict[str, int] = {}
    for line, record in rows:
        clip = _clip_from_record(record, f"{source}, line {line}", source.parent)
        if clip.path in seen:
            raise DataError(f"{source}, line {line}: {clip.path} is already listed on line {seen[clip.path]}")
        seen[clip.path] = line
        clips.append(clip)
    return clips


def _jsonl_rows(source: Path, lines: Iterable[str]) -> Iterable[tuple[int, dict[str, Any]]]:
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            message = f"{source}, line {line}: not valid JSON ({e.msg}); each line must be one JSON object"
            raise DataError(message) from e
        if not isinstance(record, dict):
            raise DataError(f"{source}, line {line}: expected a JSON object, got {type(record).__name__}")
        yield line, record


def _csv_rows(source: Path, lines: Iterable[str]) -> Iterable[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(lines)
    unknown = [c for c in reader.fieldnames or [] if c not in FIELDS]
    if unknown:
        raise DataError(f"{source}, line 1: unknown columns {unknown}; valid columns: {', '.join(FIELDS)}")
    for row in reader:
        line = reader.line_num
        if None in row:
            raise DataError(f"{source}, line {line}: more values than columns; quote values that contain commas")
        record: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "")}
        if "attributes" in record:
            try:
                record["attributes"] = json.loads(record["attributes"])
            except json.JSONDecodeError as e:
                raise DataError(f"{source}, line {line}: attributes is not a JSON object ({e.msg})") from e
        yield line, record


def _enum(where: str, enum: type[Enum], field: str, value: Any) -> Any:
    try:
        return enum(value)
    except ValueError:
        valid = ", ".join(m.value for m in enum)
        raise DataError(f"{where}: {field} is {value!r}; expected one of {valid}") from None


def _clip_from_record(record: dict[str, Any], where: str, base: Path) -> Clip:
    unknown = sorted(set(record) - set(FIELDS))
    if unknown:
        raise DataError(f"{where}: unknown fields {unknown}; valid fields: {', '.join(FIELDS)}")
    missing = [f for f in REQUIRED if record.get(f) in (None, "")]
    if missing:
        raise DataError(f"{where}: missing {', '.join(missing)}; every clip needs {', '.join(REQUIRED)}")
    for name in ("path", "machine_type", "section", "dataset"):
        if name in record and not isinstance(record[name], str):
            raise DataError(f"{where}: {name} must be a string, got {record[name]!r}")
    if not _SECTION.match(record["section"]):
        raise DataError(f"{where}: section is {record['section']!r}; expected two digits such as '00'")
    attributes = record.get("attributes", {})
    if not isinstance(attributes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        raise DataError(f"{where}: attributes must map names to string values, got {attributes!r}")
    path = Path(record["path"])
    return Clip(
        path=str(path if path.is_absolute() else Path(os.path.abspath(base / path))),
        machine_type=record["machine_type"],
        section=record["section"],
        domain=_enum(where, Domain, "domain", record.get("domain", Domain.SOURCE.value)),
        split=_enum(where, Split, "split", record["split"]),
        label=_enum(where, Label, "label", record["label"]),
        attributes=dict(attributes),
        dataset=record.get("dataset", "folder"),
    )


def _format_row(row: list[str], widths: list[int]) -> str:
    """Names left-aligned, counts right-aligned."""
    cells = [cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
    return "  ".join(cells).rstrip()


def summarize(clips: Sequence[Clip], unknown: Sequence[str] = (), notes: Sequence[str] = ()) -> str:
    """Plain-text table of clip counts per (machine type, section) and split-domain-label, with a total line.

    Only the split-domain-label columns that occur are shown (e.g. ``train-source-normal``,
    ``test-target-anomaly``, ``test-unknown-unknown`` for unlabelled evaluation clips). ``unknown`` (audio files
    left out of the clips, :attr:`ParseResult.unknown`) adds a warning line; each of ``notes`` adds a ``note:`` line.
    """
    counts = Counter((c.machine_type, c.section, (c.split, c.domain, c.label)) for c in clips)
    order = [(s, d, lab) for s in Split for d in Domain for lab in Label]
    columns = [key for key in order if any(k[2] == key for k in counts)]
    groups = sorted({(t, s) for t, s, _ in counts})
    header = ["machine_type", "section", *(f"{s.value}-{d.value}-{lab.value}" for s, d, lab in columns), "total"]
    rows = [
        [t, s, *(str(counts[(t, s, key)]) for key in columns), str(sum(counts[(t, s, key)] for key in columns))]
        for t, s in groups
    ]
    totals = [sum(counts[(t, s, key)] for t, s in groups) for key in columns]
    rows.append(["total", "", *map(str, totals), str(sum(totals))])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [_format_row(row, widths) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.insert(-1, lines[1])
    if unknown:
        lines.append(
            f"warning: {len(unknown)} audio files were not recognised and are not in the manifest, e.g. {unknown[0]}"
        )
    lines.extend(f"note: {note}" for note in notes)
    return "\n".join(lines)
