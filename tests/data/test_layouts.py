"""Layout parsers on tiny generated trees: parsing, detection, overrides and error messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from soundsentry.data.layouts import detect_layout, parse_attribute_string, parse_dataset
from soundsentry.errors import ConfigError, LayoutError
from soundsentry.registry import LAYOUTS
from soundsentry.types import Clip, Domain, Label, Split


def touch(root: Path, *names: str) -> None:
    """Empty files: parsers go by file name and never decode audio."""
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def by_name(clips: list[Clip]) -> dict[str, Clip]:
    return {clip.name: clip for clip in clips}


@pytest.fixture
def dcase2020_tree(tmp_path: Path) -> Path:
    touch(
        tmp_path,
        "fan/train/normal_id_00_00000000.wav",
        "fan/train/normal_id_02_00000001.wav",
        "fan/test/normal_id_00_00000003.wav",
        "fan/test/anomaly_id_00_00000003.wav",
        "pump/test/id_01_00000000.wav",
    )
    return tmp_path


@pytest.fixture
def dcase2021_tree(tmp_path: Path) -> Path:
    touch(
        tmp_path,
        "gearbox/train/section_00_source_train_normal_0000_volt_1.0_wt_30.wav",
        "gearbox/train/section_01_target_train_normal_0001_strength_1_ambient.wav",
        "gearbox/source_test/section_00_source_test_anomaly_0000.wav",
        "gearbox/target_test/section_01_target_test_normal_0002_volt_1.5.wav",
        "gearbox/test/section_03_source_test_0000.wav",
    )
    return tmp_path


@pytest.fixture
def dcase2022_tree(tmp_path: Path) -> Path:
    touch(
        tmp_path,
        "ToyCar/train/section_00_source_train_normal_0000_car_A1_spd_28V_mic_1_noise_1.wav",
        "ToyCar/train/section_00_target_train_normal_0001_car_B2_spd_31V_mic_1_noise_1.wav",
        "ToyCar/test/section_00_target_test_anomaly_0012_car_A1_spd_28V_mic_1_noise_1.wav",
        "fan/train/section_01_source_train_normal_0000_m-n_X.wav",
        "fan/test/section_01_source_test_normal_0000_noAttributes.wav",
        "fan/test/section_02_0007.wav",
        "fan/README.md",
    )
    return tmp_path


@pytest.fixture
def mimii_tree(tmp_path: Path) -> Path:
    for level in ("-6_dB_fan", "6_dB_fan"):
        touch(tmp_path, *(f"{level}/fan/id_00/normal/{i:08d}.wav" for i in range(6)))
        touch(tmp_path, *(f"{level}/fan/id_00/abnormal/{i:08d}.wav" for i in range(2)))
    touch(tmp_path, *(f"0_dB_valve/valve/id_04/normal/{i:08d}.wav" for i in range(3)))
    return tmp_path


def test_every_layout_is_registered() -> None:
    assert {"dcase2020", "dcase2021", "dcase2022", "mimii", "folder"} <= set(LAYOUTS.available())


def test_dcase2020(dcase2020_tree: Path) -> None:
    assert detect_layout(dcase2020_tree) == "dcase2020"
    result = parse_dataset(dcase2020_tree)
    assert result.layout == "dcase2020" and result.unknown == []
    clips = by_name(result.clips)
    assert len(clips) == 5
    assert clips["normal_id_02_00000001.wav"] == Clip(
        path=str(dcase2020_tree / "fan/train/normal_id_02_00000001.wav"),
        machine_type="fan",
        section="02",
        domain=Domain.SOURCE,
        split=Split.TRAIN,
        label=Label.NORMAL,
        dataset="dcase2020",
    )
    assert clips["anomaly_id_00_00000003.wav"].label is Label.ANOMALY
    assert clips["anomaly_id_00_00000003.wav"].split is Split.TEST
    evaluation = clips["id_01_00000000.wav"]
    assert (evaluation.machine_type, evaluation.section, evaluation.label) == ("pump", "01", Label.UNKNOWN)


def test_dcase2021(dcase2021_tree: Path) -> None:
    assert detect_layout(dcase2021_tree) == "dcase2021"
    result = parse_dataset(dcase2021_tree)
    assert result.unknown == []
    clips = by_name(result.clips)
    source = clips["section_00_source_test_anomaly_0000.wav"]
    assert (source.split, source.domain, source.label, source.attributes) == (
        Split.TEST,
        Domain.SOURCE,
        Label.ANOMALY,
        {},
    )
    assert clips["section_01_target_test_normal_0002_volt_1.5.wav"].domain is Domain.TARGET
    assert clips["section_00_source_train_normal_0000_volt_1.0_wt_30.wav"].attributes == {"volt": "1.0", "wt": "30"}
    assert clips["section_01_target_train_normal_0001_strength_1_ambient.wav"].attributes == {
        "raw": "strength_1_ambient"
    }
    evaluation = clips["section_03_source_test_0000.wav"]
    assert (evaluation.section, evaluation.domain, evaluation.label) == ("03", Domain.SOURCE, Label.UNKNOWN)


def test_dcase2021_domain_folder_must_match_the_name(tmp_path: Path) -> None:
    touch(tmp_path, "fan/source_test/section_00_target_test_normal_0000.wav")
    with pytest.raises(LayoutError, match=r"layout 'dcase2021' recognises none of the audio files .*source_test"):
        parse_dataset(tmp_path, "dcase2021")


def test_dcase2022(dcase2022_tree: Path) -> None:
    assert detect_layout(dcase2022_tree) == "dcase2022"
    result = parse_dataset(dcase2022_tree)
    assert result.layout == "dcase2022" and result.unknown == []
    clips = by_name(result.clips)
    assert len(clips) == 6
    first = clips["section_00_source_train_normal_0000_car_A1_spd_28V_mic_1_noise_1.wav"]
    assert first.attributes == {"car": "A1", "spd": "28V", "mic": "1", "noise": "1"}
    assert (first.machine_type, first.section, first.dataset) == ("ToyCar", "00", "dcase2022")
    assert Path(first.path).is_absolute() and Path(first.path).exists()
    assert clips["section_00_target_train_normal_0001_car_B2_spd_31V_mic_1_noise_1.wav"].domain is Domain.TARGET
    anomaly = clips["section_00_target_test_anomaly_0012_car_A1_spd_28V_mic_1_noise_1.wav"]
    assert (anomaly.split, anomaly.domain, anomaly.label) == (Split.TEST, Domain.TARGET, Label.ANOMALY)
    assert clips["section_01_source_train_normal_0000_m-n_X.wav"].attributes == {"m-n": "X"}
    assert clips["section_01_source_test_normal_0000_noAttributes.wav"].attributes == {}
    evaluation = clips["section_02_0007.wav"]
    assert (evaluation.section, evaluation.domain, evaluation.split, evaluation.label) == (
        "02",
        Domain.UNKNOWN,
        Split.TEST,
        Label.UNKNOWN,
    )


def test_dcase2022_attribute_csv_is_merged_by_file_name(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "bearing/train/section_00_source_train_normal_0000_noAttributes.wav",
        "bearing/test/section_00_source_test_anomaly_0001_noAttributes.wav",
        "bearing/test/section_00_0002.wav",
    )
    (tmp_path / "bearing/attributes_00.csv").write_text(
        "file_name,d1p,d1v,d2p,d2v\n"
        "bearing/train/section_00_source_train_normal_0000_noAttributes.wav,vel,8,loc,A\n"
        "bearing/test/section_00_source_test_anomaly_0001_noAttributes.wav,noAttributes,,,\n"
    )
    (tmp_path / "bearing/attributes_01.csv").write_text("file_name,speed\nbearing/test/section_00_0002.wav,12\n")
    clips = by_name(parse_dataset(tmp_path).clips)
    assert clips["section_00_source_train_normal_0000_noAttributes.wav"].attributes == {"vel": "8", "loc": "A"}
    assert clips["section_00_source_test_anomaly_0001_noAttributes.wav"].attributes == {}
    assert clips["section_00_0002.wav"].attributes == {"speed": "12"}


def test_attribute_csv_without_file_name_is_noted(tmp_path: Path) -> None:
    touch(tmp_path, "fan/train/section_00_source_train_normal_0000_m-n_X.wav")
    (tmp_path / "fan/attributes_00.csv").write_text("name,value\na,b\n")
    result = parse_dataset(tmp_path)
    assert result.clips[0].attributes == {"m-n": "X"}
    assert any("no 'file_name' column" in note for note in result.notes)


def test_a_tree_valid_in_2021_and_2022_is_detected_as_2022_and_can_be_overridden(dcase2022_tree: Path) -> None:
    assert LAYOUTS.create("dcase2021").detect(dcase2022_tree) < 1.0  # section_02_0007.wav is a 2022-only name
    (dcase2022_tree / "fan/test/section_02_0007.wav").unlink()
    assert LAYOUTS.create("dcase2021").detect(dcase2022_tree) == LAYOUTS.create("dcase2022").detect(dcase2022_tree)
    result = parse_dataset(dcase2022_tree, layout="dcase2021")
    assert result.layout == "dcase2021"
    assert {clip.dataset for clip in result.clips} == {"dcase2021"}
    assert len(result.clips) == 5 and result.unknown == []
    assert detect_layout(dcase2022_tree) == "dcase2022"


def test_one_machine_type_folder_as_root(dcase2022_tree: Path) -> None:
    result = parse_dataset(dcase2022_tree / "ToyCar")
    assert result.layout == "dcase2022"
    assert {clip.machine_type for clip in result.clips} == {"ToyCar"} and len(result.clips) == 3


@pytest.mark.parametrize(
    ("tree", "split_folder", "layout", "n"),
    [
        ("dcase2020_tree", "fan/test", "dcase2020", 2),
        ("dcase2021_tree", "gearbox/source_test", "dcase2021", 1),
        ("dcase2022_tree", "fan/test", "dcase2022", 2),
    ],
)
def test_one_split_folder_as_root_takes_the_type_from_its_parent(
    tree: str, split_folder: str, layout: str, n: int, request: pytest.FixtureRequest
) -> None:
    root = request.getfixturevalue(tree) / split_folder
    result = parse_dataset(root)
    assert result.layout == layout and result.unknown == []
    assert {c.machine_type for c in result.clips} == {root.parent.name} and len(result.clips) == n
    assert {c.split for c in result.clips} == {Split.TEST}


def test_mimii_split_rule_and_snr_levels(mimii_tree: Path) -> None:
    assert detect_layout(mimii_tree) == "mimii"
    result = parse_dataset(mimii_tree)
    assert result.unknown == [] and len(result.clips) == 2 * 8 + 3
    fan = [c for c in result.clips if c.machine_type == "fan_-6dB"]
    assert {c.machine_type for c in result.clips} == {"fan_-6dB", "fan_6dB", "valve"}  # fan is in two SNR folders
    assert all(c.section == "00" and c.domain is Domain.SOURCE and c.attributes == {"snr_db": "-6"} for c in fan)
    test_normals = sorted(c.name for c in fan if c.split is Split.TEST and c.label is Label.NORMAL)
    assert test_normals == ["00000000.wav", "00000001.wav"]  # as many normals as anomalies, first by name
    assert all(c.split is Split.TEST for c in fan if c.label is Label.ANOMALY)
    assert sum(c.split is Split.TRAIN for c in fan) == 4
    valve = [c for c in result.clips if c.machine_type == "valve"]
    assert {(c.section, c.split, c.label) for c in valve} == {("04", Split.TRAIN, Label.NORMAL)}


def test_mimii_keeps_at_least_half_the_normals_for_training(tmp_path: Path) -> None:
    touch(tmp_path, *(f"pump/id_02/normal/{i:08d}.wav" for i in range(4)))
    touch(tmp_path, *(f"pump/id_02/abnormal/{i:08d}.wav" for i in range(9)))
    clips = parse_dataset(tmp_path, "mimii").clips
    assert sum(c.split is Split.TRAIN for c in clips) == 2
    assert {c.machine_type for c in clips} == {"pump"} and {c.attributes.get("snr_db") for c in clips} == {None}


def test_folder_plain(tmp_path: Path) -> None:
    root = tmp_path / "my_pump"
    touch(root, "a.wav", "b.FLAC", "compressor/c.wav", "compressor/deep/d.wav", "notes.txt")
    assert detect_layout(root) == "folder"
    result = parse_dataset(root)
    assert {(c.name, c.machine_type) for c in result.clips} == {
        ("a.wav", "my_pump"),
        ("b.FLAC", "my_pump"),
        ("c.wav", "compressor"),
    }
    assert all(
        (c.split, c.label, c.domain, c.section, c.dataset) == (Split.TRAIN, Label.NORMAL, Domain.SOURCE, "00", "folder")
        for c in result.clips
    )
    assert result.unknown == [str(root / "compressor/deep/d.wav")]


def test_folder_plain_with_real_audio(tmp_path: Path) -> None:
    from soundsentry.data.audio import write_audio

    write_audio(tmp_path / "fan" / "x.wav", np.zeros(1600, dtype=np.float32), 16000)
    result = parse_dataset(tmp_path, machine_type="ignored_for_subfolders", layout="folder")
    assert [(c.machine_type, c.name) for c in result.clips] == [("fan", "x.wav")]


@pytest.fixture
def labelled_tree(tmp_path: Path) -> Path:
    root = tmp_path / "labelled"
    touch(root, "data/train/on_1.wav", "data/train/off_1.wav", "data/train/hit_1.wav", "data/test/on_2.wav")
    touch(root, "data/test/hit_2.wav", "data/stray.wav")
    (root / "data/train.csv").write_text(
        "filename,label\ndata/train/on_1.wav,ON\ndata/train/off_1.wav,OFF\ndata/train/hit_1.wav,HIT\n"
    )
    (root / "data/test.csv").write_text("filename,label\ntest/on_2.wav,ON\ntest/hit_2.wav,HIT\ntest/gone.wav,ON\n")
    return root


def test_folder_with_labels_csv(labelled_tree: Path) -> None:
    result = parse_dataset(labelled_tree, "folder", labels_csv="data/*.csv", normal_labels="ON", anomaly_labels=["HIT"])
    got = {(c.name, c.split, c.label, c.attributes["label"]) for c in result.clips}
    assert got == {
        ("on_1.wav", Split.TRAIN, Label.NORMAL, "ON"),
        ("hit_1.wav", Split.TRAIN, Label.ANOMALY, "HIT"),
        ("on_2.wav", Split.TEST, Label.NORMAL, "ON"),
        ("hit_2.wav", Split.TEST, Label.ANOMALY, "HIT"),
    }
    assert {c.machine_type for c in result.clips} == {"labelled"}
    assert sorted(Path(p).name for p in result.unknown) == ["off_1.wav", "stray.wav"]
    notes = "\n".join(result.notes)
    assert "1 clips labelled 'OFF'" in notes
    assert "1 rows name files that do not exist" in notes and "gone.wav" in notes
    assert "1 audio files are in no labels CSV" in notes
    assert "1 anomalous clips are in the train split" in notes


def test_folder_labels_csv_split_column_and_root_inside(labelled_tree: Path) -> None:
    (labelled_tree / "data/all.csv").write_text("file,state,split\ntrain/on_1.wav,ON,train\ntest/on_2.wav,ON,test\n")
    result = parse_dataset(
        labelled_tree / "data",
        "folder",
        labels_csv=["all.csv"],
        normal_labels=["ON"],
        filename_column="file",
        label_column="state",
        machine_type="fan",
    )
    assert {(c.name, c.split, c.machine_type) for c in result.clips} == {
        ("on_1.wav", Split.TRAIN, "fan"),
        ("on_2.wav", Split.TEST, "fan"),
    }


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"normal_labels": ["ON"]}, ConfigError, "need labels_csv"),
        ({"labels_csv": "data/train.csv"}, ConfigError, "needs normal_labels"),
        ({"labels_csv": "x/*.csv", "normal_labels": ["ON"]}, LayoutError, "matches no file"),
        ({"labels_csv": "data/train.csv", "normal_labels": ["ON"], "anomaly_labels": ["ON"]}, ConfigError, "both"),
        ({"labels_csv": "data/train.csv", "normal_labels": ["ON"], "label_column": "y"}, LayoutError, "no column 'y'"),
        ({"labels_csv": "data/other.csv", "normal_labels": ["ON"]}, LayoutError, "cannot tell the split"),
        ({"colour": "red"}, ConfigError, "does not take colour"),
    ],
)
def test_folder_labels_csv_errors(labelled_tree: Path, options: dict, error: type, match: str) -> None:
    (labelled_tree / "data/other.csv").write_text("filename,label\ndata/train/on_1.wav,ON\n")
    with pytest.raises(error, match=match):
        parse_dataset(labelled_tree, "folder", **options)


def test_unknown_files_are_reported_and_other_files_ignored(dcase2022_tree: Path) -> None:
    touch(dcase2022_tree, "fan/train/recording_7.wav", "fan/train/section_00_0001.wav", "stray.flac", "fan/notes.txt")
    result = parse_dataset(dcase2022_tree)
    assert result.layout == "dcase2022" and len(result.clips) == 6
    assert sorted(Path(p).name for p in result.unknown) == ["recording_7.wav", "section_00_0001.wav", "stray.flac"]
    assert all(Path(p).is_absolute() for p in result.unknown)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match=r"data folder .*nowhere does not exist; pass the folder"):
        parse_dataset(tmp_path / "nowhere")


def test_folder_without_audio(tmp_path: Path) -> None:
    touch(tmp_path, "fan/train/readme.txt")
    with pytest.raises(LayoutError, match=r"holds no audio files \(\.wav, \.flac\)"):
        detect_layout(tmp_path)


def test_no_layout_fits(tmp_path: Path) -> None:
    touch(tmp_path, "a/b/c/d/e/x.wav")
    with pytest.raises(LayoutError, match="no known layout fits .* layout="):
        parse_dataset(tmp_path)


def test_unknown_layout_name_lists_the_known_ones(dcase2022_tree: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown layout 'dcase2023'.*Known layouts: dcase2020, dcase2021"):
        parse_dataset(dcase2022_tree, layout="dcase2023")


def test_options_need_a_layout_name(dcase2022_tree: Path) -> None:
    with pytest.raises(ConfigError, match="need an explicit layout name"):
        parse_dataset(dcase2022_tree, labels_csv="x.csv")


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("car_A1_spd_28V_mic_1_noise_1", {"car": "A1", "spd": "28V", "mic": "1", "noise": "1"}),
        ("m-n_X", {"m-n": "X"}),
        ("vel_620_ac_0.08", {"vel": "620", "ac": "0.08"}),
        ("strength_1_ambient", {"raw": "strength_1_ambient"}),
        ("1_2", {"raw": "1_2"}),
        ("a_1_a_2", {"raw": "a_1_a_2"}),
        ("noAttributes", {"raw": "noAttributes"}),
        ("", {}),
        (None, {}),
    ],
)
def test_parse_attribute_string(tail: str | None, expected: dict[str, str]) -> None:
    assert parse_attribute_string(tail) == expected
