"""Manifest files: round trips, validation errors that name the line, and the summary table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soundsentry.data.manifest import read_manifest, summarize, write_manifest
from soundsentry.errors import DataError
from soundsentry.types import Clip, Domain, Label, Split


def make_clips(root: Path) -> list[Clip]:
    return [
        Clip(str(root / "fan/train/a.wav"), "fan", "00", attributes={"m-n": "X", "note": 'a, "quoted" é'}),
        Clip(str(root / "fan/train/b.wav"), "fan", "00", Domain.TARGET, dataset="dcase2022"),
        Clip(str(root / "fan/test/c.wav"), "fan", "00", Domain.SOURCE, Split.TEST, Label.ANOMALY),
        Clip(str(root / "fan/test/d.wav"), "fan", "01", Domain.TARGET, Split.TEST, Label.NORMAL),
        Clip(str(root / "valve/test/e.wav"), "valve", "00", Domain.UNKNOWN, Split.TEST, Label.UNKNOWN),
    ]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    clips = make_clips(tmp_path)
    path = write_manifest(clips, tmp_path / "out" / f"manifest{suffix}")
    assert read_manifest(path) == clips
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    write_manifest(clips[:2], path)  # overwrite in place
    assert read_manifest(path) == clips[:2]


def test_jsonl_holds_enum_values(tmp_path: Path) -> None:
    path = write_manifest(make_clips(tmp_path)[2:3], tmp_path / "m.jsonl")
    record = json.loads(path.read_text())
    assert record["split"] == "test" and record["label"] == "anomaly" and record["domain"] == "source"
    assert record["section"] == "00" and record["attributes"] == {}


def test_csv_holds_attributes_as_json(tmp_path: Path) -> None:
    path = write_manifest(make_clips(tmp_path)[:1], tmp_path / "m.csv")
    header, row = path.read_text(encoding="utf-8").splitlines()
    assert header == "path,machine_type,section,domain,split,label,attributes,dataset"
    assert '"{""m-n"": ""X""' in row


def test_relative_paths_are_read_relative_to_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("path,machine_type,section,split,label\nclips/a.wav,pump,03,train,normal\n")
    (clip,) = read_manifest(tmp_path / "m.csv")
    assert clip.path == str(tmp_path / "clips/a.wav")
    assert (clip.domain, clip.attributes, clip.section) == (Domain.SOURCE, {}, "03")


GOOD = {"path": "/a.wav", "machine_type": "fan", "section": "00", "split": "train", "label": "normal"}


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ({**GOOD, "colour": "red"}, r"line 2: unknown fields \['colour'\]"),
        ({k: v for k, v in GOOD.items() if k != "label"}, "line 2: missing label"),
        ({**GOOD, "split": "dev"}, "line 2: split is 'dev'; expected one of train, test"),
        ({**GOOD, "domain": "both"}, "line 2: domain is 'both'; expected one of source, target, unknown"),
        ({**GOOD, "section": "0"}, "line 2: section is '0'; expected two digits"),
        ({**GOOD, "section": 0}, "line 2: section must be a string"),
        ({**GOOD, "attributes": {"a": 1}}, "line 2: attributes must map names to string values"),
        ([1, 2], "line 2: expected a JSON object"),
        ({**GOOD, "path": "/b.wav"}, None),
    ],
)
def test_bad_jsonl_rows_name_the_file_and_line(tmp_path: Path, line: object, match: str | None) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(line) + "\n\n")
    if match is None:
        assert len(read_manifest(path)) == 2
        return
    with pytest.raises(DataError, match=f"m.jsonl, {match}"):
        read_manifest(path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("path,machine_type,section,split,label,colour\n", r"line 1: unknown columns \['colour'\]"),
        ("path,machine_type,section,split,label\n/a.wav,fan,00,train,normal\n/a.wav,fan,00,test,normal\n", "line 3:"),
        ("path,machine_type,section,split,label,attributes\n/a.wav,fan,00,train,normal,{x}\n", "line 2: attributes"),
        ("path,machine_type,section,split,label\n/a.wav,fan,00,train,normal,extra\n", "line 2: more values"),
        ("path,machine_type,section,split\n/a.wav,fan,00,train\n", "line 2: missing label"),
    ],
)
def test_bad_csv_rows_name_the_file_and_line(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=f"m.csv, {match}"):
        read_manifest(path)


def test_bad_json_line(tmp_path: Path) -> None:
    (tmp_path / "m.jsonl").write_text(json.dumps(GOOD) + "\n{oops\n")
    with pytest.raises(DataError, match="m.jsonl, line 2: not valid JSON"):
        read_manifest(tmp_path / "m.jsonl")


def test_missing_manifest_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist; run the prepare step"):
        read_manifest(tmp_path / "none.jsonl")
    with pytest.raises(DataError, match=r"unknown manifest format '\.txt'; use \.jsonl or \.csv"):
        write_manifest([], tmp_path / "m.txt")
    assert not (tmp_path / "m.txt").exists()


def test_summary_counts(tmp_path: Path) -> None:
    text = summarize(make_clips(tmp_path))
    lines = text.splitlines()
    assert lines[0].split() == [
        "machine_type",
        "section",
        "train-source-normal",
        "train-target-normal",
        "test-source-anomaly",
        "test-target-normal",
        "test-unknown-unknown",
        "total",
    ]
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in lines if not line.startswith(("-", "machine"))}
    assert rows[("fan", "00")] == ["1", "1", "1", "0", "0", "3"]
    assert rows[("fan", "01")] == ["0", "0", "0", "1", "0", "1"]
    assert rows[("valve", "00")] == ["0", "0", "0", "0", "1", "1"]
    assert lines[-1].split() == ["total", "1", "1", "1", "1", "1", "5"]
    assert "warning" not in text


def test_summary_warns_about_unknown_files_and_prints_notes(tmp_path: Path) -> None:
    text = summarize(make_clips(tmp_path), unknown=["/data/x.wav", "/data/y.wav"], notes=["3 clips labelled 'OFF'"])
    assert "warning: 2 audio files were not recognised and are not in the manifest, e.g. /data/x.wav" in text
    assert text.splitlines()[-1] == "note: 3 clips labelled 'OFF'"


def test_summary_of_nothing(tmp_path: Path) -> None:
    assert summarize([]).splitlines()[-1].split() == ["total", "0"]
