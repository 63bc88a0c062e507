"""TAU 2020 Mobile and plain-folder parsing, balancing, the generated scene set."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundsentry.data.audio import write_audio
from soundsentry.errors import DataError, LayoutError
from soundsentry.scenes.data import SceneClip, balance, detect_and_parse, parse_scene_folder, parse_tau, parse_tau_name
from soundsentry.scenes.synth import SceneSynthConfig, synth_scenes


def test_tau_name_fields() -> None:
    f = parse_tau_name("street_traffic-barcelona-161-4901-s3.wav")
    assert f == {"scene": "street_traffic", "city": "barcelona", "location": "161", "segment": 4901, "device": "s3"}
    with pytest.raises(LayoutError, match="not a TAU 2020 Mobile file name"):
        parse_tau_name("airport_barcelona_0.wav")


def test_parse_tau_generated_set(tiny_scenes: Path, tiny_config: SceneSynthConfig) -> None:
    TINY = tiny_config
    clips = parse_tau(tiny_scenes)
    n = TINY.n_scenes * len(TINY.cities) * len(TINY.devices) * TINY.clips_per_group
    assert len(clips) == n and all(isinstance(c, SceneClip) for c in clips)
    assert {c.scene for c in clips} == {"airport", "bus"}
    assert {c.device for c in clips} == {"a", "b"} and {c.city for c in clips} == {"barcelona", "lisbon"}
    splits = Counter(c.split for c in clips)
    n_groups = n // TINY.clips_per_group
    assert splits == {"train": 2 * n_groups, "evaluate": n_groups}  # round(0.3 * 3) = 1 clip per group evaluated
    c = clips[0]
    assert c.path.is_file() and c.path.name.startswith(f"{c.scene}-{c.city}-{c.location}-{c.segment}-{c.device}")
    assert detect_and_parse(tiny_scenes) == clips


def test_unknown_file_names_are_listed(tiny_scenes: Path, tmp_path: Path) -> None:
    root = tmp_path / "tau"
    shutil.copytree(tiny_scenes, root)
    (root / "meta.csv").unlink()
    shutil.copy(next((root / "audio").iterdir()), root / "audio" / "recording 1.wav")
    with pytest.raises(LayoutError, match=r"1 file name\(s\) not of the form.*recording 1.wav"):
        parse_tau(root)


def test_setup_file_contradicting_the_name(tiny_scenes: Path, tmp_path: Path) -> None:
    root = tmp_path / "tau"
    shutil.copytree(tiny_scenes, root)
    train = root / "evaluation_setup" / "fold1_train.csv"
    lines = train.read_text().splitlines()
    name, scene = lines[1].split("\t")
    lines[1] = f"{name}\t{'bus' if scene != 'bus' else 'airport'}"
    train.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="setup file labels"):
        parse_tau(root)


def test_missing_setup_file(tiny_scenes: Path, tmp_path: Path) -> None:
    root = tmp_path / "tau"
    shutil.copytree(tiny_scenes, root)
    (root / "evaluation_setup" / "fold1_evaluate.csv").unlink()
    with pytest.raises(LayoutError, match="fold1_evaluate.csv"):
        parse_tau(root)


def test_plain_folder(tmp_path: Path) -> None:
    for scene in ("park", "tram"):
        for i in range(10):
            write_audio(tmp_path / scene / f"{i}.wav", np.full(100, 0.1, np.float32), 16000)
    clips = parse_scene_folder(tmp_path, evaluate_fraction=0.3, seed=1)
    assert Counter((c.scene, c.split) for c in clips) == {
        ("park", "train"): 7,
        ("park", "evaluate"): 3,
        ("tram", "train"): 7,
        ("tram", "evaluate"): 3,
    }
    assert clips == parse_scene_folder(tmp_path, evaluate_fraction=0.3, seed=1)
    assert detect_and_parse(tmp_path, seed=1) == clips
    write_audio(tmp_path / "stray.wav", np.full(100, 0.1, np.float32), 16000)
    with pytest.raises(LayoutError, match=r"not directly inside a <class>/ folder: stray.wav"):
        parse_scene_folder(tmp_path)


def _clip(city: str, device: str, scene: str, i: int) -> SceneClip:
    return SceneClip(Path(f"{scene}-{city}-{i}-0-{device}.wav"), scene, city, device, str(i), 0, "train")


def test_balance_subsamples_each_group() -> None:
    clips = [_clip(c, d, s, i) for c in ("x", "y") for d in ("a", "b") for s in ("p", "q") for i in range(9)]
    clips += [_clip("z", "a", "p", i) for i in range(3)]  # a group smaller than per_group keeps all
    out = balance(clips, per_group=7, seed=0)
    groups = Counter((c.city, c.device, c.scene) for c in out)
    assert groups[("z", "a", "p")] == 3 and all(v == 7 for k, v in groups.items() if k[0] != "z")
    assert out == balance(clips, per_group=7, seed=0)
    assert out != balance(clips, per_group=7, seed=1)
    assert [c for c in clips if c in set(out)] == out  # input order kept
    with pytest.raises(DataError, match="per_group"):
        balance(clips, per_group=0)


def test_synth_is_deterministic_and_devices_differ(tmp_path: Path) -> None:
    cfg = SceneSynthConfig(n_scenes=1, cities=("paris",), devices=("a", "c"), clips_per_group=2, seconds=0.5)
    a, b = synth_scenes(tmp_path / "a", cfg), synth_scenes(tmp_path / "b", cfg)
    files = sorted(p.name for p in (a / "audio").iterdir())
    assert files == sorted(p.name for p in (b / "audio").iterdir())
    for name in files:
        assert (a / "audio" / name).read_bytes() == (b / "audio" / name).read_bytes()
    assert (a / "meta.csv").read_text() == (b / "meta.csv").read_text()

    def high_share(device: str) -> float:  # share of energy above 5 kHz
        x, sr = sf.read(next((a / "audio").glob(f"*-{device}.wav")))
        spec = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(len(x), 1 / sr)
        return float(spec[f > 5000].sum() / spec.sum())

    assert all(sf.info(p).samplerate == 44100 for p in (a / "audio").iterdir())
    assert high_share("c") < 0.5 * high_share("a")  # device c low-passes at 5 kHz
