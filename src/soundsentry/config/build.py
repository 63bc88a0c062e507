"""Recipe dataclasses from the nested dicts of the YAML form: unknown keys are a one-line :class:`ConfigError`
naming the file and the valid keys; the result is validated (:func:`~soundsentry.config.validate.validate_recipe`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from soundsentry.config.sections import (
    ANOMALY_TASK,
    ComponentSpec,
    FeatureConfig,
    FinetuneConfig,
    NoiseMixConfig,
    PretrainConfig,
    Recipe,
    ScoreConfig,
    SelectionConfig,
    TrainConfig,
)
from soundsentry.config.validate import validate_recipe
from soundsentry.errors import ConfigError

_COMPONENT_FIELDS = {"frontend", "backbone", "head", "optimizer", "scheduler"}
_SECTIONS: dict[str, type] = {"features": FeatureConfig, "train": TrainConfig, "score": ScoreConfig}


def _component(value: Any, where: str, source: str) -> ComponentSpec:
    if isinstance(value, ComponentSpec):
        return value
    if isinstance(value, str):
        return ComponentSpec(value, {})
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise ConfigError(f"{source}: {where} must be a mapping with a 'name' key (e.g. {{name: sgd, lr: 0.05}})")
    kwargs = {k: v for k, v in value.items() if k != "name"}
    return ComponentSpec(value["name"], kwargs)


def _section(cls: type, value: Any, where: str, source: str) -> Any:
    if value is None:
        return cls()
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {where} must be a mapping, got {type(value).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(value) - set(names))
    if unknown:
        listed = ", ".join(f"{where}.{k}" for k in unknown)
        raise ConfigError(f"{source}: unknown key(s) {listed}; valid keys of {where}: {', '.join(names)}")
    kwargs = {
        k: (
            _component(v, f"{where}.{k}", source)
            if k in _COMPONENT_FIELDS and (v is not None or cls is not FinetuneConfig)
            else v
        )
        for k, v in value.items()
    }
    if cls is TrainConfig and kwargs.get("finetune") is not None:
        kwargs["finetune"] = _finetune(kwargs["finetune"], f"{where}.finetune", source)
    if cls is TrainConfig and kwargs.get("pretrain") is not None:
        kwargs["pretrain"] = _subsection(PretrainConfig, kwargs["pretrain"], f"{where}.pretrain", source)
    if cls is TrainConfig and kwargs.get("selection") is not None:
        kwargs["selection"] = _subsection(SelectionConfig, kwargs["selection"], f"{where}.selection", source)
    if cls is TrainConfig and kwargs.get("noise_mix") is not None:
        kwargs["noise_mix"] = _subsection(NoiseMixConfig, kwargs["noise_mix"], f"{where}.noise_mix", source)
    return cls(**kwargs)


def _subsection(cls: type, value: Any, where: str, source: str) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {where} must be a mapping or null, got {value!r}")
    return _section(cls, value, where, source)


def _finetune(value: Any, where: str, source: str) -> FinetuneConfig:
    if isinstance(value, FinetuneConfig):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {where} must be a mapping such as {{steps: 5000}} or null, got {value!r}")
    return _section(FinetuneConfig, value, where, source)


def recipe_from_dict(data: dict[str, Any], source: str = "<recipe>") -> Recipe:
    """Build and validate a :class:`Recipe` from nested dicts (the YAML form)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a recipe must be a YAML mapping, got {type(data).__name__}")
    task = data.get("task", ANOMALY_TASK)
    if task != ANOMALY_TASK:
        raise ConfigError(
            f"{source}: this is a {task!r} recipe, not an anomaly-detection one; run it with "
            "`soundsentry run RECIPE --data DIR` (which dispatches on the task) or `soundsentry scenes run`"
        )
    data = {k: v for k, v in data.items() if k != "task"}
    names = [f.name for f in dataclasses.fields(Recipe)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key(s) {', '.join(unknown)}; valid keys: {', '.join(names)}")
    missing = [k for k in ("name", "frontend", "backbone", "head") if k not in data]
    if missing:
        raise ConfigError(f"{source}: missing key(s) {', '.join(missing)}; every recipe names its {', '.join(missing)}")
    recipe = Recipe(
        name=str(data["name"]),
        description=str(data.get("description", "")),
        frontend=_component(data["frontend"], "frontend", source),
        backbone=_component(data["backbone"], "backbone", source),
        head=_component(data["head"], "head", source),
        **{key: _section(cls, data.get(key), key, source) for key, cls in _SECTIONS.items()},
    )
    validate_recipe(recipe, source)
    return recipe
