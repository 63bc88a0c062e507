"""Typed scene-classification recipes (S5), read from ``recipes/s5_*.yaml`` like the anomaly recipes.

A recipe is flat YAML; components are registry names plus keyword arguments, as in :mod:`soundsentry.config`::

    task: scene_classification
    frontend: {name: logmel_hpss, sample_rate: 44100, n_fft: 2048, hop_length: 1024, n_mels: 128, htk: true}
    backbone: {name: asc_mobilenetv2}
    data: {balance_per_group: 7}
    augment: {wave: [noise, pitch_shift, time_stretch, volume], mixup_alpha: 0.4, spec_augment: 0.1}
    train: {batch_size: 24, momentum: 0.0}
    stages:
      - {kind: focal, epochs: 200, schedule: cosine_restarts, lr: 1.0e-2, lr_min: 1.0e-3}
    inference: {tta: false}

Unknown keys anywhere are a ConfigError naming the file and the valid keys; ``a.b=value`` overrides apply first
(``stages`` entries are addressed by index: ``stages.0.epochs=2``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import yaml

from soundsentry.config import (
    ComponentSpec,
    _component,
    _section,
    _to_plain,
    apply_override,
    read_recipe_data,
    resolve_recipe_path,
)
from soundsentry.errors import ConfigError
from soundsentry.io import atomic_write_text
from soundsentry.registry import BACKBONES, FRONTENDS
from soundsentry.scenes import features as _features  # noqa: F401 - registers logmel_hpss
from soundsentry.scenes import models as _models  # noqa: F401 - registers the backbones
from soundsentry.scenes.augment import WAVE_AUGMENTATIONS

TASK = "scene_classification"
#: Where the best epoch of a stage is chosen (``train.select_on``).
SELECT_ON = ("evaluate", "holdout")
STAGE_KINDS = ("focal", "arcface_head", "arcface_all", "retrain_top")
#: Which of Table 1's layers the ArcFace stages cut and stage 4 re-adds (``train.cut_layers``, docs/scenes.md).
CUT_LAYERS = ("11-13", "10-12")
#: How each test-time augmentation copy is made (``inference.tta_augment``).
TTA_AUGMENT = ("all", "one")
SCHEDULES = ("cosine_restarts", "exponential", "constant")


@dataclass
class SceneDataConfig:
    """Which clips are used.

    Attributes:
        layout: ``tau``, ``folder`` or ``None`` (detected: ``tau`` when the root has ``audio/``).
        balance_per_group: clips kept per (city, device, scene) in balanced stages (S5: 7); ``None`` keeps all.
        clip_seconds: pad / cut every clip to this length (``None`` keeps the files' length, which must agree).
        max_train_clips: keep at most this many training clips (a seeded subset; for quick runs), ``None`` all.
    """

    layout: str | None = None
    balance_per_group: int | None = 7
    clip_seconds: float | None = None
    max_train_clips: int | None = None


@dataclass
class AugmentConfig:
    """S5 section 3.

    Attributes:
        wave: time-domain augmentations; each adds one augmented copy of every training clip.
        noise_std: Gaussian noise standard deviation relative to the clip RMS (see :func:`gaussian_noise`).
        mixup_alpha: Beta(alpha, alpha) of mixup (S5: 0.4); 0 disables it.
        spec_augment: share of each axis masked (S5: 10 %); 0 disables it.
        temporal_shuffle: swap the two halves of a random cut of the time axis.
    """

    wave: list[str] = field(default_factory=lambda: list(WAVE_AUGMENTATIONS))
    noise_std: float = 0.1
    mixup_alpha: float = 0.4
    spec_augment: float = 0.1
    temporal_shuffle: bool = True


@dataclass
class TrainSettings:
    """Shared by all stages (S5 section 6: "batch size as 24 and ... SGD optimizer without momentum").

    Attributes:
        batch_size: clips per batch.
        momentum: SGD momentum.
        hidden: width of the classifier top's Dense layer and of the ArcFace embedding (S5: 64).
        budget_bytes: the size limit; a larger model stops the run (DCASE 2021 1A: 128 kB = 131072 bytes).
        device: torch device; ``auto`` is ``cuda`` when a GPU is visible, else ``cpu``.
        select_on: where each stage's best epoch is chosen: ``evaluate`` (the evaluation split, as S5 did; the
            reported accuracy is then optimistic) or ``holdout`` (a seeded share of the training clips, per
            scene, kept out of training).
        holdout_fraction: the share of each scene's training clips held out with ``select_on: holdout``.
        cut_layers: the "last 3 layers" of S5 section 6 as Table 1 numbers them. ``11-13`` (BN, Dense C, softmax):
            the ArcFace stages read the Dense-64 output (layer 10, the 64-d embedding) and stage 4 re-adds a new
            BN + Dense C on it; ``10-12`` (Dense 64, BN, Dense C): the ArcFace stages learn a new BN + Dense 64
            neck on the body and stage 4 drops it and learns a new Dense 64, BN, Dense C.
    """

    batch_size: int = 24
    momentum: float = 0.0
    hidden: int = 64
    budget_bytes: int = 131_072
    device: str = "auto"
    select_on: str = "evaluate"
    holdout_fraction: float = 0.1
    cut_layers: str = "11-13"


@dataclass
class StageConfig:
    """One stage of S5's workflow (section 6).

    Attributes:
        kind: ``focal`` (focal-loss training of the whole classifier), ``arcface_head`` (body frozen, BN + Dense +
            ArcFace head trained), ``arcface_all`` (everything trained with ArcFace), ``retrain_top`` (ArcFace head
            dropped, body frozen, a new classifier top trained).
        epochs: epochs of this stage; the epoch with the best evaluation accuracy is kept.
        lr: (initial) learning rate.
        schedule: ``cosine_restarts`` (lr to lr_min over T_0 epochs, then restart), ``exponential``
            (``lr * exp(-decay * step)`` per optimiser step) or ``constant``.
        lr_min, T_0: cosine restarts' floor and cycle length in epochs.
        decay: exponential decay rate per step (S5 stage 4: 3.33e-5).
        augment: use the augmented copies and the batch augmentations (S5 stage 2: none).
        balanced: train on the balanced subset (``data.balance_per_group``) instead of the full training split.
        focal_alpha, focal_gamma: focal loss (S5: 1, 2).
        margin, scale: ArcFace margin in radians and scale (S5: 0.5 or 0.35, and 30).
    """

    kind: str
    epochs: int = 1
    lr: float = 1e-2
    schedule: str = "constant"
    lr_min: float = 1e-3
    T_0: int = 10
    decay: float = 3.33e-5
    augment: bool = True
    balanced: bool = True
    focal_alpha: float = 1.0
    focal_gamma: float = 2.0
    margin: float = 0.5
    scale: float = 30.0


@dataclass
class InferenceConfig:
    """Test-time augmentation (S5 section 4): ``tta_copies`` augmented copies, logits averaged, then softmax.

    Attributes:
        tta: submit the TTA predictions (both are reported).
        tta_copies: augmented copies per clip (S5: 10).
        tta_augment: ``all`` applies every ``augment.wave`` augmentation, in that order, to each copy (S5: "we
            used all the time-domain augmentations ... The augmentations were carried out 10 times per sample");
            ``one`` applies one of them, drawn per copy and clip. The temporal shuffle follows in both.
        export_onnx: write and verify a float16 ONNX model.
    """

    tta: bool = False
    tta_copies: int = 10
    tta_augment: str = "all"
    export_onnx: bool = False


@dataclass
class SceneRecipe:
    """A complete S5 submission."""

    name: str
    frontend: ComponentSpec
    backbone: ComponentSpec
    stages: list[StageConfig]
    task: str = TASK
    description: str = ""
    seed: int = 0
    data: SceneDataConfig = field(default_factory=SceneDataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainSettings = field(default_factory=TrainSettings)
    inference: InferenceConfig = field(default_factory=InferenceConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts (components flat), as written by :func:`dump_scene_recipe`."""
        return _to_plain(self)


_SECTIONS: dict[str, type] = {
    "data": SceneDataConfig,
    "augment": AugmentConfig,
    "train": TrainSettings,
    "inference": InferenceConfig,
}


def scene_recipe_from_dict(data: dict[str, Any], source: str = "<recipe>") -> SceneRecipe:
    """Build and validate a :class:`SceneRecipe` from the YAML form."""
    names = [f.name for f in dataclasses.fields(SceneRecipe)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(names)}")
    for key in ("name", "frontend", "backbone", "stages"):
        if key not in data:
            raise ConfigError(f"{source}: missing key {key!r}")
    stages = data["stages"]
    if not isinstance(stages, list) or not stages:
        raise ConfigError(f"{source}: stages must be a non-empty list such as [{{kind: focal, epochs: 200}}]")
    kwargs: dict[str, Any] = {k: v for k, v in data.items() if k not in _SECTIONS}
    kwargs["frontend"] = _component(data["frontend"], "frontend", source)
    kwargs["backbone"] = _component(data["backbone"], "backbone", source)
    kwargs["stages"] = [_section(StageConfig, s, f"stages[{i}]", source) for i, s in enumerate(stages)]
    for key, cls in _SECTIONS.items():
        kwargs[key] = _section(cls, data.get(key), key, source)
    recipe = SceneRecipe(**kwargs)
    validate_scene_recipe(recipe, source)
    return recipe


def validate_scene_recipe(recipe: SceneRecipe, source: str = "<recipe>") -> None:
    """Check values and the stage order; every problem is a one-line ConfigError naming ``source``."""
    if recipe.task != TASK:
        raise ConfigError(f"{source}: task must be {TASK!r}, got {recipe.task!r}")
    for where, spec, registry in (("frontend", recipe.frontend, FRONTENDS), ("backbone", recipe.backbone, BACKBONES)):
        registry.get(spec.name)
        bad = sorted(set(spec.kwargs) - set(registry.parameters(spec.name)))
        if bad:
            allowed = ", ".join(sorted(registry.parameters(spec.name)))
            raise ConfigError(f"{source}: {where} {spec.name!r} does not take {', '.join(bad)}; valid: {allowed}")
    bad_aug = [a for a in recipe.augment.wave if a not in WAVE_AUGMENTATIONS]
    if bad_aug:
        raise ConfigError(f"{source}: unknown augment.wave {bad_aug}; known: {', '.join(WAVE_AUGMENTATIONS)}")
    kinds = [s.kind for s in recipe.stages]
    for i, s in enumerate(recipe.stages):
        where = f"{source}: stages[{i}]"
        if s.kind not in STAGE_KINDS:
            raise ConfigError(f"{where}.kind must be one of {', '.join(STAGE_KINDS)}, got {s.kind!r}")
        if s.schedule not in SCHEDULES:
            raise ConfigError(f"{where}.schedule must be one of {', '.join(SCHEDULES)}, got {s.schedule!r}")
        if not isinstance(s.epochs, int) or s.epochs < 1 or s.lr <= 0 or s.T_0 < 1:
            raise ConfigError(f"{where}: epochs and T_0 must be positive integers and lr positive")
        if s.kind in ("arcface_all", "retrain_top") and "arcface_head" not in kinds[:i]:
            raise ConfigError(f"{where}: {s.kind} needs an arcface_head stage before it")
    if kinds[-1] not in ("focal", "retrain_top"):
        raise ConfigError(f"{source}: the last stage must be 'focal' or 'retrain_top', got {kinds[-1]!r}")
    if kinds[0] != "focal":
        raise ConfigError(f"{source}: the first stage must be 'focal' (S5 pre-trains with it), got {kinds[0]!r}")
    if recipe.train.select_on not in SELECT_ON:
        raise ConfigError(
            f"{source}: train.select_on must be one of {', '.join(SELECT_ON)}, got {recipe.train.select_on!r}"
        )
    if not 0.0 < float(recipe.train.holdout_fraction) < 1.0:
        raise ConfigError(f"{source}: train.holdout_fraction must be in (0, 1), got {recipe.train.holdout_fraction}")
    for where, value, allowed in (
        ("train.cut_layers", str(recipe.train.cut_layers), CUT_LAYERS),
        ("inference.tta_augment", recipe.inference.tta_augment, TTA_AUGMENT),
    ):
        if value not in allowed:
            raise ConfigError(f"{source}: {where} must be one of {', '.join(allowed)}, got {value!r}")
    device = str(recipe.train.device)
    if device != "auto" and device.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"{source}: train.device must be auto, cpu, cuda, cuda:N or mps, got {device!r}")
    if recipe.train.batch_size < 1 or recipe.inference.tta_copies < 1:
        raise ConfigError(f"{source}: train.batch_size and inference.tta_copies must be positive")


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; anything else is returned unchanged.

    Raises:
        ConfigError: a CUDA device is asked for but none is visible.
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device is {device!r} but torch sees no GPU; use --set train.device=auto or cpu")
    return device


def load_scene_recipe(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> SceneRecipe:
    """Read a scene recipe (a path or a packaged name such as ``s5_asc_mobilenetv2_arcface``) with overrides."""
    file = resolve_recipe_path(path)
    data = read_recipe_data(file)
    for item in overrides:
        apply_override(data, item, str(file))
    source = f"{file} (with overrides {', '.join(overrides)})" if overrides else str(file)
    return scene_recipe_from_dict(data, source)


def dump_scene_recipe(recipe: SceneRecipe, path: str | os.PathLike[str]) -> None:
    """Write the fully resolved recipe as YAML, atomically."""
    atomic_write_text(path, yaml.safe_dump(recipe.to_dict(), sort_keys=False, default_flow_style=False, width=120))
