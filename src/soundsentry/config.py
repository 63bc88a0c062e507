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
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from soundsentry.errors import ConfigError
from soundsentry.io import atomic_write_text

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"

MODES = ("per_machine_type", "all", "transfer")
CLASS_LABELS = ("section", "section_domain", "attributes")  # see soundsentry.training.data.class_key
PRECISIONS = ("32", "16-mixed", "bf16-mixed", "64")
OPTIMIZERS = ("sgd", "adam", "adamw", "adamp", "lars")
SCHEDULERS = ("cosine_warm_restarts", "cosine_warm_restarts_with_warmup", "none")
SCHEDULER_INTERVALS = ("epoch", "step")
STANDARDIZE = ("per_bin", "global", "none")
LENGTH_POLICIES = ("crop", "pad", "tile", "none")
CHUNK_TAILS = ("drop", "pad", "context")
REDUCTIONS = ("sum", "mean")
PSEUDO_ANOMALIES = ("pitch_shift", "mix", "time_reverse")


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` as a float (YAML 1.1 wants ``1.0e-3`` and reads ``1e-3`` as text)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


@dataclass
class ComponentSpec:
    """A registered component: its registry name and the keyword arguments of its factory."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The flat YAML form ``{name: ..., key: value, ...}``."""
        return {"name": self.name, **self.kwargs}


@dataclass
class FeatureConfig:
    """How clips become network inputs: load, front-end, fold, cut into chunks, standardise.

    Attributes:
        sample_rate: rate clips are loaded (and resampled) at, in Hz; must equal the front-end's.
        clip_seconds: fix every clip to this length (``None`` keeps each clip's own length).
        length_policy: how a short clip reaches ``clip_seconds``: ``crop`` (refuse), ``pad``, ``tile``, ``none``.
        chunk_width: frames per chunk (the network input's T).
        chunk_hop: frames between chunk starts; ``None`` = ``chunk_width`` (non-overlapping).
        chunk_tail: frames after the last whole chunk: ``drop`` or ``pad`` (one more, padded chunk); ``context``
            cuts S2's context windows instead (``chunk_width`` = P, ``chunk_hop`` = L, ``ceil((T - P) / L)``
            windows per clip, see :func:`~soundsentry.frontends.context_windows`), for training and extraction.
        fold: fold the frequency axis into this many channels (S1 network 2: 4) after the front-end.
        standardize: ``per_bin`` (mean and std per channel and frequency bin), ``global`` or ``none``; fitted on
            the training split only and saved with the model.
        batch_clips: clips per front-end batch when computing features.
    """

    sample_rate: int = 16000
    clip_seconds: float | None = None
    length_policy: str = "pad"
    chunk_width: int = 32
    chunk_hop: int | None = None
    chunk_tail: str = "drop"
    fold: int = 1
    standardize: str = "per_bin"
    batch_clips: int = 32


@dataclass
class FinetuneConfig:
    """Step 2 of a two-step (source -> target) training, S3's domain-shift strategy.

    With ``train.finetune`` set, step 1 trains ``train.epochs`` epochs on source-domain clips only; step 2 then
    fine-tunes the step-1 network for ``steps`` optimiser steps on source and target clips (with ``train.mixup``,
    each batch element mixes one source and one target chunk), updating only the parameters under ``trainable``.

    Attributes:
        steps: optimiser steps (iterations) of step 2.
        trainable: name prefixes of the parameters step 2 updates, as in ``MarginClassifierModule.named_parameters``
            (``model.backbone.stages.3`` = the last residual stage of ``resnet_s3``, ``head`` = the classifier);
            every other parameter is frozen and its batch norms keep their step-1 statistics.
        optimizer: step 2's optimiser; ``None`` uses ``train.optimizer``.
    """

    steps: int = 5000
    trainable: list[str] = field(default_factory=lambda: ["model.backbone.stages.3", "head"])
    optimizer: ComponentSpec | None = None


@dataclass
class PretrainConfig:
    """S2's self-supervised pre-training of the encoder (VICReg with mixup), run before the supervised training.

    Every training chunk of the unit (source and target, all sections) is ``X`` once per epoch, paired with a
    random other chunk ``X'`` of the unit and a ratio ``lambda ~ Beta(mixup_alpha, mixup_alpha)`` per pair; the loss
    is eq. 5 of :mod:`soundsentry.ssl.vicreg` on the expander outputs. The schedule is a linear warm-up over
    ``warmup_epochs`` then a cosine decay to ``end_lr``, stepped per batch.

    Attributes:
        epochs: pre-training epochs.
        warmup_epochs: epochs of linear warm-up from 0 to the optimiser's ``lr``.
        end_lr: learning rate at the end of the cosine decay.
        batch_size: pairs per batch.
        optimizer: ``{name: lars, lr, weight_decay, momentum, trust_coefficient}`` (or any ``train.optimizer`` name).
        expander_dim, expander_layers: width and depth of the FC + BN + ReLU expander.
        gamma, mu, nu: weights of the mixup invariance, variance and covariance terms.
        reduction: eq. 1 over the features: ``sum`` (as written) or ``mean`` (VICReg's code).
        mixup_alpha: the Beta parameter of the mixup ratio.
    """

    epochs: int = 100
    warmup_epochs: int = 10
    end_lr: float = 0.002
    batch_size: int = 1024
    optimizer: ComponentSpec = field(default_factory=lambda: ComponentSpec("lars", {"lr": 0.8, "weight_decay": 1.0e-4}))
    expander_dim: int = 1280
    expander_layers: int = 3
    gamma: float = 25.0
    mu: float = 25.0
    nu: float = 1.0
    reduction: str = "mean"
    mixup_alpha: float = 0.5


@dataclass
class SelectionConfig:
    """S4's checkpoint selection: every ``every`` epochs, AUC + pAUC of the ``softmax_id`` score on a labelled
    validation set; the checkpoint with the largest sum (over the unit's machine types) is kept as ``best.ckpt``.

    The validation set is, by default, the held-out training normals (``train.val_fraction``) plus pseudo-anomalies
    made from them (:mod:`soundsentry.training.selection`); ``data: PATH`` reads a labelled manifest instead, and
    ``on_test: true`` selects on the run's own labelled test clips (optimistic: the run's config, log and
    ``train_summary.json`` say so).

    Attributes:
        every: epochs between evaluations (S4: 2).
        data: ``heldout`` or the path of a labelled validation manifest (``soundsentry prepare`` output).
        on_test: select on the test clips of the run's manifest; needs ``data: heldout``.
        max_fpr: the pAUC's false-positive range (DCASE: 0.1).
        pseudo_anomalies: what is made from each held-out normal clip, in turn: ``pitch_shift`` (log-mel bins
            rolled up by 4), ``mix`` (the bin-wise maximum with a clip of another class: a mixed-ID/type sound),
            ``time_reverse`` (frames reversed).
    """

    every: int = 2
    data: str = "heldout"
    on_test: bool = False
    max_fpr: float = 0.1
    pseudo_anomalies: list[str] = field(default_factory=lambda: ["pitch_shift", "mix"])


@dataclass
class TrainConfig:
    """How the embedding network is trained; ``precision`` / ``accelerator`` / ``devices`` / ``strategy`` /
    ``deterministic`` go to the Lightning ``Trainer`` unchanged (so AMP and DDP need no code change).

    Attributes:
        mode: ``per_machine_type`` (one model per machine type, classes = its sections / machine IDs), ``all``
            (one model, classes = every (machine type, section)) or ``transfer`` (S4: the ``all`` model is trained
            first, in ``models/all/``; then per machine type a new classifier over that type's IDs, initialised
            from the integrated head's rows of those IDs, is fine-tuned with everything else frozen).
        classes: what the classifier tells apart within a unit: ``section`` (S1's machine-ID classifier),
            ``section_domain`` or ``attributes`` (section, domain and attribute values, as the auxiliary attribute
            classification of DCASE 2022-2024 systems).
        epochs: training epochs.
        batch_size: chunks per batch (per device).
        optimizer: ``{name: sgd | adam | adamw | adamp, <keyword arguments>}`` (``torch.optim``; AdamP from
            ``pytorch_optimizer``).
        scheduler: ``{name: cosine_warm_restarts, T_0: epochs per cycle, T_mult, eta_min, interval}``,
            ``{name: cosine_warm_restarts_with_warmup, max_lr, t_up, t_0, t_mult, min_lr, interval}`` (S4; the
            optimiser's ``lr`` is replaced by ``max_lr``; :mod:`soundsentry.schedules`) or ``{name: none}``.
            ``interval: epoch`` steps once per epoch (the learning rate is constant within an epoch);
            ``interval: step`` steps after every batch with the cycle measured in batches
            (``T_0 * batches_per_epoch``), i.e. SGDR's fractional-epoch schedule.
        val_fraction: share of each class's training clips held out (by clip, never by chunk) for model
            selection on the ID classifier's validation loss; 0 disables validation (the last epoch is kept).
        seed: seeds model initialisation, the held-out split and the per-epoch shuffling.
        num_workers: DataLoader workers (features are cached in memory, so 0 is usually fastest).
        checkpoint_every: save ``last.ckpt`` / ``best.ckpt`` every this many epochs.
        progress_bar: show Lightning's progress bar.
        mixup: train on mixed pairs: each batch element is ``lam * a + (1 - lam) * b`` of two training chunks
            with ``lam ~ U(0, 1)``, its target the same mix of their one-hot labels (the head's soft-target loss:
            KL divergence for the AdaCos heads). Validation chunks are never mixed.
        mixup_alpha: draw the mixup ratio from ``Beta(mixup_alpha, mixup_alpha)`` instead of ``U(0, 1)`` (S2: 0.5).
        geometric_weight: S2's fine-tuning: with ``mixup``, add this weight times eq. 1 of
            :mod:`soundsentry.ssl.vicreg` on the encoder outputs of ``X``, ``X'`` and their mix to the KL loss (three
            forward passes per batch); needs the ``section_classifier`` head. 0 (default) is the plain mixup.
        geometric_reduction: eq. 1 over the features: ``sum`` (as written) or ``mean`` (VICReg's code).
        finetune: two-step source -> target training (:class:`FinetuneConfig`); ``None`` trains once on all clips.
        pretrain: self-supervised pre-training of the encoder before this training (:class:`PretrainConfig`, S2);
            ``None`` starts from random weights (or from ``init_from``).
        init_from: a run folder whose encoder (standardiser + backbone) of the same unit starts this training:
            its ``models/<unit>/pretrain/model.pt`` if there is one, else its ``models/<unit>/model.pt``.
            Replaces ``pretrain`` when both are set.
        transfer_epochs: epochs of the per-type classifier fine-tuning of ``mode: transfer`` (``None``: ``epochs``).
        selection: checkpoint selection on AUC + pAUC (:class:`SelectionConfig`, S4); ``None`` selects on the
            validation loss (``val_fraction``).
        channels_last: keep 4-D weights (and so the convolutions) in channels-last memory layout while training:
            the same results up to float rounding, faster on CPU (oneDNN) and with mixed precision on GPU
            (BENCHMARKS.md). An execution option, not a hyper-parameter.
        compile: ``torch.compile`` the backbone in place before training (state-dict keys unchanged, so
            checkpoints and ``model.pt`` are the same as without it). Costs a compilation of tens of seconds per
            training phase and, on CPU, a C++ compiler; pays off on long runs.
    """

    mode: str = "per_machine_type"
    classes: str = "section"
    epochs: int = 30
    batch_size: int = 48
    optimizer: ComponentSpec = field(default_factory=lambda: ComponentSpec("sgd", {"lr": 0.05}))
    scheduler: ComponentSpec = field(
        default_factory=lambda: ComponentSpec("cosine_warm_restarts", {"T_0": 10, "interval": "epoch"})
    )
    val_fraction: float = 0.1
    seed: int = 0
    precision: str = "32"
    accelerator: str = "auto"
    devices: Any = "auto"
    strategy: str = "auto"
    deterministic: Any = False
    num_workers: int = 0
    checkpoint_every: int = 1
    progress_bar: bool = True
    mixup: bool = False
    mixup_alpha: float | None = None
    geometric_weight: float = 0.0
    geometric_reduction: str = "mean"
    finetune: FinetuneConfig | None = None
    pretrain: PretrainConfig | None = None
    init_from: str | None = None
    transfer_epochs: int | None = None
    selection: SelectionConfig | None = None
    channels_last: bool = False
    compile: bool = False


@dataclass
class ScoreConfig:
    """Which scorers turn clip embeddings into anomaly scores (one scores file per spec).

    Attributes:
        scorers: scorer specs ``name:key=value,...``, fitted per (machine type, section) on training clips.
        embedding_map: ``soundsentry run`` also writes a t-SNE map of the train and test clip embeddings per
            model unit, ``results/embedding_map_<unit>.png`` (S4's figure; the slowest part of the report).
    """

    scorers: list[str] = field(default_factory=lambda: ["knn_cosine:k=10"])
    embedding_map: bool = False


@dataclass
class Recipe:
    """A complete system: front-end, backbone, head, features, training and scoring."""

    name: str
    frontend: ComponentSpec
    backbone: ComponentSpec
    head: ComponentSpec
    features: FeatureConfig = field(default_factory=FeatureConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts (components flat), as written by :func:`dump_resolved`."""
        return _to_plain(self)


# --- building dataclasses from plain dicts --------------------------------------------------------------------
_COMPONENT_FIELDS = {"frontend", "backbone", "head", "optimizer", "scheduler"}
_SECTIONS: dict[str, type] = {"features": FeatureConfig, "train": TrainConfig, "score": ScoreConfig}


def _to_plain(obj: Any) -> Any:
    if isinstance(obj, ComponentSpec):
        return {"name": obj.name, **{k: _to_plain(v) for k, v in obj.kwargs.items()}}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    return obj


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


#: The task of a recipe without a ``task:`` key; scene recipes say ``task: scene_classification``.
ANOMALY_TASK = "anomaly_detection"


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


# --- validation -------------------------------------------------------------------------------------------------
def _choice(source: str, where: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f"{source}: {where} is {value!r}; valid values: {', '.join(choices)}")


def _positive_int(source: str, where: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{source}: {where} must be a positive integer, got {value!r}")


def _check_component_kwargs(source: str, where: str, spec: ComponentSpec, registry: Any, derived: set[str]) -> None:
    allowed = set(registry.parameters(_registered(source, where, spec, registry))) - derived
    unknown = sorted(set(spec.kwargs) - allowed)
    if unknown:
        raise ConfigError(
            f"{source}: {where} {spec.name!r} does not take {', '.join(unknown)}; "
            f"valid keys: name, {', '.join(sorted(allowed))}"
        )


def _registered(source: str, where: str, spec: ComponentSpec, registry: Any) -> str:
    try:
        registry.get(spec.name)
    except ConfigError as err:
        raise ConfigError(f"{source}: {where}: {err}") from None
    return spec.name


def validate_recipe(recipe: Recipe, source: str = "<recipe>") -> None:
    """Check every value that can be checked without data; raises :class:`ConfigError` naming ``source``."""
    import soundsentry.backbones  # noqa: F401  (registration side effects)
    import soundsentry.frontends  # noqa: F401
    import soundsentry.heads  # noqa: F401
    from soundsentry.registry import BACKBONES, FRONTENDS, HEADS

    _check_component_kwargs(source, "frontend", recipe.frontend, FRONTENDS, set())
    _check_component_kwargs(source, "backbone", recipe.backbone, BACKBONES, set())
    # The trainer sets the head's embedding size from the backbone and its class count from the data.
    _check_component_kwargs(source, "head", recipe.head, HEADS, {"embed_dim", "num_classes"})

    f = recipe.features
    _positive_int(source, "features.sample_rate", f.sample_rate)
    if f.clip_seconds is not None and not (isinstance(f.clip_seconds, (int, float)) and f.clip_seconds > 0):
        raise ConfigError(f"{source}: features.clip_seconds must be a positive number or null, got {f.clip_seconds!r}")
    _choice(source, "features.length_policy", f.length_policy, LENGTH_POLICIES)
    _positive_int(source, "features.chunk_width", f.chunk_width)
    _positive_int(source, "features.chunk_hop", f.chunk_hop, allow_none=True)
    _choice(source, "features.chunk_tail", f.chunk_tail, CHUNK_TAILS)
    _positive_int(source, "features.fold", f.fold)
    _choice(source, "features.standardize", f.standardize, STANDARDIZE)
    _positive_int(source, "features.batch_clips", f.batch_clips)
    fe_rate = recipe.frontend.kwargs.get("sample_rate")
    if fe_rate is not None and fe_rate != f.sample_rate:
        raise ConfigError(
            f"{source}: frontend.sample_rate is {fe_rate} but features.sample_rate is {f.sample_rate}; make them equal"
        )

    t = recipe.train
    _choice(source, "train.mode", t.mode, MODES)
    _choice(source, "train.classes", t.classes, CLASS_LABELS)
    _positive_int(source, "train.epochs", t.epochs)
    _positive_int(source, "train.batch_size", t.batch_size)
    _positive_int(source, "train.checkpoint_every", t.checkpoint_every)
    if not isinstance(t.num_workers, int) or t.num_workers < 0:
        raise ConfigError(f"{source}: train.num_workers must be a non-negative integer, got {t.num_workers!r}")
    if not isinstance(t.seed, int):
        raise ConfigError(f"{source}: train.seed must be an integer, got {t.seed!r}")
    if not (isinstance(t.val_fraction, (int, float)) and 0 <= t.val_fraction < 1):
        raise ConfigError(f"{source}: train.val_fraction must be in [0, 1), got {t.val_fraction!r}")
    _choice(source, "train.precision", str(t.precision), PRECISIONS)
    t.precision = str(t.precision)
    _choice(source, "train.optimizer.name", t.optimizer.name, OPTIMIZERS)
    _choice(source, "train.scheduler.name", t.scheduler.name, SCHEDULERS)
    if t.scheduler.name == "cosine_warm_restarts":
        allowed = {"T_0", "T_mult", "eta_min", "interval"}
        unknown = sorted(set(t.scheduler.kwargs) - allowed)
        if unknown:
            valid = ", ".join(sorted(allowed))
            raise ConfigError(f"{source}: train.scheduler does not take {', '.join(unknown)}; valid: name, {valid}")
        _positive_int(source, "train.scheduler.T_0", t.scheduler.kwargs.get("T_0", 10))
        _choice(source, "train.scheduler.interval", t.scheduler.kwargs.get("interval", "epoch"), SCHEDULER_INTERVALS)
    if t.scheduler.name == "cosine_warm_restarts_with_warmup":
        _validate_warmup_schedule(t.scheduler, source)
    if "lr" not in t.optimizer.kwargs:
        raise ConfigError(f"{source}: train.optimizer needs a learning rate, e.g. {{name: sgd, lr: 0.05}}")
    for key in ("mixup", "channels_last", "compile"):
        if not isinstance(getattr(t, key), bool):
            raise ConfigError(f"{source}: train.{key} must be true or false, got {getattr(t, key)!r}")
    _validate_s2_train(recipe, source)
    _validate_s4_train(recipe, source)
    if t.finetune is not None:
        ft = t.finetune
        _positive_int(source, "train.finetune.steps", ft.steps)
        if not isinstance(ft.trainable, list) or not ft.trainable or not all(isinstance(p, str) for p in ft.trainable):
            raise ConfigError(
                f"{source}: train.finetune.trainable must be a non-empty list of parameter-name prefixes "
                f"such as [model.backbone.stages.3, head], got {ft.trainable!r}"
            )
        if ft.optimizer is not None:
            _choice(source, "train.finetune.optimizer.name", ft.optimizer.name, OPTIMIZERS)
            if "lr" not in ft.optimizer.kwargs:
                raise ConfigError(
                    f"{source}: train.finetune.optimizer needs a learning rate, e.g. {{name: adamp, lr: 1e-3}}"
                )

    if not isinstance(recipe.score.embedding_map, bool):
        raise ConfigError(f"{source}: score.embedding_map must be true or false, got {recipe.score.embedding_map!r}")
    if not isinstance(recipe.score.scorers, list) or not recipe.score.scorers:
        raise ConfigError(f"{source}: score.scorers must be a non-empty list of specs such as 'knn_cosine:k=10'")
    from soundsentry.scorers import create_scorer

    for spec in recipe.score.scorers:
        try:
            create_scorer(spec)
        except ConfigError as err:
            raise ConfigError(f"{source}: score.scorers: {err}") from None


def _positive_number(source: str, where: str, value: Any, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        kind = "a non-negative" if allow_zero else "a positive"
        raise ConfigError(f"{source}: {where} must be {kind} number, got {value!r}")


def _validate_warmup_schedule(spec: ComponentSpec, source: str) -> None:
    """S4's cosine warm restarts with a warm-up per cycle: the keys of :func:`soundsentry.schedules.
    cosine_warm_restarts_with_warmup` plus ``interval``."""
    allowed = {"max_lr", "t_up", "t_0", "t_mult", "min_lr", "interval"}
    unknown = sorted(set(spec.kwargs) - allowed)
    if unknown:
        raise ConfigError(
            f"{source}: train.scheduler does not take {', '.join(unknown)}; valid: name, {', '.join(sorted(allowed))}"
        )
    _choice(source, "train.scheduler.interval", spec.kwargs.get("interval", "epoch"), SCHEDULER_INTERVALS)
    kw = {k: v for k, v in spec.kwargs.items() if k != "interval"}
    import torch

    from soundsentry.schedules import cosine_warm_restarts_with_warmup

    try:
        cosine_warm_restarts_with_warmup(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0), **kw)
    except (ConfigError, TypeError) as err:
        raise ConfigError(f"{source}: train.scheduler: {err}") from None


def _validate_s4_train(recipe: Recipe, source: str) -> None:
    """``mode: transfer``, ``transfer_epochs`` and ``selection`` (S4's additions to ``train``)."""
    t = recipe.train
    _positive_int(source, "train.transfer_epochs", t.transfer_epochs, allow_none=True)
    if t.mode == "transfer" and (t.finetune is not None or t.pretrain is not None or t.geometric_weight > 0):
        raise ConfigError(
            f"{source}: train.mode=transfer fine-tunes only the classifier of the integrated model; it cannot be "
            "combined with train.finetune, train.pretrain or train.geometric_weight (set them to null / 0)"
        )
    sel = t.selection
    if sel is None:
        return
    _positive_int(source, "train.selection.every", sel.every)
    if not isinstance(sel.on_test, bool):
        raise ConfigError(f"{source}: train.selection.on_test must be true or false, got {sel.on_test!r}")
    if not isinstance(sel.data, str) or not sel.data:
        raise ConfigError(f"{source}: train.selection.data must be 'heldout' or a manifest path, got {sel.data!r}")
    if sel.on_test and sel.data != "heldout":
        raise ConfigError(
            f"{source}: train.selection.on_test=true selects on the run's test clips, so train.selection.data must "
            f"stay 'heldout' (got {sel.data!r}); drop one of them"
        )
    if not (isinstance(sel.max_fpr, (int, float)) and 0 < sel.max_fpr <= 1):
        raise ConfigError(f"{source}: train.selection.max_fpr must be in (0, 1], got {sel.max_fpr!r}")
    kinds = sel.pseudo_anomalies
    if not isinstance(kinds, list) or not all(k in PSEUDO_ANOMALIES for k in kinds):
        raise ConfigError(
            f"{source}: train.selection.pseudo_anomalies must be a list of {', '.join(PSEUDO_ANOMALIES)}, got {kinds!r}"
        )
    if sel.data == "heldout" and not sel.on_test:
        if not kinds:
            raise ConfigError(
                f"{source}: train.selection.pseudo_anomalies is empty, so the held-out set has no anomalies"
            )
        if not t.val_fraction > 0:
            raise ConfigError(
                f"{source}: train.selection on held-out clips needs train.val_fraction > 0 (e.g. 0.1), got "
                f"{t.val_fraction!r}"
            )
    if t.finetune is not None:
        raise ConfigError(f"{source}: train.selection and train.finetune cannot be combined; drop one")


def _validate_s2_train(recipe: Recipe, source: str) -> None:
    """Mixup ratio, the geometric term, pre-training and ``init_from`` (S2's additions to ``train``)."""
    t = recipe.train
    if t.mixup_alpha is not None:
        _positive_number(source, "train.mixup_alpha", t.mixup_alpha)
    _positive_number(source, "train.geometric_weight", t.geometric_weight, allow_zero=True)
    _choice(source, "train.geometric_reduction", t.geometric_reduction, REDUCTIONS)
    if t.geometric_weight > 0:
        if not t.mixup:
            raise ConfigError(f"{source}: train.geometric_weight > 0 needs train.mixup=true (eq. 1 compares the mix)")
        if recipe.head.name != "section_classifier":
            raise ConfigError(
                f"{source}: train.geometric_weight > 0 needs head section_classifier (S2's 320-128-C classifier "
                f"with a KL loss), got head {recipe.head.name!r}; set train.geometric_weight=0"
            )
        if t.finetune is not None:
            raise ConfigError(f"{source}: train.geometric_weight and train.finetune cannot be combined; drop one")
    if t.init_from is not None and (not isinstance(t.init_from, str) or not t.init_from):
        raise ConfigError(f"{source}: train.init_from must be a run folder path or null, got {t.init_from!r}")
    p = t.pretrain
    if p is None:
        return
    for key in ("epochs", "batch_size", "expander_dim", "expander_layers"):
        _positive_int(source, f"train.pretrain.{key}", getattr(p, key))
    if not isinstance(p.warmup_epochs, int) or isinstance(p.warmup_epochs, bool) or p.warmup_epochs < 0:
        raise ConfigError(
            f"{source}: train.pretrain.warmup_epochs must be a non-negative integer, got {p.warmup_epochs!r}"
        )
    if p.warmup_epochs > p.epochs:
        raise ConfigError(
            f"{source}: train.pretrain.warmup_epochs ({p.warmup_epochs}) exceeds train.pretrain.epochs ({p.epochs})"
        )
    for key in ("gamma", "mu", "nu", "end_lr"):
        _positive_number(source, f"train.pretrain.{key}", getattr(p, key), allow_zero=True)
    _positive_number(source, "train.pretrain.mixup_alpha", p.mixup_alpha)
    _choice(source, "train.pretrain.reduction", p.reduction, REDUCTIONS)
    _choice(source, "train.pretrain.optimizer.name", p.optimizer.name, OPTIMIZERS)
    if "lr" not in p.optimizer.kwargs:
        raise ConfigError(f"{source}: train.pretrain.optimizer needs a learning rate, e.g. {{name: lars, lr: 0.8}}")


# --- files and overrides ---------------------------------------------------------------------------------------
def available_recipes() -> list[str]:
    """Names of the recipes shipped with the package (``soundsentry/recipes/*.yaml``)."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def resolve_recipe_path(path_or_name: str | os.PathLike[str]) -> Path:
    """A recipe file path, or the packaged recipe of that name (``s1_arcface_mfn_net1``)."""
    path = Path(path_or_name)
    if path.is_file():
        return path
    packaged = RECIPES_DIR / f"{path.name}.yaml" if path.suffix == "" else RECIPES_DIR / path.name
    if str(path) == path.name and packaged.is_file():
        return packaged
    raise ConfigError(
        f"recipe {str(path_or_name)!r} is neither a file nor a packaged recipe; "
        f"packaged recipes: {', '.join(available_recipes()) or '(none)'}"
    )


def apply_override(data: dict[str, Any], override: str, source: str = "<recipe>") -> None:
    """Apply one ``a.b.c=value`` override in place; the value is parsed as YAML (``3``, ``0.5``, ``[1, 2]``)."""
    key, eq, text = override.partition("=")
    key = key.strip()
    if not eq or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {override!r} is not of the form key.subkey=value (e.g. train.epochs=3)")
    try:
        value = _yaml_load(text) if text.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"override {override!r}: the value is not valid YAML ({err})") from None
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):  # stages.0.epochs: an index into a list
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"override {override!r}: {part!r} is not an index of a {len(node)}-entry list")
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            raise ConfigError(f"override {override!r}: {'.'.join(parts[:i])} is not a mapping")
    last = parts[-1]
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"override {override!r}: {'.'.join(parts[:-1])} is not a mapping")


def recipe_task(path: str | os.PathLike[str]) -> str:
    """The ``task:`` of a recipe file or packaged name (``anomaly_detection`` when the key is absent)."""
    return str(read_recipe_data(path).get("task", ANOMALY_TASK))


def read_recipe_data(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping of a recipe file or packaged name, its ``base:`` chain merged in, as plain dicts and lists.

    Raises:
        ConfigError: a missing file, invalid YAML, a non-mapping, a bad or circular ``base:``.
    """
    return _to_plain(copy.deepcopy(_read_with_base(resolve_recipe_path(path), ())))


def _merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """``child`` over ``base``, mapping by mapping; a component mapping with another ``name`` replaces the base's
    (``head: {name: softmax}`` over an ArcFace head drops the margin)."""
    out = dict(base)
    for key, value in child.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict) and value.get("name", old.get("name")) == old.get("name"):
            out[key] = _merge(old, value)
        else:
            out[key] = value
    return out


def _read_with_base(file: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """A recipe file's mapping with its ``base:`` recipe (a packaged name, or a path relative to the file) merged
    underneath, recursively."""
    try:
        data = _yaml_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{file}: not valid YAML ({' '.join(str(err).split())})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: a recipe must be a YAML mapping, got {type(data).__name__}")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{file}: base must name another recipe (a packaged name or a path), got {base!r}")
    relative = file.parent / base
    try:
        base_file = relative if relative.is_file() else resolve_recipe_path(base)
    except ConfigError as err:
        raise ConfigError(f"{file}: base: {err}") from None
    if base_file.resolve() in {p.resolve() for p in (*chain, file)}:
        raise ConfigError(f"{file}: base {base!r} leads back to a recipe already in the chain; remove the cycle")
    return _merge(_read_with_base(base_file, (*chain, file)), data)


def load_recipe(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Recipe:
    """Read a recipe YAML (a path or a packaged recipe name) and apply ``key.subkey=value`` overrides.

    Raises:
        ConfigError: missing file, invalid YAML, unknown keys (the message names the file and the valid keys),
            malformed overrides or invalid values.
    """
    file = resolve_recipe_path(path)
    data = read_recipe_data(file)
    for item in overrides:
        apply_override(data, item, str(file))
    source = f"{file} (with overrides {', '.join(overrides)})" if overrides else str(file)
    return recipe_from_dict(data, source)


def dump_resolved(recipe: Recipe, path: str | os.PathLike[str]) -> Path:
    """Write the fully resolved recipe (every default filled in) as YAML, atomically; returns the path."""
    text = yaml.safe_dump(recipe.to_dict(), sort_keys=False, default_flow_style=False, width=120)
    return atomic_write_text(path, text)
