"""Checks of every recipe value that can be checked without data; each failure is one :class:`ConfigError` line
naming the file, the key, what was given and what is valid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from soundsentry.config.sections import (
    BOTH_CHANNELS,
    CHUNK_TAILS,
    CLASS_LABELS,
    LENGTH_POLICIES,
    MODES,
    NOISE_SOURCES,
    OPTIMIZERS,
    PHASES,
    PRECISIONS,
    PSEUDO_ANOMALIES,
    RECIPE_CHANNELS,
    REDUCTIONS,
    SCHEDULER_INTERVALS,
    SCHEDULERS,
    STANDARDIZE,
    ComponentSpec,
    Recipe,
)
from soundsentry.errors import ConfigError


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
    _choice(source, "train.phase", recipe.train.phase, PHASES)
    if recipe.train.phase == "autoencoder":
        _validate_autoencoder(recipe, source)
    else:
        _check_component_kwargs(source, "backbone", recipe.backbone, BACKBONES, set())
    # The trainer sets the head's embedding size from the backbone and its class count from the data.
    _check_component_kwargs(source, "head", recipe.head, HEADS, {"embed_dim", "num_classes"})

    f = recipe.features
    _positive_int(source, "features.sample_rate", f.sample_rate)
    if f.clip_seconds is not None and not (isinstance(f.clip_seconds, (int, float)) and f.clip_seconds > 0):
        raise ConfigError(f"{source}: features.clip_seconds must be a positive number or null, got {f.clip_seconds!r}")
    _choice(source, "features.length_policy", f.length_policy, LENGTH_POLICIES)
    _choice(source, "features.channel", f.channel, RECIPE_CHANNELS)
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
    if f.channel == "both":
        _validate_both_channels(recipe, source)

    t = recipe.train
    _choice(source, "train.mode", t.mode, MODES)
    if t.mode == "per_section" and t.phase != "autoencoder":
        raise ConfigError(
            f"{source}: train.mode=per_section trains one model per section, which only train.phase=autoencoder "
            "does (a classifier of one section has one class); use per_machine_type or all"
        )
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
        _positive_int(source, "train.scheduler.T_mult", t.scheduler.kwargs.get("T_mult", 1))
        _positive_number(source, "train.scheduler.eta_min", t.scheduler.kwargs.get("eta_min", 0.0), allow_zero=True)
        _choice(source, "train.scheduler.interval", t.scheduler.kwargs.get("interval", "epoch"), SCHEDULER_INTERVALS)
    if t.scheduler.name == "cosine_warm_restarts_with_warmup":
        _validate_warmup_schedule(t.scheduler, source)
    if "lr" not in t.optimizer.kwargs:
        raise ConfigError(f"{source}: train.optimizer needs a learning rate, e.g. {{name: sgd, lr: 0.05}}")
    _validate_optimizer_values(source, "train.optimizer", t.optimizer)
    for key in ("mixup", "channels_last", "compile"):
        if not isinstance(getattr(t, key), bool):
            raise ConfigError(f"{source}: train.{key} must be true or false, got {getattr(t, key)!r}")
    _validate_s2_train(recipe, source)
    _validate_s4_train(recipe, source)
    _validate_noise_mix(recipe, source)
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
            _validate_optimizer_values(source, "train.finetune.optimizer", ft.optimizer)

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


def _validate_both_channels(recipe: Recipe, source: str) -> None:
    """``features.channel: both``: the two microphones of a DCASE 2026 clip become input channels, so the backbone
    must take ``2 x front-end channels x fold`` of them; what reads one channel only is refused."""
    from soundsentry.registry import BACKBONES, FRONTENDS

    if recipe.train.phase == "autoencoder":
        raise ConfigError(
            f"{source}: features.channel 'both' gives two-channel chunks but train.phase=autoencoder (the AE baseline) "
            "reads frame vectors of one channel; use features.channel mean, left or right"
        )
    if recipe.train.noise_mix is not None:
        raise ConfigError(
            f"{source}: train.noise_mix mixes mono noise clips into mono training clips and cannot be combined with "
            "features.channel 'both'; set train.noise_mix=null or use features.channel mean, left or right"
        )
    name = recipe.backbone.name
    params = BACKBONES.parameters(name)
    if "in_chans" not in params:
        raise ConfigError(
            f"{source}: features.channel 'both' gives {BOTH_CHANNELS} input channels but backbone {name!r} takes one "
            "(it has no in_chans); use features.channel mean, left or right"
        )
    kwargs = {"sample_rate": recipe.features.sample_rate, **recipe.frontend.kwargs}
    try:
        per_channel = int(getattr(FRONTENDS.create(recipe.frontend.name, **kwargs), "out_channels", 1))
    except (ConfigError, TypeError, ValueError) as err:
        raise ConfigError(f"{source}: frontend ({recipe.frontend.name}): {err}") from None
    expected = BOTH_CHANNELS * per_channel * recipe.features.fold
    in_chans = recipe.backbone.kwargs.get("in_chans", params["in_chans"])
    if in_chans != expected:
        parts = [f"{BOTH_CHANNELS} audio channels"]
        parts += [f"{per_channel} front-end channels"] if per_channel > 1 else []
        parts += [f"fold {recipe.features.fold}"] if recipe.features.fold > 1 else []
        why = f" ({' x '.join(parts)})" if len(parts) > 1 else ""
        raise ConfigError(
            f"{source}: features.channel 'both' gives {expected} input channels{why} but backbone.in_chans is "
            f"{in_chans}; set backbone.in_chans={expected} (or channel mean/left/right)"
        )


def _validate_autoencoder(recipe: Recipe, source: str) -> None:
    """``train.phase: autoencoder``: the backbone names an autoencoder, no head, no classifier-only training keys."""
    from soundsentry.baselines.autoencoder import AUTOENCODERS

    _check_component_kwargs(source, "backbone", recipe.backbone, AUTOENCODERS, {"input_dim"})
    t = recipe.train
    if recipe.head.name != "none":
        raise ConfigError(
            f"{source}: train.phase=autoencoder trains no head; set head: none (got {recipe.head.name!r})"
        )
    if t.mode not in ("per_section", "per_machine_type"):
        raise ConfigError(
            f"{source}: train.phase=autoencoder trains per_section (the baseline) or per_machine_type, got train.mode="
            f"{t.mode}"
        )
    used = [k for k in ("finetune", "pretrain", "selection", "init_from", "noise_mix") if getattr(t, k) is not None]
    used += ["mixup"] if t.mixup else []
    if used:
        raise ConfigError(f"{source}: train.phase=autoencoder does not use train.{', train.'.join(used)}; remove them")
    if recipe.features.standardize != "none":
        raise ConfigError(
            f"{source}: train.phase=autoencoder reads raw log-mel vectors (the baseline standardises nothing); set "
            f"features.standardize: none (got {recipe.features.standardize!r})"
        )


def _positive_number(source: str, where: str, value: Any, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        kind = "a non-negative" if allow_zero else "a positive"
        raise ConfigError(f"{source}: {where} must be {kind} number, got {value!r}")


#: Numeric optimiser keys and their allowed range: (lowest, lowest allowed?, highest or None, highest allowed?).
OPTIMIZER_RANGES: dict[str, tuple[float, bool, float | None, bool]] = {
    "lr": (0.0, False, None, False),
    "weight_decay": (0.0, True, None, False),
    "momentum": (0.0, True, 1.0, False),
    "dampening": (0.0, True, 1.0, True),
    "eps": (0.0, False, None, False),
    "trust_coefficient": (0.0, False, None, False),
}


def _range_text(low: float, low_ok: bool, high: float | None, high_ok: bool) -> str:
    """``(0, 1]``-style text of a range; ``> 0`` / ``>= 0`` when it has no upper end."""
    if high is None:
        return f"{'>=' if low_ok else '>'} {low:g}"
    return f"in {'[' if low_ok else '('}{low:g}, {high:g}{']' if high_ok else ')'}"


def _in_range(value: Any, low: float, low_ok: bool, high: float | None, high_ok: bool) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:  # value != value: NaN
        return False
    above = value >= low if low_ok else value > low
    below = high is None or (value <= high if high_ok else value < high)
    return above and below


def _validate_optimizer_values(source: str, where: str, spec: ComponentSpec) -> None:
    """The numeric keys of an optimiser spec (``lr``, ``weight_decay``, ``momentum``, ``eps``, ``betas`` ...) lie in
    their allowed ranges, so a bad value is one line here instead of a traceback from the optimiser at training."""
    for key, bounds in OPTIMIZER_RANGES.items():
        if key in spec.kwargs and not _in_range(spec.kwargs[key], *bounds):
            raise ConfigError(
                f"{source}: {where}.{key} must be a number {_range_text(*bounds)}, got {spec.kwargs[key]!r}"
            )
    if "betas" in spec.kwargs:
        betas = spec.kwargs["betas"]
        if not (
            isinstance(betas, (list, tuple))
            and len(betas) == 2
            and all(_in_range(b, 0.0, True, 1.0, False) for b in betas)
        ):
            raise ConfigError(
                f"{source}: {where}.betas must be two numbers in [0, 1) such as [0.9, 0.999], got {betas!r}"
            )
    _try_torch_optimizer(source, where, spec)


def _try_torch_optimizer(source: str, where: str, spec: ComponentSpec) -> None:
    """Build a ``torch.optim`` optimiser (sgd, adam, adamw) of the spec on a dummy parameter, so the checks torch
    makes (an unknown key, Nesterov without momentum ...) fail here as one line, not at the first training step."""
    import torch

    classes = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    if spec.name not in classes:
        return
    try:
        classes[spec.name]([torch.zeros(1, requires_grad=True)], **spec.kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: {where} ({spec.name}): {err}") from None


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


def _validate_noise_mix(recipe: Recipe, source: str) -> None:
    """``train.noise_mix``: a probability, an SNR range ``[low, high]`` in dB, a positive number of copies, a known
    source, and a network that is trained (a backbone without parameters never sees the mixed chunks)."""
    nm = recipe.train.noise_mix
    if nm is None:
        return
    if not _in_range(nm.prob, 0.0, True, 1.0, True):
        raise ConfigError(f"{source}: train.noise_mix.prob must be a number in [0, 1], got {nm.prob!r}")
    snr = nm.snr_db
    if not (
        isinstance(snr, (list, tuple))
        and len(snr) == 2
        and all(_in_range(v, -1e3, True, 1e3, True) for v in snr)
        and snr[0] <= snr[1]
    ):
        raise ConfigError(
            f"{source}: train.noise_mix.snr_db must be [low, high] in dB with low <= high, such as [0, 10], got {snr!r}"
        )
    _positive_int(source, "train.noise_mix.copies", nm.copies)
    _choice(source, "train.noise_mix.source", nm.source, NOISE_SOURCES)
    from soundsentry.registry import BACKBONES

    if nm.prob > 0 and not getattr(BACKBONES.get(recipe.backbone.name), "needs_training", True):
        raise ConfigError(
            f"{source}: train.noise_mix augments training chunks, but backbone {recipe.backbone.name!r} is not "
            "trained; set train.noise_mix.prob=0 or train.noise_mix=null"
        )


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
    _validate_optimizer_values(source, "train.pretrain.optimizer", p.optimizer)
