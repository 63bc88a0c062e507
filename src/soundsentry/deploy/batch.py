"""``soundsentry score-dir DETECTOR NEWDIR -o results.csv``: score every clip of a folder with a detector.

The machine type and section of each clip come from the folder's layout (any layout ``prepare`` knows), or are
given for the whole folder (a plain folder of recordings of one machine). Every format the loader decodes is
scored (WAV, FLAC, OGG, MP3, AIFF ...); files that cannot be scored (audio in a format it cannot decode, corrupt
or unjudgeable audio refused by the input-quality gate, an unknown file name, a machine the detector does not
know) get a row with ``decision=error`` and a one-line reason; the batch never stops for one bad file.

Rows are written as they are scored (one line each, flushed), so a killed batch keeps what it did: run the same
command again and the files already in the results are skipped, the others appended (``resume=True``; a partial
last line is dropped first).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from soundsentry.deploy.detector import RESULT_COLUMNS, ClipScore, Detector, normalise_section, result_row
from soundsentry.errors import DataError

if TYPE_CHECKING:
    from soundsentry.data.layouts import ParseResult

# Extensions of audio the loader decodes (when this libsndfile has the format) and of audio it cannot decode:
# the first are scored, the second get an error row; other files (csv, txt ...) are not recordings.
DECODABLE_EXTENSIONS = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au")
UNDECODABLE_EXTENSIONS = (".m4a", ".aac", ".wma", ".amr", ".mp4", ".webm", ".3gp", ".ape", ".caf", ".mka")
UNKNOWN_NAME = "file name matches no known layout convention"


@dataclass(frozen=True)
class BatchSummary:
    """Counts of a batch: clips scored, decided anomalous, and not scored.

    Attributes:
        n_clips: rows in the results (resumed rows included).
        n_anomalies, n_errors: rows decided ``anomaly`` / ``error``.
        out: the results CSV.
        n_resumed: rows kept from an earlier, interrupted run of the same batch.
        skipped: files in a format the loader cannot decode (each also has an error row).
    """

    n_clips: int
    n_anomalies: int
    n_errors: int
    out: Path
    n_resumed: int = 0
    skipped: tuple[str, ...] = field(default=())


# Layouts whose file names state each clip's domain (source / target); elsewhere a clip's domain is not known.
DOMAIN_LAYOUTS = ("dcase2021", "dcase2022", "dcase2025", "dcase2026")


def decodable_extensions() -> tuple[str, ...]:
    """The extensions of :data:`DECODABLE_EXTENSIONS` this installation's loader reads."""
    from soundsentry.data.audio import supported_extensions

    supported = set(supported_extensions())
    return tuple(ext for ext in DECODABLE_EXTENSIONS if ext in supported)


def recordings(root: Path) -> tuple[list[Path], list[Path]]:
    """(decodable audio files, audio files in formats the loader cannot decode) under ``root``, sorted; hidden
    files and folders are skipped."""
    decodable, other = decodable_extensions(), set(UNDECODABLE_EXTENSIONS) - set(decodable_extensions())
    found: list[Path] = []
    skipped: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            suffix = Path(name).suffix.lower()
            if not name.startswith("."):
                if suffix in decodable:
                    found.append(Path(folder, name).absolute())
                elif suffix in other:
                    skipped.append(Path(folder, name).absolute())
    return sorted(found), sorted(skipped)


def _items(root: Path, machine_type: str | None, section: str | None, layout: str | None) -> list[tuple[str, str, str]]:
    """``(path, machine type, section)`` of every audio file under ``root`` (machine type empty: unrecognised)."""
    return [item[:3] for item in _items_with_domains(root, machine_type, section, layout)]


def _items_with_domains(
    root: Path, machine_type: str | None, section: str | None, layout: str | None, domain: str | None = None
) -> list[tuple[str, str, str, str | None]]:
    """As :func:`_items`, with each clip's domain: ``domain`` when given, else the one its file name states in a
    layout of :data:`DOMAIN_LAYOUTS`, else None (the detector's domain-unknown threshold decides)."""
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; give the folder of recordings to score")
    files, skipped = recordings(root)
    if not files and not skipped:
        raise DataError(f"{root}: no audio files ({', '.join(decodable_extensions())}) to score")
    if machine_type is not None:
        return [(str(p), machine_type, normalise_section(section or "00"), domain) for p in files]
    if not files:
        return []
    parsed, paths = _parse_layout(root, files, layout)
    named = parsed.layout in DOMAIN_LAYOUTS
    items = [
        (
            paths.get(c.path, c.path),
            c.machine_type,
            section and normalise_section(section) or c.section,
            domain or (c.domain.value if named and c.domain.value in ("source", "target") else None),
        )
        for c in parsed.clips
    ]
    # files the layout does not recognise are reported as rows, not dropped
    items += [(paths.get(path, path), "", "", None) for path in parsed.unknown]
    return sorted(items, key=lambda item: item[:3])


def _parse_layout(root: Path, files: list[Path], layout: str | None) -> tuple[ParseResult, dict[str, str]]:
    """The layout's parse of ``files``, and a map from the paths it reports to the real files.

    Layout parsers read only ``.wav`` / ``.flac`` names. When other formats are present, the parse runs on a
    temporary mirror of the folder (same folder names, the other files linked under a ``.wav`` name) so an
    ``.ogg`` or ``.mp3`` recording gets its machine type and section from its name like any other.
    """
    from soundsentry.data.layouts import AUDIO_EXTENSIONS, parse_dataset

    if all(p.suffix.lower() in AUDIO_EXTENSIONS for p in files):
        return parse_dataset(root, layout), {}
    root = Path(os.path.abspath(root))
    with tempfile.TemporaryDirectory(prefix="soundsentry-layout-") as tmp:
        mirror = Path(tmp, root.parent.name or "_", root.name or "_")
        paths: dict[Path, Path] = {}
        for path in files:
            rel = path.relative_to(root)
            name = rel if path.suffix.lower() in AUDIO_EXTENSIONS else rel.with_suffix(".wav")
            if name in paths:
                continue  # x.wav and x.ogg side by side: the second keeps its own name and is reported unknown
            paths[name] = path
            (mirror / name).parent.mkdir(parents=True, exist_ok=True)
            try:
                os.symlink(path, mirror / name)
            except OSError:  # no symlinks here: the parsers read names only (dcase2026 reads headers when it can)
                (mirror / name).touch()
        parsed = parse_dataset(mirror, layout)
        back = {str(mirror / name): str(path) for name, path in paths.items()}
        lost = sorted({str(p) for p in files} - set(back.values()))
    parsed.unknown = [*parsed.unknown, *lost]
    return parsed, back


def check_out(out: Path) -> None:
    """Refuse an output path that cannot take the results before anything is scored."""
    if out.is_dir():
        raise DataError(f"{out} is a folder; -o names the results CSV file, e.g. -o {out / 'results.csv'}")
    if out.parent.exists() and not out.parent.is_dir():
        raise DataError(f"{out.parent} is a file, not a folder; give -o a path inside a folder")


def _score_of(text: str) -> float:
    try:
        return float(text) if text else float("nan")
    except ValueError:
        return float("nan")


def _read_done(out: Path) -> list[ClipScore]:
    """The complete rows of an earlier run's results; the file is cut back to its last complete line."""
    if not out.is_file() or out.stat().st_size == 0:
        return []
    data = out.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep == 0:  # killed while writing the header: start again
        out.write_bytes(b"")
        return []
    try:
        rows = list(csv.reader(io.StringIO(data[:keep].decode("utf-8"), newline="")))
    except (UnicodeDecodeError, csv.Error):
        rows = [[]]
    if not rows or tuple(rows[0]) != RESULT_COLUMNS:
        raise DataError(
            f"{out} exists but is not a score-dir results file (first line {data[:60]!r}); choose another -o, or "
            "delete it to score again"
        )
    if keep < len(data):
        with open(out, "r+b") as f:  # the last row was cut off by the interruption: it is scored again
            f.truncate(keep)
    return [
        ClipScore(r[0], r[1], r[2], _score_of(r[3]), _score_of(r[4]), r[5], r[6], r[7])
        for r in rows[1:]
        if len(r) == len(RESULT_COLUMNS)
    ]


@contextmanager
def _results_writer(out: Path, append: bool) -> Iterator[IO[str]]:
    """The results file, opened to add rows (a fresh file starts with the header); synced to disk at the end."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a" if append else "w", newline="", encoding="utf-8") as f:
        if not append:
            f.write(",".join(RESULT_COLUMNS) + "\n")
            f.flush()
        yield f
        f.flush()
        os.fsync(f.fileno())


def _write_row(f: IO[str], result: ClipScore) -> None:
    csv.writer(f, lineterminator="\n").writerow(result_row(result))
    f.flush()


def score_dir(
    detector: Detector,
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    machine_type: str | None = None,
    section: str | None = None,
    layout: str | None = None,
    progress: bool = True,
    domain: str | None = None,
    resume: bool = False,
) -> tuple[list[ClipScore], BatchSummary]:
    """Score every audio file under ``root``, writing each row of ``out`` (CSV) as it is scored.

    Args:
        detector: a loaded detector.
        root: folder of recordings.
        out: results CSV (:data:`~soundsentry.deploy.detector.RESULT_COLUMNS`: path, machine_type, section,
            anomaly_score, threshold, decision, error, quality).
        machine_type: the machine of every file (a plain folder); None parses the layout instead.
        section: the section / machine ID of every file (default ``00`` with ``machine_type``; with a layout it
            overrides the parsed one).
        layout: layout name instead of auto-detection.
        progress: show a progress bar.
        domain: the domain (``source`` / ``target``) of every file, choosing that domain's threshold; None takes
            it from the file names of a layout that states it (DCASE 2021-2025), else the domain-unknown one.
        resume: keep the rows of an existing ``out`` (an interrupted run of this batch) and score only the files
            it does not list; False replaces ``out``.

    Raises:
        DataError: ``out`` is a folder, or (``resume``) an existing file that is not a results CSV; checked before
            anything is scored.
    """
    out = Path(out)
    check_out(out)
    if domain is not None and domain not in ("source", "target"):
        raise DataError(f"unknown domain {domain!r}; valid: source, target (or leave it out)")
    items = _items_with_domains(Path(root), machine_type, section, layout, domain)
    done = _read_done(out) if resume else []
    seen = {r.path for r in done}
    todo = [item for item in items if item[0] not in seen]
    skipped = [str(p) for p in recordings(Path(root))[1]]
    todo_skipped = [p for p in skipped if p not in seen]
    results = list(done)
    with _results_writer(out, append=bool(done) or (resume and out.is_file() and out.stat().st_size > 0)) as f:
        for result in _score_items(detector, todo, progress):
            _write_row(f, result)
            results.append(result)
        for path in todo_skipped:
            result = _unreadable(path)
            _write_row(f, result)
            results.append(result)
    counts = Counter(r.decision for r in results)
    summary = BatchSummary(len(results), counts["anomaly"], counts["error"], out, len(done), tuple(skipped))
    return results, summary


def _score_items(
    detector: Detector, items: list[tuple[str, str, str, str | None]], progress: bool
) -> Iterator[ClipScore]:
    """One result per item, in order: scored, or an error row for a name no layout recognises."""
    from tqdm import tqdm

    for path, mtype, sec, dom in tqdm(items, desc="scoring", unit="clip", disable=not progress):
        if mtype:
            yield detector.score_file(path, mtype, sec, dom)
        else:
            yield ClipScore(path, "", "", float("nan"), float("nan"), "error", UNKNOWN_NAME)


def _unreadable(path: str) -> ClipScore:
    """The error row of a file in an audio format the loader cannot decode."""
    from soundsentry.deploy.quality import QualityProblem

    reason = (
        f"{path}: the loader cannot decode {Path(path).suffix.lower()!r} audio; convert it to WAV or FLAC "
        f"(decodable: {', '.join(decodable_extensions())})"
    )
    return ClipScore(path, "", "", float("nan"), float("nan"), "error", reason, QualityProblem.UNDECODABLE.value)
