"""Held-out split, class maps, units and the resumable sampler."""

from __future__ import annotations

import pytest

from soundsentry.training.data import (
    EpochShuffleSampler,
    class_map,
    split_train_val,
    training_units,
    unit_of,
)
from soundsentry.types import Clip, Label, Split


def _clips(per_section: int = 10) -> list[Clip]:
    clips = []
    for mtype in ("fan", "pump"):
        for section in ("00", "01"):
            for i in range(per_section):
                clips.append(Clip(f"/d/{mtype}/train/s{section}_{i:03d}.wav", mtype, section))
            clips.append(
                Clip(f"/d/{mtype}/test/s{section}_a.wav", mtype, section, split=Split.TEST, label=Label.ANOMALY)
            )
    return clips


def test_units_and_class_maps() -> None:
    clips = _clips()
    per_type = training_units(clips, "per_machine_type")
    assert list(per_type) == ["fan", "pump"] and all(c.split is Split.TRAIN for c in per_type["fan"])
    assert class_map(per_type["fan"], "per_machine_type") == ["00", "01"]
    everything = training_units(clips, "all")
    assert list(everything) == ["all"] and len(everything["all"]) == 40
    assert class_map(everything["all"], "all") == ["fan/00", "fan/01", "pump/00", "pump/01"]
    assert unit_of(clips[-1], "per_machine_type") == "pump" and unit_of(clips[-1], "all") == "all"


def test_split_is_by_clip_disjoint_stratified_and_deterministic() -> None:
    train = training_units(_clips(), "all")["all"]
    tr, va = split_train_val(train, 0.2, seed=0, mode="all")
    assert set(tr).isdisjoint(va) and sorted(tr + va) == list(range(len(train)))
    for key in ("fan/00", "fan/01", "pump/00", "pump/01"):
        assert sum(f"{train[i].machine_type}/{train[i].section}" == key for i in va) == 2
    assert split_train_val(train, 0.2, seed=0, mode="all") == (tr, va)
    # the choice depends on paths, not on manifest order
    reordered = list(reversed(train))
    _, va_rev = split_train_val(reordered, 0.2, seed=0, mode="all")
    assert {reordered[i].path for i in va_rev} == {train[i].path for i in va}
    assert split_train_val(train, 0.2, seed=1, mode="all")[1] != va


def test_split_keeps_a_training_clip_per_class() -> None:
    train = [Clip("/d/a.wav", "fan", "00"), Clip("/d/b.wav", "fan", "01"), Clip("/d/c.wav", "fan", "01")]
    tr, va = split_train_val(train, 0.9, seed=0, mode="per_machine_type")
    assert 0 in tr and len(va) == 1 and va[0] in (1, 2)
    assert split_train_val(train, 0.0, seed=0, mode="per_machine_type") == ([0, 1, 2], [])


def test_sampler_depends_only_on_seed_and_epoch() -> None:
    a, b = EpochShuffleSampler(50, seed=3), EpochShuffleSampler(50, seed=3)
    a.set_epoch(4)
    list(b)  # drawing epoch 0 first must not change epoch 4
    b.set_epoch(4)
    assert list(a) == list(b) and sorted(a) == list(range(50)) and len(a) == 50
    b.set_epoch(5)
    assert list(a) != list(b)


@pytest.mark.parametrize("mode", ["per_machine_type", "all"])
def test_no_training_clips_is_a_data_error(mode: str) -> None:
    from soundsentry.errors import DataError

    with pytest.raises(DataError, match="no training clips"):
        training_units([c for c in _clips() if c.split is Split.TEST], mode)


def test_class_labels_section_domain_and_attributes() -> None:
    from soundsentry.training.data import class_key
    from soundsentry.types import Domain

    clip = Clip("/a.wav", "fan", "01", Domain.TARGET, Split.TRAIN, Label.NORMAL, {"spd": "3", "load": "1"})
    assert class_key(clip, "per_machine_type") == "01"
    assert class_key(clip, "per_machine_type", "section_domain") == "01/target"
    assert class_key(clip, "all", "attributes") == "fan/01/target/load=1,spd=3"
