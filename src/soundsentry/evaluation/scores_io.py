"""Anomaly-score files: soundsentry's own ``path,anomaly_score`` CSV and the official DCASE result CSVs.

Official file names (one file per group, rows ``filename,score`` / ``filename,0|1`` without a header, as the
baselines write them with ``csv.writer``):

* 2020: ``anomaly_score_<type>_id_<XX>.csv`` (``01_test.py`` of the 2020 baseline; it wrote no decision files,
  ``decision_result_<type>_id_<XX>.csv`` is written here only when thresholds are given);
* 2021: ``anomaly_score_<type>_section_<XX>_<source|target>_test.csv`` (the 2021 baselines write one file per
  domain, and the 2021 evaluator reads them so);
* 2022-2024: ``anomaly_score_<type>_section_<XX>_test.csv`` (both domains in one file).
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from soundsentry.errors import ConfigError, DataError
from soundsentry.evaluation._csv import csv_text
from soundsentry.evaluation.official import Rule, resolve_rule
from soundsentry.evaluation.threshold import decide
from soundsentry.io import atomic_write_text
from soundsentry.types import Clip, Domain, Split

SCORES_HEADER = ("path", "anomaly_score")
_OFFICIAL_NAME = re.compile(
    r"^anomaly_score_(?P<machine_type>.+?)_(?:id|section)_(?P<section>\d+)(?:_(?:source|target))?(?:_test)?\.csv$"
)
_MAX_LISTED = 5

Thresholds = float | Mapping[str, float] | Mapping[tuple[str, str], float]


def _as_scores(clips: Sequence[Clip], scores: np.ndarray | Sequence[float]) -> np.ndarray:
    arr = np.asarray(scores, dtype=float)
    if arr.ndim != 1 or arr.shape[0] != len(clips):
        raise DataError(f"got {len(clips)} clips but scores of shape {arr.shape}; pass one score per clip")
    bad = [c.path for c, s in zip(clips, arr, strict=True) if not np.isfinite(s)]
    if bad:
        raise DataError(f"{len(bad)} clips have non-finite anomaly scores, e.g. {', '.join(bad[:3])}")
    return arr


def write_scores(path: str | os.PathLike[str], clips: Sequence[Clip], scores: np.ndarray | Sequence[float]) -> Path:
    """Write ``path,anomaly_score`` rows (path = ``Clip.path``) atomically; returns the written path."""
    arr = _as_scores(clips, scores)
    rows: list[Sequence[object]] = [SCORES_HEADER]
    rows.extend((c.path, repr(float(s))) for c, s in zip(clips, arr, strict=True))
    return atomic_write_text(path, csv_text(rows))


def read_scores(path: str | os.PathLike[str]) -> dict[str, float]:
    """Read a file written by :func:`write_scores` into ``{clip path: score}``.

    Raises:
        DataError: missing file, wrong header, a row without two fields, a non-finite or non-numeric score, or a
            path listed twice; the message gives the line number.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: scores file not found; run the score step first")
    with p.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != SCORES_HEADER:
            raise DataError(f"{p}: expected header 'path,anomaly_score' but found {header!r}")
        out: dict[str, float] = {}
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            if len(row) != 2:
                raise DataError(f"{p}:{line}: expected 2 fields 'path,anomaly_score' but found {len(row)}: {row!r}")
            try:
                value = float(row[1])
            except ValueError:
                raise DataError(f"{p}:{line}: anomaly score {row[1]!r} is not a number") from None
            if not np.isfinite(value):
                raise DataError(f"{p}:{line}: anomaly score of {row[0]} is {row[1]}; scores must be finite")
            if row[0] in out:
                raise DataError(f"{p}:{line}: {row[0]} is listed twice; keep one score per clip")
            out[row[0]] = value
    return out


def _missing_error(missing: Sequence[str], total: int, source: str) -> DataError:
    shown = ", ".join(missing[:_MAX_LISTED])
    more = f" and {len(missing) - _MAX_LISTED} more" if len(missing) > _MAX_LISTED else ""
    return DataError(f"{len(missing)} of {total} clips have no score in {source}: {shown}{more}; rescore them")


def align_scores(clips: Sequence[Clip], scores_by_path: Mapping[str, float]) -> np.ndarray:
    """Scores in clip order, looked up by ``Clip.path``. Shape (len(clips),).

    Raises:
        DataError: listing up to five clips that have no score.
    """
    missing = [c.path for c in clips if c.path not in scores_by_path]
    if missing:
        raise _missing_error(missing, len(clips), "the scores file")
    return np.array([scores_by_path[c.path] for c in clips], dtype=float)


def official_file_stem(rule: Rule, machine_type: str, section: str, domain: Domain | None = None) -> str:
    """``<type>_id_<XX>`` (2020), ``<type>_section_<XX>_<domain>_test`` (2021) or ``<type>_section_<XX>_test``."""
    if rule is Rule.DCASE2020:
        return f"{machine_type}_id_{section}"
    if rule is Rule.DCASE2021:
        if domain not in (Domain.SOURCE, Domain.TARGET):
            raise DataError(
                f"{machine_type} section {section}: 2021 result files are per domain but a test clip has domain "
                f"{getattr(domain, 'value', domain)!r}; use rule='2022' for clips without a domain"
            )
        return f"{machine_type}_section_{section}_{domain.value}_test"
    return f"{machine_type}_section_{section}_test"


def _threshold_for(thresholds: Thresholds, machine_type: str, section: str) -> float:
    if isinstance(thresholds, Mapping):
        for key in ((machine_type, section), machine_type):
            if key in thresholds:
                return float(thresholds[key])  # type: ignore[index]
        raise ConfigError(
            f"no decision threshold for {machine_type} section {section}; thresholds are keyed by machine type or "
            f"(machine type, section), known keys: {', '.join(map(str, thresholds)) or '(none)'}"
        )
    return float(thresholds)


def write_official_csvs(
    clips: Sequence[Clip],
    scores: np.ndarray | Sequence[float],
    out_dir: str | os.PathLike[str],
    thresholds: Thresholds | None = None,
    rule: str | Rule | None = None,
) -> list[Path]:
    """Write the official ``anomaly_score_*.csv`` (and ``decision_result_*.csv``) files of the test clips.

    Args:
        clips: clips in score order; train clips are left out, unlabelled test clips are written.
        scores: one anomaly score per clip.
        out_dir: folder to write into (created).
        thresholds: one threshold, or one per machine type or per (machine type, section); decision = score >
            threshold. None writes anomaly scores only.
        rule: file naming of that year; None derives it from ``Clip.dataset``.

    Returns:
        The written paths, sorted.
    """
    arr = _as_scores(clips, scores)
    test = [i for i, c in enumerate(clips) if c.split is Split.TEST]
    if not test:
        raise DataError(f"none of the {len(clips)} clips is a test clip; official result files hold test clips only")
    resolved = resolve_rule(rule, [clips[i] for i in test])
    groups: dict[str, list[int]] = {}
    for i in test:
        c = clips[i]
        groups.setdefault(official_file_stem(resolved, c.machine_type, c.section, c.domain), []).append(i)
    written: list[Path] = []
    for stem, idx in sorted(groups.items()):
        idx = sorted(idx, key=lambda i: clips[i].name)
        names = [clips[i].name for i in idx]
        dupes = sorted(n for n, k in Counter(names).items() if k > 1)
        if dupes:
            raise DataError(f"{stem}: file names {', '.join(dupes[:3])} occur twice; official files key rows by name")
        rows = [(clips[i].name, repr(float(arr[i]))) for i in idx]
        written.append(atomic_write_text(Path(out_dir) / f"anomaly_score_{stem}.csv", csv_text(rows)))
        if thresholds is not None:
            first = clips[idx[0]]
            decisions = decide(arr[idx], _threshold_for(thresholds, first.machine_type, first.section))
            rows = [(clips[i].name, int(d)) for i, d in zip(idx, decisions, strict=True)]
            written.append(atomic_write_text(Path(out_dir) / f"decision_result_{stem}.csv", csv_text(rows)))
    return sorted(written)


def _read_official_file(path: Path) -> list[tuple[str, float]]:
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        for row in reader:
            if not row:
                continue
            line = reader.line_num
            if len(row) != 2:
                raise DataError(f"{path}:{line}: expected 'filename,score' but found {row!r}")
            try:
                value = float(row[1])
            except ValueError:
                raise DataError(
                    f"{path}:{line}: score {row[1]!r} is not a number (official files have no header)"
                ) from None
            if not np.isfinite(value):
                raise DataError(f"{path}:{line}: score of {row[0]} is {row[1]}; scores must be finite")
            rows.append((row[0].strip(), value))
    return rows


def read_official_scores(directory: str | os.PathLike[str], clips: Sequence[Clip]) -> np.ndarray:
    """Read every ``anomaly_score_*.csv`` of a folder and return the scores in clip order. Shape (len(clips),).

    Rows are matched to clips by (machine type, section or ID, file name), so 2020, 2021 and 2022-2024 file
    names all work. Pass only the clips the files cover (usually the test clips).

    Raises:
        DataError: folder missing or without score files, a file name or row that cannot be parsed, a clip listed
            twice, or clips without a score (up to five are named).
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder; pass the folder holding the anomaly_score_*.csv files")
    files = sorted(folder.glob("anomaly_score_*.csv"))
    if not files:
        raise DataError(f"{folder}: no anomaly_score_*.csv files found")
    table: dict[tuple[str, str, str], float] = {}
    for path in files:
        match = _OFFICIAL_NAME.match(path.name)
        if match is None:
            raise DataError(
                f"{path}: expected a name like anomaly_score_<type>_section_<XX>_test.csv or "
                "anomaly_score_<type>_id_<XX>.csv; rename or move the file"
            )
        mt, sec = match["machine_type"], match["section"]
        for name, value in _read_official_file(path):
            key = (mt, sec, name)
            if key in table:
                raise DataError(f"{path}: {name} of {mt} section {sec} is scored twice in {folder}")
            table[key] = value
    missing = [c.path for c in clips if (c.machine_type, c.section, c.name) not in table]
    if missing:
        raise _missing_error(missing, len(clips), str(folder))
    return np.array([table[(c.machine_type, c.section, c.name)] for c in clips], dtype=float)
