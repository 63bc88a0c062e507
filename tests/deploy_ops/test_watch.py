"""``soundsentry watch``: each file scored once, restart-safe through the log, torn lines, stability, Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from soundsentry.cli import main
from soundsentry.data.audio import write_audio
from soundsentry.deploy import Detector
from soundsentry.deploy import watch as watch_module
from soundsentry.deploy.watch import Watcher, WatchLog
from soundsentry.errors import DataError

FIELDS = {"path", "time", "machine_type", "section", "score", "threshold", "decision", "reason", "quality"}


def _records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def _files(folder: Path) -> list[str]:
    return sorted(str(p.absolute()) for p in folder.rglob("*.wav"))


def _watch(detector_dir: Path, folder: Path, log: Path, *extra: str) -> int:
    return main(["watch", str(detector_dir), str(folder), "--log", str(log), "--once", *extra])


def test_once_scores_each_file_once_and_a_rerun_scores_only_new_files(
    detector_dir: Path, detector: Detector, recordings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "logs" / "results.jsonl"
    assert _watch(detector_dir, recordings, log, "--machine-type", "fan", "--section", "0") == 0
    out = capsys.readouterr()
    records = _records(log)
    assert [r["path"] for r in records] == _files(recordings)  # sub-folders too, each once, in order of name
    assert all(set(r) == FIELDS for r in records)
    for record in records:
        expected = detector.score_file(record["path"], "fan", "00")
        assert (record["machine_type"], record["section"], record["decision"]) == ("fan", "00", expected.decision)
        assert record["score"] == pytest.approx(expected.score, rel=1e-6)
    anomalies = [r["path"] for r in records if r["decision"] == "anomaly"]
    alarms = out.out.splitlines()
    assert anomalies and len(alarms) == len(anomalies)
    assert all(line.startswith("ALARM ") and path in line for line, path in zip(alarms, anomalies, strict=True))
    assert f"-> {log}" in out.err

    before = log.read_bytes()
    assert _watch(detector_dir, recordings, log, "--machine-type", "fan") == 0
    assert log.read_bytes() == before  # nothing new: nothing scored
    capsys.readouterr()

    new = recordings / "later" / "deeper" / "new.wav"
    new.parent.mkdir()
    shutil.copy(sorted(recordings.glob("*.wav"))[0], new)
    assert _watch(detector_dir, recordings, log, "--machine-type", "fan") == 0
    assert log.read_bytes().startswith(before)
    assert [r["path"] for r in _records(log)[len(records) :]] == [str(new)]
    assert "scored 1 of 1 new files" in capsys.readouterr().err


def test_layout_mode_names_machine_and_section_and_reports_unknown_names(
    detector_dir: Path, ops_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site"
    shutil.copytree(ops_data / "fan" / "test", site / "fan" / "test")
    shutil.copy(sorted((site / "fan" / "test").glob("*.wav"))[0], site / "fan" / "test" / "mystery.wav")
    log = tmp_path / "log.jsonl"
    assert _watch(detector_dir, site, log) == 0
    by_name = {Path(r["path"]).name: r for r in _records(log)}
    assert len(by_name) == len(_files(site))
    assert by_name["mystery.wav"]["decision"] == "error"
    assert "matches no known layout" in by_name["mystery.wav"]["reason"]
    for name, record in by_name.items():
        if name != "mystery.wav":
            assert (record["machine_type"], record["section"]) == ("fan", name[len("section_") :][:2])
            assert record["decision"] in ("normal", "anomaly")
    assert "not scored: " in capsys.readouterr().err


def test_a_half_written_last_line_is_cut_off_and_its_file_scored_again(
    detector_dir: Path, recordings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "results.jsonl"
    assert _watch(detector_dir, recordings, log, "--machine-type", "fan") == 0
    lines = log.read_bytes().splitlines(keepends=True)
    torn = b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2]  # a crash in the middle of the last record
    log.write_bytes(torn)
    capsys.readouterr()
    assert _watch(detector_dir, recordings, log, "--machine-type", "fan") == 0
    assert "cut off a half-written last line" in capsys.readouterr().err
    records = _records(log)  # every line parses again
    assert [r["path"] for r in records] == _files(recordings)
    assert records[-1]["path"] == json.loads(lines[-1])["path"]

    # a whole record that only lacks its newline is kept, not scored again
    log.write_bytes(log.read_bytes().rstrip(b"\n"))
    assert _watch(detector_dir, recordings, log, "--machine-type", "fan") == 0
    assert [r["path"] for r in _records(log)] == _files(recordings)


def test_a_file_still_being_written_waits_until_its_size_is_stable(
    detector: Detector, ops_data: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    data = sorted((ops_data / "fan" / "test").glob("*.wav"))[0].read_bytes()
    clip = folder / "growing.wav"
    with WatchLog(tmp_path / "log.jsonl") as log:
        watcher = Watcher(detector, folder, log, machine_type="fan")
        assert watcher.poll() == []  # empty folder
        clip.write_bytes(data[: len(data) // 2])
        assert watcher.poll() == []  # first seen
        with open(clip, "ab") as f:
            f.write(data[len(data) // 2 :])
        assert watcher.poll() == []  # grew since the last poll
        (result,) = watcher.poll()  # unchanged for two polls
        assert result.path == str(clip) and result.decision in ("normal", "anomaly")
        assert watcher.poll() == []  # once only
    assert [r["path"] for r in _records(tmp_path / "log.jsonl")] == [str(clip)]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_prints_interrupted_exits_130_and_keeps_every_scored_file(
    detector_dir: Path, recordings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, stop: int
) -> None:
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # during the second pause the user presses Ctrl-C (or systemd stops it)
        sleeps.append(seconds)
        if len(sleeps) == 2:
            os.kill(os.getpid(), stop)
        if len(sleeps) > 2:
            raise RuntimeError("the watcher did not stop")

    monkeypatch.setattr(watch_module.time, "sleep", sleep)
    log = tmp_path / "results.jsonl"
    args = ["watch", str(detector_dir), str(recordings), "--log", str(log), "--machine-type", "fan", "--interval", "7"]
    ignored = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a background job of a shell script
    try:
        assert main(args) == 130
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # the caller's handler is back
    finally:
        signal.signal(signal.SIGINT, ignored)
    err = capsys.readouterr().err
    assert err.rstrip().endswith("soundsentry watch: interrupted")
    assert f"scored {len(_files(recordings))} of {len(_files(recordings))} new files" in err
    assert sleeps == [7.0, 7.0]
    assert [r["path"] for r in _records(log)] == _files(recordings)


def test_default_log_lives_in_the_watched_folder_and_is_not_scored(
    detector_dir: Path, recordings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["watch", str(detector_dir), str(recordings), "--once", "--machine-type", "fan"]) == 0
    log = recordings / watch_module.LOG_NAME
    assert [r["path"] for r in _records(log)] == _files(recordings)


def test_unjudgeable_clips_are_logged_as_errors_never_alarms(
    detector_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "incoming"
    write_audio(folder / "dead_microphone.wav", np.zeros(16000, dtype=np.float32), 16000)
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    (folder / "phone.m4a").write_bytes(b"\x00\x00\x00\x18ftypM4A ")
    (folder / "notes.txt").write_text("not a recording")
    log = tmp_path / "log.jsonl"
    assert _watch(detector_dir, folder, log, "--machine-type", "fan") == 0
    out = capsys.readouterr()
    records = {Path(r["path"]).name: r for r in _records(log)}
    assert {r["decision"] for r in records.values()} == {"error"}
    assert set(records) == {"dead_microphone.wav", "broken.wav", "phone.m4a"}
    assert records["dead_microphone.wav"]["quality"] == "silent"
    assert records["phone.m4a"]["quality"] == "undecodable"
    assert all(r["score"] is None and r["reason"] for r in records.values())
    assert out.out == ""
    assert out.err.count("not scored: ") == 3


@pytest.mark.parametrize(
    ("extra", "log_text", "match"),
    [
        (["--interval", "0"], None, "--interval is the number of seconds"),
        ([], "path,anomaly_score\nx.wav,1.0\n", "line 1 is not a watch record"),
        (["--domain", "target"], "[1, 2]\n", "line 1 is not a watch record"),
        ([], '{"path": "a.wav"}\nRIFF....WAVE', "line 2 is not a watch record"),  # not a torn record: untouched
    ],
)
def test_mistakes_are_one_line_and_exit_2(
    detector_dir: Path,
    recordings: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    log_text: str | None,
    match: str,
) -> None:
    log = tmp_path / "results.csv"
    if log_text is not None:
        log.write_text(log_text)
    args = ["watch", str(detector_dir), str(recordings), "--log", str(log), "--machine-type", "fan", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1
    assert log.read_text() == log_text if log_text is not None else not log.exists()


def test_missing_folder_is_one_line(detector_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", str(detector_dir), str(tmp_path / "nowhere"), "--log", str(tmp_path / "l"), "--once"]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert not (tmp_path / "l").exists() and not (tmp_path / "nowhere").exists()


def test_a_second_watcher_on_the_same_log_is_refused(tmp_path: Path) -> None:
    with (
        WatchLog(tmp_path / "log.jsonl"),
        pytest.raises(DataError, match="another `soundsentry watch` is writing this log"),
    ):
        WatchLog(tmp_path / "log.jsonl")
    WatchLog(tmp_path / "log.jsonl").close()  # free again once the first one closed
