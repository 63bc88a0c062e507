"""From a data folder to cached feature arrays: clips, splits, balancing, augmented copies.

S5's time-domain augmentations "operate on the audio recordings and generate additional features": every listed
augmentation adds one augmented copy of each training clip, computed once and cached with the originals in
``<run>/features/``. Evaluation clips are stored as waveforms too, for test-time augmentation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from soundsentry.data.audio import load_audio
from soundsentry.errors import DataError
from soundsentry.io import atomic_output
from soundsentry.registry import FRONTENDS
from soundsentry.scenes.augment import augment_wave
from soundsentry.scenes.config import SceneRecipe
from soundsentry.scenes.data import SceneClip, balance, class_names, detect_and_parse, select_split
from soundsentry.scenes.features import extract_features


@dataclass
class SceneData:
    """Everything training and evaluation read.

    Attributes:
        classes: scene labels; a label's index is its class id.
        train: training clips (the full training split, or a subset with ``data.max_train_clips``).
        balanced: indices into ``train`` kept by the (city, device, scene) balancing.
        evaluate: evaluation clips.
        x_train: ``(A + 1, N, C, F, T)`` features: the originals, then one copy per wave augmentation.
        y_train, y_eval: class ids.
        x_eval: ``(M, C, F, T)`` features of the evaluation clips.
        wave_eval: ``(M, samples)`` evaluation waveforms (for test-time augmentation).
        sample_rate: rate of the waveforms.
    """

    classes: list[str]
    train: list[SceneClip]
    balanced: np.ndarray
    evaluate: list[SceneClip]
    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    wave_eval: np.ndarray
    sample_rate: int


def build_frontend(recipe: SceneRecipe) -> nn.Module:
    """The recipe's front-end, on the CPU, in eval mode."""
    return FRONTENDS.create(recipe.frontend.name, **recipe.frontend.kwargs).eval()


def load_waves(clips: list[SceneClip], sample_rate: int, seconds: float | None) -> np.ndarray:
    """``(N, samples)`` float32 waveforms; without ``seconds`` every clip must have the first clip's length."""
    waves = [load_audio(c.path, sample_rate, duration=seconds, length_policy="pad") for c in clips]
    lengths = {len(w) for w in waves}
    if len(lengths) > 1:
        raise DataError(
            f"clips have different lengths ({min(lengths)}..{max(lengths)} samples at {sample_rate} Hz); "
            "set data.clip_seconds in the recipe to pad / cut them to one length"
        )
    return np.stack(waves)


def augmented_waves(waves: np.ndarray, name: str, recipe: SceneRecipe, sample_rate: int, salt: int) -> np.ndarray:
    """One augmented copy of each waveform; clip ``i`` uses a generator seeded by (seed, salt, augmentation, i)."""
    out = np.empty_like(waves)
    for i, w in enumerate(waves):
        rng = np.random.default_rng([recipe.seed, salt, sum(map(ord, name)), i])
        out[i] = augment_wave(w, name, rng, sample_rate, recipe.augment.noise_std)
    return out


def prepare_scene_data(recipe: SceneRecipe, root: str | Path, cache_dir: str | Path | None = None) -> SceneData:
    """Parse ``root``, balance, load, augment and featurise; reads / writes ``cache_dir/features.npz`` if given."""
    clips = detect_and_parse(root, layout=recipe.data.layout, seed=recipe.seed)
    train = select_split(clips, "train")
    if recipe.data.max_train_clips is not None and len(train) > recipe.data.max_train_clips:
        keep = sorted(random.Random(recipe.seed).sample(range(len(train)), recipe.data.max_train_clips))
        train = [train[i] for i in keep]
    evaluate = select_split(clips, "evaluate")
    classes = class_names(train)
    unseen = sorted({c.scene for c in evaluate} - set(classes))
    if unseen:
        raise DataError(f"evaluation scenes {unseen} have no training clips; every scene needs training data")
    kept = balance(train, recipe.data.balance_per_group, recipe.seed) if recipe.data.balance_per_group else train
    kept_ids = {id(c) for c in kept}
    balanced = np.array([i for i, c in enumerate(train) if id(c) in kept_ids], dtype=np.int64)
    index = {name: i for i, name in enumerate(classes)}
    y_train = np.array([index[c.scene] for c in train], dtype=np.int64)
    y_eval = np.array([index[c.scene] for c in evaluate], dtype=np.int64)

    cache = Path(cache_dir) / "features.npz" if cache_dir is not None else None
    frontend = build_frontend(recipe)
    rate = int(frontend.sample_rate)
    if cache is not None and cache.is_file():
        with np.load(cache) as z:
            x_train, x_eval, wave_eval = z["x_train"], z["x_eval"], z["wave_eval"]
        if x_train.shape[1] != len(train) or x_eval.shape[0] != len(evaluate):
            raise DataError(f"{cache} was computed for other data; delete it or use a new run folder")
    else:
        wave_train = load_waves(train, rate, recipe.data.clip_seconds)
        wave_eval = load_waves(evaluate, rate, recipe.data.clip_seconds)
        copies = [wave_train] + [augmented_waves(wave_train, a, recipe, rate, 0) for a in recipe.augment.wave]
        x_train = np.stack([extract_features(frontend, w) for w in copies])
        x_eval = extract_features(frontend, wave_eval)
        if cache is not None:
            with atomic_output(cache) as tmp, open(tmp, "wb") as f:
                np.savez(f, x_train=x_train, x_eval=x_eval, wave_eval=wave_eval)
    return SceneData(classes, train, balanced, evaluate, x_train, y_train, x_eval, y_eval, wave_eval, rate)


def tta_features(
    recipe: SceneRecipe, frontend: nn.Module, waves: np.ndarray, sample_rate: int, copies: int
) -> np.ndarray:
    """``(copies, M, C, F, T)`` features of augmented copies of ``waves`` (S5 section 4).

    With ``inference.tta_augment: all`` (S5) every copy of every clip goes through all of the recipe's time-domain
    augmentations in the order of ``augment.wave``, each with its own random draw; with ``one`` it goes through one
    of them, drawn at random. The random temporal shuffle is applied by the caller on the features.
    """
    names = list(recipe.augment.wave)
    every = recipe.inference.tta_augment == "all"
    out = []
    for k in range(copies):
        rng = np.random.default_rng([recipe.seed, 7919, k])
        batch = []
        for w in waves:
            chosen = names if every else [names[int(rng.integers(len(names)))]] if names else []
            for name in chosen:
                w = augment_wave(w, name, rng, sample_rate, recipe.augment.noise_std)
            batch.append(w)
        out.append(extract_features(frontend, np.stack(batch)))
    return np.stack(out)


def to_tensor(x: np.ndarray, device: str = "cpu") -> torch.Tensor:
    """float32 tensor on ``device``."""
    return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=device)
