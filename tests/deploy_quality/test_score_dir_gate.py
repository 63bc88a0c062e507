"""score-dir with the input-quality gate: the bad-input corpus through the CLI, every format, -o checks, resume."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from quality_corpus import CASES, RATE, Case, encode, noise

from soundsentry.cli import main
from soundsentry.deploy import Detector, score_dir
from soundsentry.deploy.detector import RESULT_COLUMNS
from soundsentry.errors import AudioError, DataError


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return {Path(row["path"]).name: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def corpus_run(
    quality_bundle: Path, quality_detector: Detector, good_clips: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, dict[str, str]], str, int]:
    """One ``soundsentry score-dir`` over a folder of every corpus case, good clips in four formats and an .m4a."""
    folder = tmp_path_factory.mktemp("corpus") / "recordings"
    folder.mkdir()
    min_samples = round(quality_detector.min_seconds * RATE)
    for case in CASES:
        (folder / case.name).write_bytes(case.make(min_samples))
    for i, clip in enumerate(good_clips):
        shutil.copy(clip, folder / f"good{i}.wav")
    (folder / "good.flac").write_bytes(encode(noise(0.5), "FLAC"))
    (folder / "good.ogg").write_bytes(encode(noise(0.5), "OGG"))
    (folder / "good.mp3").write_bytes(encode(noise(0.5), "MP3"))
    (folder / "phone.m4a").write_bytes(b"\x00\x00\x00\x18ftypM4A not decodable here")
    (folder / "notes.txt").write_text("not a recording\n")
    out = folder.parent / "results.csv"
    pytest_capture = _Capture()
    with pytest_capture:
        status = main(["score-dir", str(quality_bundle), str(folder), "-o", str(out), "--machine-type", "fan"])
    return _rows(out), pytest_capture.text, status


class _Capture:
    """stdout + stderr of a block (capsys is function-scoped; the corpus run is shared by the module)."""

    def __enter__(self) -> _Capture:
        import contextlib
        import io

        self._buffer = io.StringIO()
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(contextlib.redirect_stdout(self._buffer))
        self._stack.enter_context(contextlib.redirect_stderr(self._buffer))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        self.text = self._buffer.getvalue()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_score_dir_gives_each_bad_recording_an_error_row(corpus_run, case: Case) -> None:
    rows, output, status = corpus_run
    assert status == 0 and "Traceback" not in output
    row = rows[case.name]
    assert row["decision"] == "error" and row["quality"] == case.problem, row
    assert row["anomaly_score"] == "" and row["error"] and "\n" not in row["error"]


def test_score_dir_scores_good_clips_of_every_decodable_format(corpus_run) -> None:
    rows, output, _ = corpus_run
    for name in ("good0.wav", "good1.wav", "good2.wav", "good.flac", "good.ogg", "good.mp3"):
        assert rows[name]["decision"] in ("normal", "anomaly") and rows[name]["quality"] == "ok", rows[name]
        assert float(rows[name]["anomaly_score"]) == float(rows[name]["anomaly_score"])  # a number, not NaN
    assert "notes.txt" not in rows  # not a recording
    skipped = rows["phone.m4a"]
    assert skipped["decision"] == "error" and skipped["quality"] == "undecodable" and "'.m4a'" in skipped["error"]
    assert "skipped" in output and "phone.m4a" in output
    assert len(rows) == len(CASES) + 7


def test_detector_json_states_the_minimum_and_old_bundles_compute_it(quality_bundle: Path, tmp_path: Path) -> None:
    meta = json.loads((quality_bundle / "detector.json").read_text())
    assert meta["min_seconds"] == pytest.approx(31 * 64 / RATE)  # 32 frames of a centred 126-point STFT, hop 64
    old = shutil.copytree(quality_bundle, tmp_path / "old")
    del meta["min_seconds"]
    (old / "detector.json").write_text(json.dumps(meta))
    detector = Detector(old)
    assert detector.min_seconds == pytest.approx(31 * 64 / RATE) and detector.min_sample_rate == RATE
    assert detector.info()["min_seconds"] == pytest.approx(31 * 64 / RATE)


def test_a_layout_folder_scores_ogg_and_mp3_by_their_names(
    quality_detector: Detector, tiny_data: Path, tmp_path: Path
) -> None:
    tree = shutil.copytree(tiny_data / "fan" / "test", tmp_path / "fan" / "test")
    wavs = sorted(tree.glob("section_00_*.wav"))[:2]
    for wav, fmt in zip(wavs, ("OGG", "MP3"), strict=True):
        import soundfile as sf

        samples, rate = sf.read(wav, dtype="float32")
        wav.with_suffix("." + fmt.lower()).write_bytes(encode(samples, fmt, rate=rate))
        wav.unlink()
    results, summary = score_dir(quality_detector, tmp_path / "fan", tmp_path / "r.csv", progress=False)
    by_name = {Path(r.path).name: r for r in results}
    for wav, ext in zip(wavs, (".ogg", ".mp3"), strict=True):
        result = by_name[wav.with_suffix(ext).name]
        assert (result.machine_type, result.section) == ("fan", "00")
        assert result.decision in ("normal", "anomaly") and result.quality == "ok", result
    assert summary.n_errors == 0 and summary.n_clips == len(list(tree.iterdir()))


def test_output_naming_a_folder_is_refused_before_scoring(
    quality_bundle: Path, quality_detector: Detector, good_clips: list[Path], tmp_path: Path, monkeypatch, capsys
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(Detector, "score_file", lambda self, path, *a, **k: calls.append(str(path)))
    folder = good_clips[0].parent
    code = main(["score-dir", str(quality_bundle), str(folder), "-o", str(tmp_path), "--machine-type", "fan"])
    err = capsys.readouterr().err
    assert code == 2 and calls == []
    assert err.count("\n") == 1 and str(tmp_path) in err and "results.csv" in err and "Traceback" not in err
    with pytest.raises(DataError, match="is a folder"):
        score_dir(quality_detector, folder, tmp_path, machine_type="fan", progress=False)
    assert calls == []


def _plain_folder(good_clips: list[Path], root: Path, n: int = 6) -> Path:
    folder = root / "plain"
    folder.mkdir()
    for i in range(n):
        shutil.copy(good_clips[i % len(good_clips)], folder / f"rec{i}.wav")
    return folder


def test_a_killed_batch_keeps_its_rows_and_the_same_command_resumes_it(
    quality_bundle: Path, quality_detector: Detector, good_clips: list[Path], tmp_path: Path, monkeypatch, capsys
) -> None:
    folder = _plain_folder(good_clips, tmp_path)
    out = tmp_path / "results.csv"
    command = ["score-dir", str(quality_bundle), str(folder), "-o", str(out), "--machine-type", "fan"]
    real = Detector.score_file
    calls: list[str] = []

    def killed_after_three(self, path, *args, **kwargs):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(Path(path).name)
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(Detector, "score_file", killed_after_three)
    assert main(command) == 130
    assert list(_rows(out)) == ["rec0.wav", "rec1.wav", "rec2.wav"]  # written as they were scored
    with open(out, "a", encoding="utf-8") as f:
        f.write(f"{folder / 'rec3.wav'},fan,00,0.12")  # the kill cut the next row short
    calls.clear()

    def counted(self, path, *args, **kwargs):
        calls.append(Path(path).name)
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(Detector, "score_file", counted)
    capsys.readouterr()
    assert main(command) == 0
    assert calls == ["rec3.wav", "rec4.wav", "rec5.wav"]
    assert "resumed: 3 clip(s)" in capsys.readouterr().err
    text = out.read_text(encoding="utf-8")
    assert text.endswith("\n") and text.count(",fan,00,0.12\n") == 0
    rows = list(csv.reader(text.splitlines()))
    assert tuple(rows[0]) == RESULT_COLUMNS and all(len(r) == len(RESULT_COLUMNS) for r in rows)
    assert [Path(r[0]).name for r in rows[1:]] == [f"rec{i}.wav" for i in range(6)]
    fresh, _ = score_dir(quality_detector, folder, tmp_path / "fresh.csv", machine_type="fan", progress=False)
    assert _rows(out) == _rows(tmp_path / "fresh.csv")  # the resumed file equals an uninterrupted run's
    calls.clear()
    assert main(command) == 0 and calls == []  # a finished batch: nothing left to score


def test_resume_refuses_a_file_that_is_not_a_results_csv(
    quality_bundle: Path, good_clips: list[Path], tmp_path: Path, capsys
) -> None:
    folder = _plain_folder(good_clips, tmp_path, n=1)
    out = tmp_path / "notes.csv"
    out.write_text("name,value\na,1\n")
    assert main(["score-dir", str(quality_bundle), str(folder), "-o", str(out), "--machine-type", "fan"]) == 2
    err = capsys.readouterr().err
    assert "not a score-dir results file" in err and err.count("\n") == 1
    assert out.read_text() == "name,value\na,1\n"


def test_score_waveform_refuses_a_waveform_shorter_than_the_minimum(quality_detector: Detector) -> None:
    n = round(quality_detector.min_seconds * RATE)
    for length in (1, n - 1):
        with pytest.raises(AudioError, match="fewer than this detector's minimum"):
            quality_detector.score_waveform(noise(1.0)[:length], "fan", "00", name="w")
    assert quality_detector.score_waveform(noise(1.0)[:n], "fan", "00").decision in ("normal", "anomaly")


@pytest.mark.slow
def test_a_sigkilled_score_dir_process_resumes_to_the_uninterrupted_result(
    quality_bundle: Path, quality_detector: Detector, good_clips: list[Path], tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys
    import time

    folder = _plain_folder(good_clips, tmp_path, n=150)
    out = tmp_path / "results.csv"
    args = ["score-dir", str(quality_bundle), str(folder), "-o", str(out), "--machine-type", "fan"]
    process = subprocess.Popen([sys.executable, "-m", "soundsentry.cli", *args], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        if out.is_file() and out.read_text(encoding="utf-8").count("\n") >= 4:  # header + 3 rows on disk
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait(timeout=60)
    killed = process.returncode == -signal.SIGKILL
    kept = len(_rows(out))
    assert kept >= 3 and (not killed or kept < 150)
    assert main(args) == 0
    score_dir(quality_detector, folder, tmp_path / "fresh.csv", machine_type="fan", progress=False)
    assert _rows(out) == _rows(tmp_path / "fresh.csv")
