"""``soundsentry score-dir DETECTOR NEWDIR -o results.csv``: score every clip of a folder with a detector.

The machine type and section of each clip come from the folder's layout (any layout ``prepare`` knows), or are
given for the whole folder (a plain folder of recordings of one machine). Files that cannot be scored (corrupt
audio, unknown file name, a machine the detector does not know) get a row with ``decision=error`` and a one-line
reason; the batch never stops for one bad file.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from soundsentry.deploy.detector import ClipScore, Detector, normalise_section, results_table
from soundsentry.errors import DataError
from soundsentry.io import atomic_write_text


@dataclass(frozen=True)
class BatchSummary:
    """Counts of a batch: clips scored, decided anomalous, and not scored."""

    n_clips: int
    n_anomalies: int
    n_errors: int
    out: Path


def _items(root: Path, machine_type: str | None, section: str | None, layout: str | None) -> list[tuple[str, str, str]]:
    from soundsentry.data.layouts import audio_files, parse_dataset

    if not root.is_dir():
        raise DataError(f"{root}: no such folder; give the folder of recordings to score")
    if machine_type is not None:
        files = audio_files(root)
        if not files:
            raise DataError(f"{root}: no audio files (.wav, .flac) to score")
        return [(str(p), machine_type, normalise_section(section or "00")) for p in files]
    parsed = parse_dataset(root, layout)
    items = [(c.path, c.machine_type, section and normalise_section(section) or c.section) for c in parsed.clips]
    # files the layout does not recognise are reported as rows, not dropped
    items += [(path, "", "") for path in parsed.unknown]
    return sorted(items)


def score_dir(
    detector: Detector,
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    machine_type: str | None = None,
    section: str | None = None,
    layout: str | None = None,
    progress: bool = True,
) -> tuple[list[ClipScore], BatchSummary]:
    """Score every audio file under ``root`` and write ``out`` (CSV) atomically.

    Args:
        detector: a loaded detector.
        root: folder of recordings.
        out: results CSV (``path,machine_type,section,anomaly_score,threshold,decision,error``).
        machine_type: the machine of every file (a plain folder); None parses the layout instead.
        section: the section / machine ID of every file (default ``00`` with ``machine_type``; with a layout it
            overrides the parsed one).
        layout: layout name instead of auto-detection.
        progress: show a progress bar.
    """
    items = _items(Path(root), machine_type, section, layout)
    scorable = [item for item in items if item[1]]
    results = detector.score_files(scorable, progress=progress, total=len(scorable))
    results += [
        ClipScore(path, "", "", float("nan"), float("nan"), "error", "file name matches no known layout convention")
        for path, mtype, _ in items
        if not mtype
    ]
    results.sort(key=lambda r: r.path)
    atomic_write_text(Path(out), results_table(results))
    counts = Counter(r.decision for r in results)
    return results, BatchSummary(len(results), counts["anomaly"], counts["error"], Path(out))
