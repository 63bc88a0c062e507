"""``soundsentry watch DETECTOR DIR``: score recordings as they appear in a folder, each file once.

The folder is searched recursively (recorders often write into dated sub-folders), with the same file selection as
``score-dir``: every format the loader decodes, plus audio in formats it cannot decode (logged as errors), hidden
files and folders skipped (so a recorder's ``.name.wav.part`` is never read). Each poll lists the files not yet in
the log; a file is scored once its size and modification time are the same at two consecutive polls, so a
recording still being written is left for a later poll. ``--once`` scores every file present and returns (for cron
jobs and tests): use it on a folder whose recordings are complete.

The log is a JSON-lines file, one record per scored file (``path``, ``time``, ``machine_type``, ``section``,
``score``, ``threshold``, ``decision``, ``reason``, ``quality``: the input-quality gate's verdict), written and
synced to disk file by file. It is also the only state: on start the paths it holds are not scored again, so a
restart (or a crash, or Ctrl-C) loses at most the file being scored. A half-written last line (a crash while
writing) is cut off and its file scored again. A file is known by its absolute path; a new recording written
under an old name is not scored again. A lock on the log keeps a second watcher from writing to it.

Each anomaly is printed as one line on stdout (for a pipe into a notifier); files that could not be judged
(``decision=error``, with the reason) and the summary go to stderr.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import numpy as np

from soundsentry.deploy.detector import ClipScore, Detector
from soundsentry.errors import ConfigError, DataError

LOG_NAME = ".soundsentry-watch.jsonl"
RECORD_START = b'{"path"'  # how every record's line begins (json.dumps keeps the key order)


@dataclass
class WatchSummary:
    """Counts since the watcher started: files scored (errors included), decided anomalous, not judged."""

    n_files: int = 0
    n_anomalies: int = 0
    n_errors: int = 0
    log: Path = field(default_factory=Path)

    def add(self, result: ClipScore) -> None:
        self.n_files += 1
        self.n_anomalies += result.decision == "anomaly"
        self.n_errors += result.decision == "error"

    def line(self) -> str:
        return (
            f"scored {self.n_files - self.n_errors} of {self.n_files} new files: {self.n_anomalies} anomalous, "
            f"{self.n_errors} not scored (see the reason field) -> {self.log}"
        )


def log_record(result: ClipScore, when: datetime) -> dict[str, Any]:
    """The log's JSON record of one result; NaN score or threshold become null."""
    return {
        "path": result.path,
        "time": when.isoformat(timespec="seconds"),
        "machine_type": result.machine_type,
        "section": result.section,
        "score": float(result.score) if np.isfinite(result.score) else None,
        "threshold": float(result.threshold) if np.isfinite(result.threshold) else None,
        "decision": result.decision,
        "reason": result.error,
        "quality": result.quality,
    }


def parse_log(path: Path, data: bytes) -> tuple[set[str], int]:
    """The paths a log's bytes hold, and how many of its bytes to keep (a torn last record is dropped).

    Raises:
        DataError: a complete line that is not a watch record (the file is not a watch log).
    """
    end = data.rfind(b"\n") + 1
    lines = data[:end].splitlines()
    done = {_record_path(path, n, line) for n, line in enumerate(lines, start=1) if line.strip()}
    tail = data[end:]
    if not tail.strip():
        return done, len(data)
    try:  # a record whose newline was not written is complete
        done.add(_record_path(path, len(lines) + 1, tail))
    except DataError:
        if not tail.startswith(RECORD_START):  # not a torn record: someone else's file, left untouched
            raise
        return done, end
    return done, len(data)


def _record_path(log: Path, number: int, line: bytes) -> str:
    try:
        record = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("path"), str):
        raise DataError(
            f"{log}: line {number} is not a watch record; give --log a new file or the log of an earlier "
            "`soundsentry watch`"
        )
    return record["path"]


class WatchLog:
    """The JSON-lines log, opened for appending and locked against a second watcher on the same file.

    Args:
        path: the log file; its folder is created.
        notes: where remarks go (a cut-off torn line).
    """

    def __init__(self, path: str | os.PathLike[str], *, notes: IO[str] | None = None) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a+b")  # noqa: SIM115 - closed by close() / the context manager
        except OSError as err:
            raise DataError(
                f"{self.path}: cannot write the watch log ({err.strerror or err}); pass --log FILE"
            ) from None
        self._lock()
        try:
            self._file.seek(0)
            data = self._file.read()
            self.done, keep = parse_log(self.path, data)
        except BaseException:
            self._file.close()
            raise
        if keep < len(data):
            warning = f"warning: {self.path}: cut off a half-written last line; its file is scored again"
            print(warning, file=notes or sys.stderr)
            self._file.truncate(keep)
        if keep and not data[:keep].endswith(b"\n"):
            self._file.write(b"\n")  # a complete record that lacked only its newline
        self._sync()

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.close()
            raise DataError(
                f"{self.path}: another `soundsentry watch` is writing this log; stop it or pass another --log"
            ) from None

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as a line and sync it to disk; its path counts as done."""
        self._file.seek(0, os.SEEK_END)
        self._file.write(json.dumps(record, allow_nan=False).encode("utf-8") + b"\n")
        self._sync()
        self.done.add(record["path"])

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> WatchLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def watched_folder(root: str | os.PathLike[str]) -> Path:
    """The absolute path of the folder to watch; a :class:`DataError` when it is not a folder."""
    path = Path(os.path.abspath(os.path.expanduser(root)))
    if not path.is_dir():
        raise DataError(f"{path}: no such folder; give the folder the recordings are written to")
    return path


class Watcher:
    """Finds new recordings in a folder, scores each with the detector once and logs it.

    Args:
        detector: a loaded detector.
        root: the watched folder.
        log: the open log (its paths are not scored again).
        machine_type: the machine of every file (a plain folder); None parses the folder's layout.
        section: the section of every file (default ``00`` with ``machine_type``; with a layout it overrides it).
        layout: layout name instead of auto-detection.
        domain: the domain (``source`` / ``target``) of every file, choosing that domain's threshold; None takes it
            from the file names of a layout that states it, else the detector's domain-unknown threshold decides.
        alarms: where anomalies are printed, one line each.
        notes: where files that could not be judged are printed.
    """

    def __init__(
        self,
        detector: Detector,
        root: str | os.PathLike[str],
        log: WatchLog,
        *,
        machine_type: str | None = None,
        section: str | None = None,
        layout: str | None = None,
        domain: str | None = None,
        alarms: IO[str] | None = None,
        notes: IO[str] | None = None,
    ) -> None:
        self.root = watched_folder(root)
        self.detector, self.log = detector, log
        if domain not in (None, "source", "target"):
            raise ConfigError(f"unknown domain {domain!r}; valid: source, target (or leave it out)")
        self.machine_type, self.section, self.layout, self.domain = machine_type, section, layout, domain
        self.alarms, self.notes = alarms or sys.stdout, notes or sys.stderr
        self.summary = WatchSummary(log=log.path)
        self._seen: dict[str, tuple[int, int]] = {}  # a new file's (size, mtime) at the last poll
        self._undecodable: set[str] = set()  # files in formats the loader cannot decode, at the last listing

    def new_files(self) -> dict[str, tuple[int, int]]:
        """The recordings not in the log (as score-dir finds them: the formats the loader decodes, and those it
        cannot decode, which get an error record), with their (size, modification time in ns)."""
        from soundsentry.deploy.batch import recordings

        decodable, undecodable = recordings(self.root)
        self._undecodable = {str(path) for path in undecodable}
        found = {}
        for path in sorted([*decodable, *undecodable]):
            key = str(path)
            if key in self.log.done:
                continue
            try:
                stat = path.stat()
            except OSError:  # removed since the listing
                continue
            found[key] = (stat.st_size, stat.st_mtime_ns)
        return found

    def poll(self) -> list[ClipScore]:
        """One poll: score the new files whose size and time did not change since the last poll."""
        current = self.new_files()
        ready = [path for path, stat in current.items() if self._seen.get(path) == stat]
        self._seen = {path: stat for path, stat in current.items() if path not in ready}
        return self.score(ready)

    def score_present(self) -> list[ClipScore]:
        """Score every new file now, without waiting for it to be stable (``--once``)."""
        return self.score(list(self.new_files()))

    def score(self, paths: list[str]) -> list[ClipScore]:
        """Score ``paths`` with score-dir's per-file scoring, logging and printing each result as it comes."""
        from soundsentry.deploy.batch import _score_items, _unreadable

        wanted = set(paths)
        results = []
        for result in _score_items(self.detector, self._items(wanted - self._undecodable), progress=False):
            self._record(result)
            results.append(result)
        for path in sorted(wanted & self._undecodable):
            result = _unreadable(path)
            self._record(result)
            results.append(result)
        return results

    def _items(self, paths: set[str]) -> list[tuple[str, str, str, str | None]]:
        """``(path, machine_type, section, domain)`` of the decodable ``paths`` as score-dir reads them: the given
        machine, or the folder's layout (``machine_type`` empty for a name the layout does not know)."""
        from soundsentry.deploy.batch import _items_with_domains

        if not paths:
            return []
        try:
            items = _items_with_domains(self.root, self.machine_type, self.section, self.layout, self.domain)
        except DataError:
            if any(Path(path).exists() for path in paths):
                raise
            return []  # every file was removed since the listing
        return [item for item in items if item[0] in paths]

    def _record(self, result: ClipScore) -> None:
        when = datetime.now(timezone.utc)
        self.log.append(log_record(result, when))
        self.summary.add(result)
        if result.decision == "anomaly":
            print(
                f"ALARM {when.isoformat(timespec='seconds')} {result.machine_type} section {result.section}: "
                f"{result.path} score {result.score:.6g} > threshold {result.threshold:.6g}",
                file=self.alarms,
                flush=True,
            )
        elif result.decision == "error":
            reason = result.error if result.error.startswith(result.path) else f"{result.path}: {result.error}"
            print(f"not scored: {reason}", file=self.notes, flush=True)


@contextmanager
def stop_signals() -> Iterator[None]:
    """SIGINT and SIGTERM stop the watcher as Ctrl-C does (a :class:`KeyboardInterrupt` between two files' records),
    also where SIGINT was ignored (a background job of a script) or SIGTERM would end the process without the
    summary (``docker stop``, ``systemctl stop``); the previous handlers are restored on exit."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers belong to the main thread
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)


def watch(
    detector: Detector,
    root: str | os.PathLike[str],
    log: str | os.PathLike[str] | None = None,
    *,
    interval: float = 5.0,
    once: bool = False,
    machine_type: str | None = None,
    section: str | None = None,
    layout: str | None = None,
    domain: str | None = None,
    alarms: IO[str] | None = None,
    notes: IO[str] | None = None,
) -> WatchSummary:
    """Score the recordings of ``root`` as they appear until interrupted (or once with ``once``).

    Args:
        detector: a loaded detector.
        root: the watched folder (searched recursively).
        log: the JSON-lines log; default ``<root>/.soundsentry-watch.jsonl``.
        interval: seconds between polls.
        once: score the files present and return.
        machine_type, section, layout, domain: as for ``score-dir``.
        alarms, notes: where anomalies and unscored files are printed.

    Raises:
        KeyboardInterrupt: Ctrl-C, SIGINT or SIGTERM, after the summary is printed; every logged record is on disk.
    """
    notes = notes or sys.stderr
    if not interval > 0:
        raise ConfigError(f"--interval is the number of seconds between polls, e.g. 5; got {interval}")
    folder = watched_folder(root)  # checked before the log is created
    log_path = Path(log) if log is not None else folder / LOG_NAME
    with stop_signals(), WatchLog(log_path, notes=notes) as opened:
        watcher = Watcher(
            detector,
            root,
            opened,
            machine_type=machine_type,
            section=section,
            layout=layout,
            domain=domain,
            alarms=alarms,
            notes=notes,
        )
        if once:
            watcher.score_present()
            return watcher.summary
        print(f"watching {watcher.root} every {interval:g} s -> {opened.path} (Ctrl-C stops)", file=notes, flush=True)
        try:
            while True:
                watcher.poll()
                time.sleep(interval)
        except KeyboardInterrupt:
            print(watcher.summary.line(), file=notes, flush=True)
            raise
