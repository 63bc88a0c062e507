"""Typed recipe configs: one YAML file per documented system, read into dataclasses and checked up front.

A recipe names every component by registry key plus keyword arguments, flat as in the style guide::

    frontend: {name: stft_chunks, n_fft: 2046, hop_length: 512}
    backbone: {name: mobilefacenet_net1, input_size: [1024, 32]}
    head: {name: arcface, margin: 0.05, scale: 30}
    features: {sample_rate: 16000, chunk_width: 32}
    train: {mode: per_machine_type, epochs: 30, optimizer: {name: sgd, lr: 0.05}}
    score: {scorers: ["knn_cosine:k=10"]}

:func:`load_recipe` reads a file (or the name of a packaged recipe such as ``s1_arcface_mfn_net1``) and applies
``a.b=value`` overrides (values parsed as YAML: ``train.epochs=3``, ``backbone.input_size=[128,32]``). An unknown
key anywhere is a :class:`~soundsentry.errors.ConfigError` naming the file and the valid keys. A recipe may start
from another with ``base: other_recipe`` (a packaged name or a path relative to the file): the base is read first
and the file's keys are merged over it (mapping by mapping; a component with another ``name`` replaces the base's).

The code is split by concern: :mod:`~soundsentry.config.sections` (the dataclasses), :mod:`~soundsentry.config.build`
(dicts to dataclasses), :mod:`~soundsentry.config.validate` (checks), :mod:`~soundsentry.config.reading` (files,
``base:``, overrides). Every name is importable from ``soundsentry.config`` as before.
"""

# The private helpers (_component, _section, _to_plain, ...) stay importable from here: soundsentry.scenes.config
# reuses them.
from soundsentry.config.build import _component, _finetune, _section, _subsection, recipe_from_dict  # noqa: F401
from soundsentry.config.reading import (  # noqa: F401
    RECIPES_DIR,
    _Loader,
    _merge,
    _read_with_base,
    _yaml_load,
    apply_override,
    available_recipes,
    dump_resolved,
    load_recipe,
    read_recipe_data,
    recipe_task,
    resolve_recipe_path,
)
from soundsentry.config.sections import (  # noqa: F401
    ANOMALY_TASK,
    CHUNK_TAILS,
    CLASS_LABELS,
    LENGTH_POLICIES,
    MODES,
    NOISE_SOURCES,
    OPTIMIZERS,
    PHASES,
    PRECISIONS,
    PSEUDO_ANOMALIES,
    REDUCTIONS,
    SCHEDULER_INTERVALS,
    SCHEDULERS,
    STANDARDIZE,
    ComponentSpec,
    FeatureConfig,
    FinetuneConfig,
    NoiseMixConfig,
    PretrainConfig,
    Recipe,
    ScoreConfig,
    SelectionConfig,
    TrainConfig,
    _to_plain,
)
from soundsentry.config.validate import validate_recipe

__all__ = [
    "ANOMALY_TASK",
    "CHUNK_TAILS",
    "CLASS_LABELS",
    "LENGTH_POLICIES",
    "MODES",
    "NOISE_SOURCES",
    "PHASES",
    "OPTIMIZERS",
    "PRECISIONS",
    "PSEUDO_ANOMALIES",
    "RECIPES_DIR",
    "REDUCTIONS",
    "SCHEDULERS",
    "SCHEDULER_INTERVALS",
    "STANDARDIZE",
    "ComponentSpec",
    "FeatureConfig",
    "FinetuneConfig",
    "NoiseMixConfig",
    "PretrainConfig",
    "Recipe",
    "ScoreConfig",
    "SelectionConfig",
    "TrainConfig",
    "apply_override",
    "available_recipes",
    "dump_resolved",
    "load_recipe",
    "read_recipe_data",
    "recipe_from_dict",
    "recipe_task",
    "resolve_recipe_path",
    "validate_recipe",
]
