"""Acoustic scene classification (S5): TAU 2020 Mobile data, HPSS log-mel features, 128 kB networks, ArcFace workflow.

Importing :mod:`soundsentry.scenes.models` / :mod:`soundsentry.scenes.features` (done by the recipe loader) registers
the ``asc_mobilenetv2`` and ``cp_resnet`` backbones and the ``logmel_hpss`` front-end. The names below are imported
on first use, so ``soundsentry --help`` does not pay for torch and librosa. Run a recipe with
:func:`run_scene_recipe` or ``soundsentry scenes run``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SceneRecipe": "config",
    "load_scene_recipe": "config",
    "SceneClip": "data",
    "balance": "data",
    "detect_and_parse": "data",
    "parse_scene_folder": "data",
    "parse_tau": "data",
    "LogMelHPSS": "features",
    "CPResNet": "models",
    "ReducedMobileNetV2": "models",
    "SceneClassifier": "models",
    "check_size": "models",
    "size_bytes": "models",
    "run_scene_recipe": "run",
    "SceneSynthConfig": "synth",
    "synth_scenes": "synth",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'soundsentry.scenes' has no attribute {name!r}")
    return getattr(importlib.import_module(f"soundsentry.scenes.{_EXPORTS[name]}"), name)
