"""Layout parsers on the real recordings in ../shared/data/real (skipped when that folder is absent)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from soundsentry.data.layouts import detect_layout, parse_dataset
from soundsentry.data.manifest import read_manifest, summarize, write_manifest
from soundsentry.types import Domain, Label, Split

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.skipif(not REAL.is_dir(), reason=f"real recordings not found at {REAL} (only on the dev machines)"),
]


def folder(name: str) -> Path:
    path = REAL / name
    if not path.is_dir():
        pytest.skip(f"{path} is missing")
    return path


def test_dcase2020_dev_id00() -> None:
    root = folder("dcase2020_dev_id00")
    assert detect_layout(root) == "dcase2020"
    result = parse_dataset(root)
    assert result.unknown == []
    counts = Counter((c.machine_type, c.section, c.split, c.label) for c in result.clips)
    assert counts == {
        ("unknown_machine", "00", Split.TRAIN, Label.NORMAL): 75,
        ("unknown_machine", "00", Split.TEST, Label.ANOMALY): 1,
    }


def test_dcase2020_toycar_pair() -> None:
    result = parse_dataset(folder("dcase2020_toycar_pair"))
    assert result.layout == "dcase2020" and result.unknown == []
    assert sorted((c.machine_type, c.section, c.split, c.label) for c in result.clips) == [
        ("ToyCar", "01", Split.TEST, Label.ANOMALY),
        ("ToyCar", "01", Split.TEST, Label.NORMAL),
    ]


def test_dcase2023_dev_sample(tmp_path: Path) -> None:
    result = parse_dataset(folder("dcase2023_dev_sample"))
    assert result.layout == "dcase2022" and result.unknown == [] and len(result.clips) == 28
    per_type = Counter((c.machine_type, c.split) for c in result.clips)
    types = {t for t, _ in per_type}
    assert types == {"ToyCar", "ToyTrain", "bearing", "fan", "gearbox", "slider", "valve"}
    assert all(per_type[(t, s)] == 2 for t in types for s in (Split.TRAIN, Split.TEST))
    assert all(c.section == "00" and c.domain in (Domain.SOURCE, Domain.TARGET) for c in result.clips)
    assert all(c.attributes and "raw" not in c.attributes for c in result.clips)
    by_name = {c.name: c for c in result.clips}
    assert by_name["section_00_source_test_anomaly_0022_m-n_W.wav"].attributes == {"m-n": "W"}
    assert by_name["section_00_target_test_normal_0013_vel_620_ac_0.08.wav"].attributes == {"vel": "620", "ac": "0.08"}
    path = write_manifest(result.clips, tmp_path / "manifest.jsonl")
    assert read_manifest(path) == result.clips


def test_sensiml_fan_with_labels_csv() -> None:
    root = folder("sensiml_fan")
    result = parse_dataset(
        root,
        "folder",
        labels_csv="dataset/*.csv",
        normal_labels=["ON", "FAN"],
        anomaly_labels=["BLADE FAULT", "TAPPING"],
    )
    counts = Counter((c.split, c.label) for c in result.clips)
    assert counts == {
        (Split.TRAIN, Label.NORMAL): 55,
        (Split.TRAIN, Label.ANOMALY): 30,
        (Split.TEST, Label.NORMAL): 9,
        (Split.TEST, Label.ANOMALY): 6,
    }
    assert {c.machine_type for c in result.clips} == {"sensiml_fan"}
    assert len(result.unknown) == 48  # the OFF clips: neither normal nor anomalous, reported
    assert any("48 clips labelled 'OFF'" in note for note in result.notes)
    assert "warning: 48 audio files" in summarize(result.clips, result.unknown)
