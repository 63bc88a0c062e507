"""DCASE 2025 (supplemental clips, hidden attributes) and 2026 (two-channel clips) layouts on tiny generated trees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundsentry.data.layouts import detect_layout, parse_dataset
from soundsentry.data.manifest import read_manifest, summarize, write_manifest
from soundsentry.errors import LayoutError
from soundsentry.scoring import is_fit_clip
from soundsentry.types import Clip, Domain, Label, Split

TRAIN_TEST = (
    "bearing/train/section_00_source_train_normal_0000_noAttribute.wav",
    "bearing/train/section_00_target_train_normal_0000_noAttribute.wav",
    "bearing/test/section_00_source_test_anomaly_0000_noAttribute.wav",
    "fan/train/section_00_source_train_normal_0000_m-n_X.wav",
    "fan/train/section_00_source_train_normal_0001_.wav",
    "fan/test/section_00_target_test_normal_0000_m-n_W.wav",
    "AutoTrash/train/section_00_source_train_normal_0000_id_A1_spd_1_mic_2.wav",
    "AutoTrash/test/section_00_0000.wav",
    "AutoTrash/test/section_00_test_0001.wav",
)
SUPPLEMENTAL = (
    "bearing/supplemental/section_00_machine_source_0000_noAttribute.wav",
    "bearing/supplemental/section_00_noise_supplemental_normal_0000.wav",
    "fan/supplemental/section_00_source_supplemental_machine_0000.wav",
    "AutoTrash/supplemental/section_00_machine_0001_.wav",
    "AutoTrash/supplemental/section_00_0002.wav",
)


def touch(root: Path, *names: str) -> None:
    """Empty files: parsers go by file name and never decode audio."""
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def write_wavs(root: Path, names: tuple[str, ...], channels: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        shape = (1600, channels) if channels > 1 else (1600,)
        sf.write(path, (0.1 * rng.standard_normal(shape)).astype(np.float32), 16000, subtype="PCM_16")


def by_name(clips: list[Clip]) -> dict[str, Clip]:
    return {clip.name: clip for clip in clips}


@pytest.fixture
def dcase2025_tree(tmp_path: Path) -> Path:
    touch(tmp_path, *TRAIN_TEST, *SUPPLEMENTAL)
    (tmp_path / "fan" / "attributes_00.csv").write_text(
        "file_name,d1p,d1v\nfan/supplemental/section_00_source_supplemental_machine_0000.wav,m-n,X\n"
    )
    return tmp_path


def test_dcase2025_parses_train_test_and_supplemental(dcase2025_tree: Path) -> None:
    assert detect_layout(dcase2025_tree) == "dcase2025"
    result = parse_dataset(dcase2025_tree)
    assert result.layout == "dcase2025" and result.unknown == []
    clips = by_name(result.clips)
    assert len(clips) == len(TRAIN_TEST) + len(SUPPLEMENTAL)
    assert {c.dataset for c in clips.values()} == {"dcase2025"}
    hidden = clips["section_00_source_train_normal_0000_noAttribute.wav"]
    assert hidden.attributes == {} and hidden.split is Split.TRAIN and hidden.domain is Domain.SOURCE
    assert clips["section_00_source_train_normal_0001_.wav"].attributes == {}  # empty tail
    assert clips["section_00_source_train_normal_0000_id_A1_spd_1_mic_2.wav"].attributes == {
        "id": "A1",
        "spd": "1",
        "mic": "2",
    }
    for name in ("section_00_0000.wav", "section_00_test_0001.wav"):  # evaluation names, both spellings
        assert (clips[name].split, clips[name].domain, clips[name].label) == (Split.TEST, Domain.UNKNOWN, Label.UNKNOWN)
    assert any("hidden" in note and "bearing" in note for note in result.notes)


def test_dcase2025_supplemental_kind_domain_and_label(dcase2025_tree: Path) -> None:
    clips = by_name(parse_dataset(dcase2025_tree).clips)
    supplemental = {name: c for name, c in clips.items() if c.split is Split.SUPPLEMENTAL}
    assert sorted(supplemental) == sorted(Path(n).name for n in SUPPLEMENTAL)
    clean = supplemental["section_00_machine_source_0000_noAttribute.wav"]
    assert (clean.attributes, clean.domain, clean.label) == ({"kind": "clean"}, Domain.SOURCE, Label.NORMAL)
    noise = supplemental["section_00_noise_supplemental_normal_0000.wav"]
    assert (noise.attributes, noise.domain, noise.label) == ({"kind": "noise"}, Domain.UNKNOWN, Label.UNKNOWN)
    merged = supplemental["section_00_source_supplemental_machine_0000.wav"]  # attributes_00.csv is merged too
    assert merged.attributes == {"kind": "clean", "m-n": "X"} and merged.machine_type == "fan"
    assert supplemental["section_00_machine_0001_.wav"].attributes == {"kind": "clean"}
    unexplained = supplemental["section_00_0002.wav"]  # the name does not say: no kind, label unknown
    assert unexplained.attributes == {} and unexplained.label is Label.UNKNOWN
    assert not any(is_fit_clip(c) for c in supplemental.values())  # scorers and training ignore them


def test_supplemental_clips_survive_the_manifest(dcase2025_tree: Path, tmp_path: Path) -> None:
    clips = parse_dataset(dcase2025_tree).clips
    for suffix in (".jsonl", ".csv"):
        path = write_manifest(clips, tmp_path / f"manifest{suffix}")
        assert read_manifest(path) == clips
    table = summarize(clips)
    assert "supplemental-source-normal" in table and "supplemental-unknown-unknown" in table


def test_tree_without_supplemental_stays_dcase2022(tmp_path: Path) -> None:
    touch(tmp_path, *TRAIN_TEST)
    assert detect_layout(tmp_path) == "dcase2022"  # 2023/2024 trees: the same clips either way
    forced = parse_dataset(tmp_path, "dcase2025")
    assert len(forced.clips) == len(TRAIN_TEST) and any("no supplemental" in note for note in forced.notes)
    plain = by_name(parse_dataset(tmp_path).clips)
    assert plain["section_00_source_train_normal_0000_noAttribute.wav"].attributes == {}


def test_dcase2022_leaves_supplemental_files_unknown(dcase2025_tree: Path) -> None:
    result = parse_dataset(dcase2025_tree, "dcase2022")
    unknown = {str(Path(p).relative_to(dcase2025_tree)) for p in result.unknown}
    assert unknown == {*SUPPLEMENTAL, "AutoTrash/test/section_00_test_0001.wav"}  # the 2025-only spelling too


def test_forced_layout_that_fits_nothing_is_an_error(dcase2025_tree: Path) -> None:
    with pytest.raises(LayoutError, match=r"layout 'dcase2020' recognises none .*detection picks 'dcase2025'"):
        parse_dataset(dcase2025_tree, "dcase2020")


@pytest.fixture
def dcase2026_tree(tmp_path: Path) -> Path:
    names = (
        "ToyDrone/train/section_00_source_train_normal_0000_noAttribute.wav",
        "ToyDrone/train/section_00_target_train_normal_0000_noAttribute.wav",
        "ToyDrone/test/section_00_0000.wav",
        "fan/train/section_00_source_train_normal_0000_m-n_X.wav",
        "fan/test/section_00_source_test_anomaly_0000_m-n_X.wav",
    )
    write_wavs(tmp_path, names, channels=2)
    return tmp_path


def test_dcase2026_detected_from_stereo_clips(dcase2026_tree: Path) -> None:
    assert detect_layout(dcase2026_tree) == "dcase2026"
    result = parse_dataset(dcase2026_tree)
    assert result.layout == "dcase2026" and len(result.clips) == 5 and result.unknown == []
    assert {c.split for c in result.clips} == {Split.TRAIN, Split.TEST}
    assert any("near microphone" in note for note in result.notes)


def test_mono_tree_is_not_dcase2026_and_forcing_it_fails(tmp_path: Path) -> None:
    write_wavs(tmp_path, TRAIN_TEST + SUPPLEMENTAL, channels=1)
    assert detect_layout(tmp_path) == "dcase2025"
    with pytest.raises(LayoutError, match=r"'dcase2026' expects two-channel clips .* are mono; use layout 'dcase2025'"):
        parse_dataset(tmp_path, "dcase2026")
