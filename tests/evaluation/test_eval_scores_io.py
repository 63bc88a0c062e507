"""Scores files and official DCASE result CSVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from soundsentry.errors import ConfigError, DataError
from soundsentry.evaluation import align_scores, read_official_scores, read_scores, write_official_csvs, write_scores
from soundsentry.types import Clip, Domain, Label, Split


def _clip(name: str, mt: str = "fan", sec: str = "00", dom: Domain = Domain.SOURCE, split: Split = Split.TEST) -> Clip:
    return Clip(f"/data/{mt}/{split.value}/{name}", mt, sec, dom, split, Label.NORMAL, dataset="dcase2022")


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_scores_round_trip(tmp_path: Path) -> None:
    clips = [_clip("b.wav"), _clip("a,odd name.wav")]
    scores = np.array([0.1 + 0.2, -3.5e-7])
    path = write_scores(tmp_path / "out" / "scores.csv", clips, scores)
    assert path.read_text().splitlines()[0] == "path,anomaly_score"
    by_path = read_scores(path)
    assert by_path == {clips[0].path: scores[0], clips[1].path: scores[1]}  # exact: repr round-trips floats
    assert align_scores(clips[::-1], by_path).tolist() == scores[::-1].tolist()
    assert _listing(tmp_path / "out") == ["scores.csv"]  # no temporary file left behind


def test_align_scores_lists_a_few_missing_clips() -> None:
    clips = [_clip(f"{i}.wav") for i in range(8)]
    with pytest.raises(DataError, match=r"7 of 8 clips have no score .*/1\.wav, .*/5\.wav and 2 more"):
        align_scores(clips, {clips[0].path: 1.0})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("file,score\n", "expected header 'path,anomaly_score'"),
        ("path,anomaly_score\n/a.wav\n", r"scores\.csv:2: expected 2 fields"),
        ("path,anomaly_score\n/a.wav,1\n/b.wav,high\n", r"scores\.csv:3: anomaly score 'high' is not a number"),
        ("path,anomaly_score\n/a.wav,nan\n", r"scores\.csv:2: .* must be finite"),
        ("path,anomaly_score\n/a.wav,1\n/a.wav,2\n", r"scores\.csv:3: /a\.wav is listed twice"),
    ],
)
def test_read_scores_bad_rows(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "scores.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=match):
        read_scores(path)


def test_read_scores_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="scores file not found"):
        read_scores(tmp_path / "nope.csv")


def test_write_scores_rejects_nan(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="non-finite"):
        write_scores(tmp_path / "s.csv", [_clip("a.wav")], [np.nan])


def test_official_csvs_2022_names_and_contents(tmp_path: Path) -> None:
    clips = [
        _clip("section_00_target_test_normal_0001.wav", dom=Domain.TARGET),
        _clip("section_00_source_test_anomaly_0001.wav"),
        _clip("section_01_source_test_normal_0001.wav", sec="01"),
        _clip("section_00_source_train_normal_0001.wav", split=Split.TRAIN),  # train clips are not written
    ]
    written = write_official_csvs(clips, [0.25, 2.0, 1.5, 9.0], tmp_path, thresholds={"fan": 1.0})
    assert [p.name for p in written] == [
        "anomaly_score_fan_section_00_test.csv",
        "anomaly_score_fan_section_01_test.csv",
        "decision_result_fan_section_00_test.csv",
        "decision_result_fan_section_01_test.csv",
    ]
    assert _listing(tmp_path) == [p.name for p in written]
    # No header, rows sorted by file name, decision = score > threshold.
    assert (tmp_path / "anomaly_score_fan_section_00_test.csv").read_text() == (
        "section_00_source_test_anomaly_0001.wav,2.0\nsection_00_target_test_normal_0001.wav,0.25\n"
    )
    assert (tmp_path / "decision_result_fan_section_00_test.csv").read_text() == (
        "section_00_source_test_anomaly_0001.wav,1\nsection_00_target_test_normal_0001.wav,0\n"
    )
    assert (tmp_path / "decision_result_fan_section_01_test.csv").read_text().endswith(",1\n")
    # Reading the folder back aligns by (machine type, section, file name).
    test_clips = clips[:3]
    assert read_official_scores(tmp_path, test_clips).tolist() == [0.25, 2.0, 1.5]


def test_official_csvs_2021_are_per_domain(tmp_path: Path) -> None:
    clips = [
        _clip("section_00_source_test_normal_0000.wav"),
        _clip("section_00_target_test_normal_0000.wav", dom=Domain.TARGET),
    ]
    written = write_official_csvs(clips, [1.0, 2.0], tmp_path, thresholds=1.5, rule="2021")
    assert [p.name for p in written] == [
        "anomaly_score_fan_section_00_source_test.csv",
        "anomaly_score_fan_section_00_target_test.csv",
        "decision_result_fan_section_00_source_test.csv",
        "decision_result_fan_section_00_target_test.csv",
    ]
    assert read_official_scores(tmp_path, clips).tolist() == [1.0, 2.0]


def test_official_csvs_2020_names_without_thresholds(tmp_path: Path) -> None:
    clips = [_clip("normal_id_02_00000000.wav", sec="02"), _clip("anomaly_id_04_00000000.wav", mt="pump", sec="04")]
    written = write_official_csvs(clips, [0.5, 3.0], tmp_path, rule="2020")
    assert [p.name for p in written] == ["anomaly_score_fan_id_02.csv", "anomaly_score_pump_id_04.csv"]
    assert (tmp_path / "anomaly_score_pump_id_04.csv").read_text() == "anomaly_id_04_00000000.wav,3.0\n"
    assert read_official_scores(tmp_path, clips).tolist() == [0.5, 3.0]


def test_official_csvs_errors(tmp_path: Path) -> None:
    clips = [_clip("a.wav"), _clip("b.wav", mt="pump")]
    with pytest.raises(ConfigError, match="no decision threshold for pump section 00"):
        write_official_csvs(clips, [1.0, 2.0], tmp_path, thresholds={"fan": 1.0})
    with pytest.raises(DataError, match="2021 result files are per domain"):
        write_official_csvs([_clip("c.wav", dom=Domain.UNKNOWN)], [1.0], tmp_path, rule="2021")
    with pytest.raises(DataError, match="none of the 1 clips is a test clip"):
        write_official_csvs([_clip("d.wav", split=Split.TRAIN)], [1.0], tmp_path)


def test_read_official_scores_errors(tmp_path: Path) -> None:
    clip = _clip("a.wav")
    with pytest.raises(DataError, match="no anomaly_score_"):
        read_official_scores(tmp_path, [clip])
    (tmp_path / "anomaly_score_fan_section_00_test.csv").write_text("b.wav,1.0\n")
    with pytest.raises(DataError, match=r"1 of 1 clips have no score .*/a\.wav"):
        read_official_scores(tmp_path, [clip])
    (tmp_path / "anomaly_score_fan_section_00_test.csv").write_text("filename,score\n")
    with pytest.raises(DataError, match=r"_test\.csv:1: score 'score' is not a number"):
        read_official_scores(tmp_path, [clip])
    (tmp_path / "anomaly_score_fan_section_00_test.csv").unlink()
    (tmp_path / "anomaly_score_weird.csv").write_text("a.wav,1.0\n")
    with pytest.raises(DataError, match="expected a name like"):
        read_official_scores(tmp_path, [clip])
