"""The generated benchmark: layout, determinism, balance, scaling, refusal to overwrite, level calibration."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from soundsentry.data.synth import (
    ClipSpec,
    available_machine_types,
    clip_counts,
    generate,
    plan,
    render_clip,
)
from soundsentry.errors import ConfigError, DataError, SoundSentryError
from soundsentry.types import Domain, Label, Split

TINY = {"scale": 0.1, "seconds": 0.5}
# DCASE 2022-2024: section_XX_{source,target}_{train,test}_{normal,anomaly}_NNNN[_name_value...].wav
DCASE2022 = re.compile(
    r"^section_(?P<section>\d{2})_(?P<domain>source|target)_(?P<split>train|test)_(?P<label>normal|anomaly)"
    r"_(?P<index>\d{4})(?P<attrs>(?:_[A-Za-z0-9.\-]+_[A-Za-z0-9.\-]+)*)\.wav$"
)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "data"
    generate(out, seed=0, **TINY)
    return out


def _wavs(root: Path) -> list[Path]:
    return sorted(root.glob("*/*/*.wav"))


def test_layout_and_names_follow_dcase2022(tiny_set: Path) -> None:
    wavs = _wavs(tiny_set)
    assert {p.parent.parent.name for p in wavs} == set(available_machine_types())
    assert len(available_machine_types()) >= 4
    for path in wavs:
        match = DCASE2022.match(path.name)
        assert match, path.name
        assert match["split"] == path.parent.name
        attrs = match["attrs"].lstrip("_").split("_")
        assert len(attrs) % 2 == 0 and {"noise", "snr"} <= set(attrs[0::2])
    meta = json.loads((tiny_set / "synth.json").read_text())
    assert meta["complete"] and meta["n_files"] == len(wavs)
    assert meta["params"]["seed"] == 0 and meta["params"]["scale"] == 0.1
    assert set(meta["anomalies"]) == {str(p.relative_to(tiny_set)) for p in wavs if "_anomaly_" in p.name}


def test_test_labels_balanced_and_target_train_smaller(tiny_set: Path) -> None:
    groups: Counter[tuple[str, ...]] = Counter()
    for path in _wavs(tiny_set):
        m = DCASE2022.match(path.name)
        groups[(path.parent.parent.name, m["section"], m["domain"], m["split"], m["label"])] += 1
    for mtype in available_machine_types():
        for section in ("00", "01"):
            for domain in ("source", "target"):
                assert (
                    groups[(mtype, section, domain, "test", "normal")]
                    == groups[(mtype, section, domain, "test", "anomaly")]
                    > 0
                )
            assert (
                0
                < groups[(mtype, section, "target", "train", "normal")]
                < groups[(mtype, section, "source", "train", "normal")]
            )


def test_counts_scale() -> None:
    assert clip_counts(1.0) == {"train_source": 40, "train_target": 4, "test_normal": 10, "test_anomaly": 10}
    assert clip_counts(2.0) == {key: 2 * v for key, v in clip_counts(1.0).items()}
    assert min(clip_counts(0.01).values()) == 1
    small, big = (len(plan(["fan"], 2, clip_counts(s))) for s in (0.5, 1.0))
    assert big == 2 * 84 and small < big


def test_same_seed_same_bytes_other_seed_differs(tiny_set: Path, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", seed=0, machine_types=["valve"], **TINY)
    other = generate(tmp_path / "other", seed=1, machine_types=["valve"], **TINY)
    first = {p.relative_to(tiny_set): p.read_bytes() for p in _wavs(tiny_set) if p.parts[-3] == "valve"}
    second = {p.relative_to(again.out_dir): p.read_bytes() for p in _wavs(again.out_dir)}
    assert first == second
    third = [p.read_bytes() for p in _wavs(other.out_dir)]
    assert not set(third) & set(first.values())


def test_clip_does_not_depend_on_counts() -> None:
    spec = ClipSpec("motor", 1, Domain.TARGET, Split.TEST, Label.ANOMALY, 0)
    a = render_clip(spec, seed=3, seconds=0.5)
    b = render_clip(spec, seed=3, seconds=0.5)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert a.anomaly in {"bearing_outer", "bearing_inner", "imbalance", "looseness"} and 0 <= a.severity <= 1
    assert not np.array_equal(a.samples, render_clip(spec, seed=4, seconds=0.5).samples)


@pytest.mark.parametrize("mtype", available_machine_types())
def test_audio_finite_in_range_and_anomalies_not_louder(mtype: str) -> None:
    rms = {Label.NORMAL: [], Label.ANOMALY: []}
    for label in rms:
        for i in range(6):
            spec = ClipSpec(mtype, i % 2, Domain.SOURCE, Split.TEST, label, i)
            clip = render_clip(spec, seed=0, seconds=0.5)
            assert clip.samples.dtype == np.float32 and clip.samples.shape == (8000,)
            assert np.isfinite(clip.samples).all() and np.abs(clip.samples).max() <= 1.0
            rms[label].append(float(np.sqrt(np.mean(clip.samples.astype(np.float64) ** 2))))
    ratio = np.mean(rms[Label.ANOMALY]) / np.mean(rms[Label.NORMAL])
    assert 0.85 < ratio < 1.15


def test_same_parameters_skip_regeneration(tiny_set: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in _wavs(tiny_set)}
    summary = generate(tiny_set, seed=0, **TINY)
    assert not summary.generated and summary.n_files == len(before)
    assert {p: p.stat().st_mtime_ns for p in _wavs(tiny_set)} == before


def test_refuses_to_overwrite_a_different_set(tmp_path: Path) -> None:
    out = tmp_path / "data"
    generate(out, seed=0, machine_types=["fan"], **TINY)
    with pytest.raises(DataError, match=r"data: folder is not empty .*seed=0.*--force .*another folder"):
        generate(out, seed=1, machine_types=["fan"], **TINY)
    summary = generate(out, seed=1, machine_types=["fan"], force=True, scale=0.05, seconds=0.5)
    assert summary.generated
    assert len(_wavs(out)) == summary.n_files  # clips of the old set are gone
    assert json.loads((out / "synth.json").read_text())["params"]["seed"] == 1


def test_refuses_a_foreign_folder_and_bad_parameters(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SoundSentryError, match="no synth.json"):
        generate(tmp_path, **TINY)
    with pytest.raises(ConfigError, match="unknown synthetic machine type 'fna'.*Did you mean fan"):
        generate(tmp_path / "x", machine_types=["fna"], **TINY)
    with pytest.raises(ConfigError, match="scale must be > 0"):
        generate(tmp_path / "x", scale=0)
