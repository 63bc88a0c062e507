"""train.noise_mix: noise-only supplemental clips (DCASE 2025) mixed into training clips at a random SNR."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from soundsentry import stages
from soundsentry.config import NoiseMixConfig, available_recipes, load_recipe, recipe_task
from soundsentry.data.audio import write_audio
from soundsentry.data.layouts import parse_dataset
from soundsentry.data.manifest import read_manifest, write_manifest
from soundsentry.errors import ConfigError, DataError
from soundsentry.evaluation import read_scores
from soundsentry.training.data import EpochShuffleSampler, PairSampler, training_units
from soundsentry.training.noise_mix import (
    NoiseMixSampler,
    is_noise_clip,
    mix_at_snr,
    noise_clips,
    noise_excerpt,
)
from soundsentry.training.unit import prepare_unit
from soundsentry.types import Split

NOISE_ON = ["train.noise_mix={prob: 0.5, snr_db: [0, 10], copies: 2}", "train.mode=all", "train.epochs=1"]


def snr_db(clean: np.ndarray, mix: np.ndarray) -> float:
    """The SNR of a mix measured independently: clean power over the power of what was added."""
    added = mix.astype(np.float64) - clean.astype(np.float64)
    return 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(added**2))


def add_supplemental(root: Path, sample_rate: int = 16000) -> Path:
    """Turn a tiny DCASE 2022 tree into a 2025 one: per machine type two noise-only clips (one shorter than the
    training clips, so it is tiled) and one clean machine clip."""
    rng = np.random.default_rng(7)
    for machine in ("pumpy", "fanny"):
        folder = root / machine / "supplemental"
        for i, seconds in enumerate((0.7, 0.2)):
            noise = (0.1 * rng.standard_normal(int(seconds * sample_rate))).astype(np.float32)
            write_audio(folder / f"section_00_noise_supplemental_{i:04d}.wav", noise, sample_rate)
        t = np.arange(sample_rate // 2) / sample_rate
        clean = (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
        write_audio(folder / "section_00_machine_0000_.wav", clean, sample_rate)
    return root


@pytest.fixture
def tiny_2025_manifest(tiny_dcase2022: Path, tmp_path: Path) -> Path:
    result = parse_dataset(add_supplemental(tiny_dcase2022))
    assert result.layout == "dcase2025"
    path = tmp_path / "manifest_2025.jsonl"
    write_manifest(result.clips, path)
    return path


# -- the mixing function -----------------------------------------------------------------------------------------


def test_mix_at_snr_hand_case() -> None:
    clean = np.full(100, 2.0, dtype=np.float32)  # power 4
    noise = np.ones(100, dtype=np.float32)  # power 1: at 0 dB the gain is 2, so the mix is 2 + 2 = 4
    np.testing.assert_allclose(mix_at_snr(clean, noise, 0.0), np.full(100, 4.0))
    np.testing.assert_allclose(mix_at_snr(clean, noise, 20 * np.log10(2.0)), np.full(100, 3.0), rtol=1e-6)


@pytest.mark.parametrize("snr", [-5.0, 0.0, 3.3, 17.0])
def test_mix_at_snr_gives_the_requested_snr(snr: float) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    clean = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    noise = (0.05 * rng.standard_normal(t.size) + 0.01).astype(np.float32)
    mix = mix_at_snr(clean, noise, snr)
    assert mix.dtype == np.float32 and mix.shape == clean.shape
    assert abs(snr_db(clean, mix) - snr) < 0.1


def test_mix_with_silence_returns_the_clean_clip() -> None:
    clean = np.ones(8, dtype=np.float32)
    np.testing.assert_array_equal(mix_at_snr(clean, np.zeros(8, dtype=np.float32), 5.0), clean)
    with pytest.raises(ValueError, match="same shape"):
        mix_at_snr(clean, np.ones(7, dtype=np.float32), 5.0)


def test_noise_excerpt_is_seeded_and_tiles_short_noise() -> None:
    noise = np.arange(10, dtype=np.float32)
    a = noise_excerpt(noise, 25, np.random.default_rng(3))
    b = noise_excerpt(noise, 25, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert len(a) == 25 and set(a.tolist()) == set(range(10))
    long = np.arange(1000, dtype=np.float32)
    starts = {int(noise_excerpt(long, 10, np.random.default_rng(s))[0]) for s in range(5)}
    assert len(starts) > 1  # a random excerpt, not always the start


# -- configuration ------------------------------------------------------------------------------------------------


def test_noise_mix_builds_its_section(tiny_recipe) -> None:
    recipe = tiny_recipe("train.noise_mix={prob: 0.25, snr_db: [-5, 5]}")
    assert recipe.train.noise_mix == NoiseMixConfig(prob=0.25, snr_db=[-5, 5], copies=2, source="supplemental")
    assert recipe.to_dict()["train"]["noise_mix"]["prob"] == 0.25


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.noise_mix={prob: 1.5}", r"train\.noise_mix\.prob must be a number in \[0, 1\], got 1\.5"),
        ("train.noise_mix={prob: true}", r"train\.noise_mix\.prob must be a number"),
        ("train.noise_mix={snr_db: [10, 0]}", r"train\.noise_mix\.snr_db must be \[low, high\].*got \[10, 0\]"),
        ("train.noise_mix={snr_db: [5]}", r"train\.noise_mix\.snr_db must be \[low, high\]"),
        ("train.noise_mix={snr_db: 5}", r"train\.noise_mix\.snr_db must be \[low, high\]"),
        ("train.noise_mix={snr_db: [0, .nan]}", r"train\.noise_mix\.snr_db must be \[low, high\]"),
        ("train.noise_mix={copies: 0}", r"train\.noise_mix\.copies must be a positive integer, got 0"),
        ("train.noise_mix={source: folder}", r"train\.noise_mix\.source is 'folder'; valid values: supplemental"),
        ("train.noise_mix={level: 3}", r"unknown key\(s\) train\.noise_mix\.level; valid keys of train\.noise_mix"),
        ("train.noise_mix=0.5", r"train\.noise_mix must be a mapping or null, got 0\.5"),
    ],
)
def test_bad_noise_mix_values_are_one_config_error_line(tiny_overrides, override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load_recipe("s1_arcface_mfn_demo", [*tiny_overrides, override])
    assert "\n" not in str(err.value) and "s1_arcface_mfn_demo" in str(err.value)


def test_noise_mix_is_refused_where_nothing_is_trained_on_chunks() -> None:
    with pytest.raises(ConfigError, match=r"train\.phase=autoencoder does not use train\.noise_mix"):
        load_recipe("dcase_ae_baseline_demo", ["train.noise_mix={prob: 0.5}"])
    with pytest.raises(ConfigError, match=r"backbone 'flatten' is not trained; set train\.noise_mix\.prob=0"):
        load_recipe("sentry_flagship", ["train.noise_mix={prob: 0.5}"])
    assert load_recipe("sentry_flagship", ["train.noise_mix={prob: 0}"]).train.noise_mix.prob == 0


def _anomaly_recipes() -> list[str]:
    return [n for n in available_recipes() if recipe_task(n) != "scene_classification"]


@pytest.mark.parametrize("name", _anomaly_recipes())
def test_recipes_without_the_key_resolve_as_before(name: str, tmp_path: Path) -> None:
    """Off by default and left out of config.yaml, so every existing recipe (and run folder) resolves to the same
    bytes: the written keys are exactly the keys that existed before ``noise_mix``."""
    from soundsentry.config import TrainConfig, dump_resolved

    recipe = load_recipe(name)
    assert recipe.train.noise_mix is None
    train = recipe.to_dict()["train"]
    assert list(train) == [f for f in TrainConfig.__dataclass_fields__ if f != "noise_mix"]
    text = dump_resolved(recipe, tmp_path / "config.yaml").read_text()
    assert "noise_mix" not in text
    again = dump_resolved(load_recipe(tmp_path / "config.yaml"), tmp_path / "again.yaml").read_text()
    assert again == text


def test_a_recipe_with_the_key_round_trips(tiny_recipe, tmp_path: Path) -> None:
    from soundsentry.config import dump_resolved

    recipe = tiny_recipe("train.noise_mix={prob: 0.3, snr_db: [2, 4], copies: 1}")
    path = dump_resolved(recipe, tmp_path / "config.yaml")
    assert yaml.safe_load(path.read_text())["train"]["noise_mix"] == {
        "prob": 0.3,
        "snr_db": [2, 4],
        "copies": 1,
        "source": "supplemental",
    }
    assert load_recipe(path) == recipe


# -- data: which clips, and the one-line refusal -----------------------------------------------------------------


def test_noise_clips_are_the_noise_only_supplemental_clips(tiny_2025_manifest: Path, tiny_recipe) -> None:
    clips = read_manifest(tiny_2025_manifest)
    noise = noise_clips(tiny_recipe(*NOISE_ON), clips, tiny_2025_manifest)
    assert len(noise) == 4 and all(is_noise_clip(c) and "noise" in c.name for c in noise)
    assert noise_clips(tiny_recipe(), clips, tiny_2025_manifest) == []  # off: nothing read
    assert noise_clips(tiny_recipe("train.noise_mix={prob: 0}"), clips, tiny_2025_manifest) == []


def test_a_manifest_without_noise_clips_is_one_data_error_line(tiny_manifest: Path, tiny_recipe, tmp_path) -> None:
    with pytest.raises(DataError) as err:
        stages.train(tiny_recipe(*NOISE_ON), tiny_manifest, tmp_path / "run")
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(tiny_manifest))
    assert "use the dcase2025 layout with supplemental/ noise clips" in message
    assert "set train.noise_mix.prob=0" in message
    assert not (tmp_path / "run" / "models").exists()  # refused before any training


# -- the cache and the sampler ------------------------------------------------------------------------------------


def _prepared(recipe, manifest: Path, out: Path):
    clips = read_manifest(manifest)
    ((unit, unit_clips),) = training_units(clips, recipe.train.mode).items()
    return prepare_unit(recipe, unit, unit_clips, out, noise_clips=noise_clips(recipe, clips, manifest))


def test_noisy_copies_of_training_clips_only_seeded(tiny_2025_manifest: Path, tiny_recipe, tmp_path: Path) -> None:
    recipe = tiny_recipe(*NOISE_ON)
    run = _prepared(recipe, tiny_2025_manifest, tmp_path / "a")
    noisy = run.cache.noisy
    assert noisy is not None and noisy.prob == 0.5
    n_train = int(run.train_chunk.sum())
    assert noisy.lookup.shape == (2, len(run.cache.chunks)) and len(noisy.chunks) == 2 * n_train
    assert bool((noisy.lookup[:, run.train_chunk] >= 0).all()) and bool((noisy.lookup[:, ~run.train_chunk] == -1).all())
    assert sorted(noisy.lookup[noisy.lookup >= 0].tolist()) == list(range(2 * n_train))
    rows = torch.nonzero(run.train_chunk).flatten()
    assert not torch.allclose(noisy.chunks[noisy.lookup[0, rows]], run.cache.chunks[rows])  # noise was added
    assert not torch.equal(noisy.chunks[noisy.lookup[0, rows]], noisy.chunks[noisy.lookup[1, rows]])
    again = _prepared(recipe, tiny_2025_manifest, tmp_path / "b").cache.noisy
    assert torch.equal(again.chunks, noisy.chunks) and torch.equal(again.lookup, noisy.lookup)
    other_seed = _prepared(tiny_recipe(*NOISE_ON, "train.seed=1"), tiny_2025_manifest, tmp_path / "c").cache.noisy
    assert not torch.equal(other_seed.chunks, noisy.chunks)
    assert _prepared(tiny_recipe("train.mode=all"), tiny_2025_manifest, tmp_path / "d").cache.noisy is None


@pytest.mark.parametrize("mixup", [False, True])
def test_training_batches_come_from_the_noisy_copies(
    tiny_2025_manifest: Path, tiny_recipe, tmp_path: Path, mixup: bool
) -> None:
    from soundsentry.training.loop import train_loader

    recipe = tiny_recipe(*NOISE_ON, "train.noise_mix.prob=1.0", f"train.mixup={str(mixup).lower()}")
    run = _prepared(recipe, tiny_2025_manifest, tmp_path)
    loader = train_loader(recipe, run.cache, run.chunk_labels, len(run.classes), run.train_chunk, None)
    assert isinstance(loader.sampler, NoiseMixSampler)
    items = list(loader.sampler)
    assert len(items) == int(run.train_chunk.sum())
    clean = len(run.cache.chunks) if mixup else int(run.train_chunk.sum())
    drawn = [i for item in items for i in (item[:2] if mixup else (item,))]
    assert all(i >= clean for i in drawn)  # prob 1: every drawn chunk is a noisy copy
    x, y = next(iter(loader))
    assert x.shape[1:] == run.cache.chunks.shape[1:] and len(x) == recipe.train.batch_size
    if not mixup:  # a noisy chunk keeps its clip's class
        dataset = loader.dataset
        rows = torch.nonzero(run.train_chunk).flatten()
        copy_of = {int(run.cache.noisy.lookup[k, j]) + clean: int(j) for k in range(2) for j in rows}
        assert all(int(dataset.labels[i]) == int(run.chunk_labels[copy_of[i]]) for i in drawn)


def test_each_clip_is_mixed_with_noise_of_its_own_machine_type(tiny_dcase2022: Path, tiny_recipe, tmp_path) -> None:
    add_supplemental(tiny_dcase2022)
    for path in (tiny_dcase2022 / "fanny" / "supplemental").glob("*noise*.wav"):  # fanny's noise: silence
        write_audio(path, np.zeros(8000, dtype=np.float32), 16000)
    manifest = tmp_path / "manifest.jsonl"
    write_manifest(parse_dataset(tiny_dcase2022).clips, manifest)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # silent audio
        run = _prepared(tiny_recipe(*NOISE_ON), manifest, tmp_path / "run")
    types = [run.clips[int(i)].machine_type for i in run.cache.clip_index]
    for j in torch.nonzero(run.train_chunk).flatten().tolist():
        noisy = run.cache.noisy.chunks[run.cache.noisy.lookup[0, j]]
        assert torch.equal(noisy, run.cache.chunks[j]) == (types[j] == "fanny")  # silence adds nothing


def test_sampler_swaps_chunks_by_seed_and_epoch() -> None:
    lookup = torch.tensor([[10, 11, -1, 13], [20, 21, -1, 23]])
    inner = EpochShuffleSampler(4, seed=0)
    sampler = NoiseMixSampler(inner, lookup, prob=1.0, seed=0)
    sampler.set_epoch(3)
    assert inner.epoch == 3  # passed on, so the wrapped shuffle changes per epoch too
    drawn = list(sampler)
    clean = list(inner)
    assert len(drawn) == len(sampler) == 4
    for i, j in zip(clean, drawn, strict=True):
        assert j == i if i == 2 else j in (lookup[0, i].item(), lookup[1, i].item())  # chunk 2 has no copy
    assert list(sampler) == drawn  # the same epoch draws the same
    assert list(NoiseMixSampler(EpochShuffleSampler(4, 0), lookup, prob=0.0, seed=0)) == list(EpochShuffleSampler(4, 0))
    epochs = set()
    for epoch in range(6):
        sampler.set_epoch(epoch)
        epochs.add(tuple(sampler))
    assert len(epochs) > 1


def test_sampler_swaps_both_sides_of_a_mixup_pair() -> None:
    lookup = torch.tensor([[4, 5, 6, 7]])
    pairs = PairSampler([0, 1, 2, 3], [0, 1, 2, 3], seed=0)
    wrapped = list(NoiseMixSampler(pairs, lookup, prob=1.0, seed=0))
    for (a, b, lam), (a2, b2, lam2) in zip(pairs, wrapped, strict=True):
        assert (a2, b2, lam2) == (a + 4, b + 4, lam)


# -- end to end ---------------------------------------------------------------------------------------------------


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


@pytest.mark.slow
def test_noise_mix_resumes_bit_for_bit_and_changes_training(tiny_2025_manifest: Path, tiny_recipe, tmp_path) -> None:
    from soundsentry.training.trainer import fit_unit

    clips = read_manifest(tiny_2025_manifest)
    units = training_units(clips, "all")
    noise = noise_clips(tiny_recipe(*NOISE_ON), clips, tiny_2025_manifest)
    on = [*NOISE_ON, "train.batch_size=8"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_unit(tiny_recipe(*on, "train.epochs=2"), "all", units["all"], tmp_path / "straight", noise_clips=noise)
        fit_unit(tiny_recipe(*on, "train.epochs=1"), "all", units["all"], tmp_path / "resumed", noise_clips=noise)
        fit_unit(tiny_recipe(*on, "train.epochs=2"), "all", units["all"], tmp_path / "resumed", noise_clips=noise)
        off = [o for o in on if not o.startswith("train.noise_mix")]
        fit_unit(tiny_recipe(*off, "train.epochs=2"), "all", units["all"], tmp_path / "clean")
    straight, resumed = _weights(tmp_path / "straight" / "last.ckpt"), _weights(tmp_path / "resumed" / "last.ckpt")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    clean = _weights(tmp_path / "clean" / "last.ckpt")
    assert any(not torch.equal(straight[k], clean[k]) for k in straight)  # the noisy chunks were trained on


@pytest.mark.slow
def test_train_extract_score_with_noise_mix_on_a_2025_tree(tiny_2025_manifest: Path, tiny_recipe, tmp_path) -> None:
    run = tmp_path / "run"
    stages.train(tiny_recipe(*NOISE_ON), tiny_2025_manifest, run)
    assert (run / "models" / "all" / "model.pt").is_file()
    assert load_recipe(run / "config.yaml").train.noise_mix.copies == 2
    stages.extract(run)
    (scores_path,) = stages.score(run)
    clips = read_manifest(run / "manifest.jsonl")
    supplemental = {c.path for c in clips if c.split is Split.SUPPLEMENTAL}
    assert len(supplemental) == 6  # kept in the run's manifest ...
    scores = read_scores(scores_path)
    assert not supplemental & set(scores)  # ... but never scored
    assert {c.path for c in clips if c.split is not Split.SUPPLEMENTAL} == set(scores)
    with np.load(run / "embeddings.npz") as data:
        assert not supplemental & {str(p) for p in data["paths"]}  # nor embedded


def test_supplemental_clips_never_enter_a_scorer_bank(tiny_2025_manifest: Path) -> None:
    """Scorers are fitted on normal train clips only: a clean supplemental clip (label normal) is not one."""
    from soundsentry.scoring import fold_plan, is_fit_clip

    clips = read_manifest(tiny_2025_manifest)
    clean = [c for c in clips if c.split is Split.SUPPLEMENTAL and c.attributes.get("kind") == "clean"]
    assert clean and not any(is_fit_clip(c) for c in clean)
    for fit_rows, _ in fold_plan(clips):
        assert all(clips[i].split is Split.TRAIN for i in fit_rows)
