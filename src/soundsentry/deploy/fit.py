"""``soundsentry fit DATA -o DETECTOR``: from whatever recordings you have to a calibrated detector, in one command.

``DATA`` is any folder ``prepare`` reads: a DCASE / MIMII tree, or a plain folder of one machine's normal clips
with no test split and no labels. ``fit``

1. prepares a manifest of it (the layouts of :mod:`soundsentry.data.layouts`) and keeps its normal training clips;
2. picks a method that can learn from them and says which and why: by default the packaged ``sentry_flagship``
   recipe, a bank of log-mel and modulation patches scored by nearest neighbours, which needs no classes (nothing
   is trained); a classifier recipe (``--recipe``) only when asked for and when the data has the two or more
   classes it needs;
3. holds out a share of the normal clips of every (machine type, section, domain), seeded, to calibrate the
   thresholds on (at least :data:`~soundsentry.deploy.thresholds.MIN_DOMAIN_SCORES` where the domain keeps
   :data:`MIN_TRAINING` clips for training, so that a domain with few clips still has an estimate of its own
   threshold, which the domain-unknown threshold takes into account);
4. trains on the rest, embeds and scores, and exports a detector whose thresholds come from the held-out clips'
   scores (:func:`~soundsentry.deploy.bundle.export_detector` with the run's ``calibration.json``), per domain;
5. states the false-alarm rate measured on the held-out normals of each domain.

Everything is built in a temporary folder next to ``DETECTOR`` and renamed at the end, so a crash or Ctrl-C never
leaves a half-written detector. The run folder lands inside the detector as ``DETECTOR/run`` (config, manifest,
models, embeddings, scores: what ``soundsentry report DETECTOR/run`` reads); scoring does not need it, so it can be
left behind when the detector is copied to the machine that scores.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from soundsentry.errors import ConfigError, DataError
from soundsentry.io import atomic_write_text
from soundsentry.types import Clip, Label, Split

DEFAULT_RECIPE = "sentry_flagship"
RUN_DIR = "run"
MIN_TRAINING = 2  # clips a (group, domain) keeps for training; the flagship's per-domain normalisation needs 2


@dataclass(frozen=True)
class Method:
    """The recipe ``fit`` trains, and why it was chosen (printed)."""

    recipe: Any
    reason: str


@dataclass(frozen=True)
class FitResult:
    """What ``fit`` built.

    Attributes:
        detector: the detector folder.
        run_dir: the run folder inside it.
        method: the recipe and the reason it was chosen.
        n_train, n_held_out: normal clips trained on and held out for calibration.
        groups: detector.json's groups (thresholds and measured false-alarm rates per domain).
    """

    detector: Path
    run_dir: Path
    method: Method
    n_train: int
    n_held_out: int
    groups: list[dict[str, Any]]


def _n_held_out(n: int, fraction: float) -> int:
    """How many of a (group, domain)'s ``n`` normal clips are held out: ``round(fraction * n)``, raised to the few a
    threshold needs where the domain still keeps :data:`MIN_TRAINING` for training, never more than that allows."""
    from soundsentry.deploy.thresholds import MIN_DOMAIN_SCORES

    room = max(n - MIN_TRAINING, 0)
    return min(max(int(round(fraction * n)), MIN_DOMAIN_SCORES), room)


def holdout_split(clips: Sequence[Clip], fraction: float, seed: int) -> tuple[list[Clip], list[Clip]]:
    """Split normal training clips into (kept for training, held out) per (machine type, section, domain).

    The choice depends only on the clips' paths, their group and ``seed``, not on the order given.
    """
    from soundsentry.training.data import _class_seed

    by_group: dict[tuple[str, str, str], list[Clip]] = defaultdict(list)
    for clip in clips:
        by_group[(clip.machine_type, clip.section, clip.domain.value)].append(clip)
    held: set[str] = set()
    for key, members in sorted(by_group.items()):
        members = sorted(members, key=lambda c: c.path)
        order = np.random.default_rng(_class_seed(seed, "/".join(key))).permutation(len(members))
        held.update(members[j].path for j in order[: _n_held_out(len(members), fraction)])
    kept = [c for c in clips if c.path not in held]
    return kept, [dataclasses.replace(c, split=Split.TEST, label=Label.NORMAL) for c in clips if c.path in held]


def choose_method(name: str | None, overrides: Sequence[str], normals: Sequence[Clip], data: Path) -> Method:
    """The recipe to train and why: ``sentry_flagship`` unless ``name`` asks for another, which must be able to
    learn from ``normals`` (a classifier needs two or more classes) and be exportable.

    Raises:
        ConfigError: an autoencoder recipe, or a classifier recipe on data with fewer than two classes.
    """
    from soundsentry.config import load_recipe
    from soundsentry.training.data import class_map
    from soundsentry.training.phases import resolve_phases
    from soundsentry.training.phases.checks import class_words, too_few_classes

    recipe = load_recipe(name or DEFAULT_RECIPE, list(overrides))
    groups = sorted({c.group for c in normals})
    if recipe.train.phase == "autoencoder":
        raise ConfigError(
            f"--recipe {recipe.name}: an autoencoder run cannot be exported as a detector yet; leave out --recipe "
            f"({DEFAULT_RECIPE} needs no classes) or name an embedding recipe"
        )
    phases = resolve_phases(recipe)
    found = too_few_classes(recipe, normals, phases)
    if found is not None:
        raise ConfigError(
            f"{data}: --recipe {recipe.name} trains a classifier over {class_words(recipe)}, which needs at least 2 "
            f"classes, but the data has {len(found[1])} ({', '.join(found[1])}); leave out --recipe to use "
            f"{DEFAULT_RECIPE}, which needs no classes"
        )
    if any(getattr(p, "needs_classes", False) for p in phases):
        n_classes = len(class_map(normals, "all", recipe.train.classes))
        return Method(recipe, f"asked for; it trains a classifier over {class_words(recipe)} ({n_classes} classes)")
    if name:
        return Method(recipe, "asked for; it needs no classes")
    more = (
        "; with 2 or more sections, --recipe can ask for a classifier recipe instead"
        if len(groups) >= 2
        else " (one machine and section here, so a classifier would have a single class and learn nothing)"
    )
    return Method(
        recipe,
        "a bank of log-mel and modulation patches scored by their nearest training patches: it learns from normal "
        f"clips alone, needs no classes and trains nothing{more}",
    )


def _check_options(out: Path, holdout: float, false_alarm_rate: float, force: bool) -> None:
    if not 0.0 < float(holdout) < 1.0:
        raise ConfigError(f"--holdout is a fraction in (0, 1), e.g. 0.2; got {holdout}")
    if not 0.0 < float(false_alarm_rate) < 1.0:
        raise ConfigError(f"--false-alarm-rate is a fraction in (0, 1), e.g. 0.05; got {false_alarm_rate}")
    if out.exists() and not force:
        raise ConfigError(f"{out} exists; choose another folder or pass --force to replace it")


def _prepare(data: Path, staging: Path, layout: str | None) -> list[Clip]:
    """The data's clips (``prepare``, with its summary printed); the manifest file is not kept."""
    from soundsentry.data_stages import prepare

    if not data.is_dir():
        raise DataError(f"{data}: no such folder; give the folder of your recordings")
    scratch = staging / "prepared.jsonl"
    clips = prepare(data, scratch, layout=layout)
    scratch.unlink(missing_ok=True)
    return clips


def _write_run_inputs(run_dir: Path, kept: list[Clip], held: list[Clip], fraction: float, seed: int) -> Path:
    """The run's manifest (training clips, then the held-out ones as test normals) and ``calibration.json``."""
    from soundsentry.data.manifest import write_manifest
    from soundsentry.deploy.bundle import CALIBRATION_FILE
    from soundsentry.runfiles import MANIFEST_FILE

    run_dir.mkdir(parents=True)
    manifest = write_manifest([*kept, *held], run_dir / MANIFEST_FILE)
    record = {"clips": [c.path for c in held], "fraction": fraction, "seed": seed}
    atomic_write_text(run_dir / CALIBRATION_FILE, json.dumps(record, indent=2) + "\n")
    return Path(manifest)


def fit_detector(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    recipe: str | None = None,
    overrides: Sequence[str] = (),
    holdout: float = 0.2,
    false_alarm_rate: float = 0.05,
    seed: int = 0,
    threshold: str = "gamma",
    layout: str | None = None,
    force: bool = False,
) -> FitResult:
    """Build a calibrated detector from a folder of recordings (see the module docstring).

    Args:
        data: the recordings (any layout ``prepare`` reads, a plain folder of normal clips included).
        out: the detector folder to write (with the run folder inside, as ``out/run``).
        recipe: packaged recipe name or recipe file; None picks ``sentry_flagship``.
        overrides: ``key=value`` recipe overrides (as ``--set``).
        holdout: share of each (machine type, section, domain)'s normal clips held out for calibration.
        false_alarm_rate: the stated share of normal clips flagged; thresholds are its ``1 -`` quantile.
        seed: seed of the held-out split.
        threshold: threshold rule, ``gamma`` or ``quantile``.
        layout: layout name instead of auto-detection.
        force: replace an existing ``out``.
    """
    from soundsentry import stages
    from soundsentry.deploy.bundle import BUNDLE_FILE, export_detector
    from soundsentry.scoring import is_fit_clip

    data, out = Path(data), Path(out)
    _check_options(out, holdout, false_alarm_rate, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.fit-", dir=out.parent))
    try:
        normals = [c for c in _prepare(data, staging, layout) if is_fit_clip(c)]
        if not normals:
            raise DataError(f"{data}: no normal training clips; give a folder of recordings of the machine working")
        method = choose_method(recipe, overrides, normals, data)
        print(f"method: {method.recipe.name}: {method.reason}")
        kept, held = holdout_split(normals, holdout, seed)
        print(
            f"calibration: {len(held)} of {len(normals)} normal clips held out (seed {seed}); training on {len(kept)}"
        )
        run_dir = staging / RUN_DIR
        manifest = _write_run_inputs(run_dir, kept, held, holdout, seed)
        stages.train(method.recipe, manifest, run_dir, resume=False)
        stages.extract(run_dir)
        spec = method.recipe.score.scorers[0]
        stages.score(run_dir, [spec])
        bundle = export_detector(
            run_dir, staging / "detector", scorer=spec, method=threshold, percentile=1.0 - float(false_alarm_rate)
        )
        os.replace(run_dir, bundle / RUN_DIR)
        meta = json.loads((bundle / BUNDLE_FILE).read_text(encoding="utf-8"))
        meta["run"] = str((out / RUN_DIR).resolve())
        meta["fit"] = {"recipe": method.recipe.name, "reason": method.reason, "holdout": holdout, "seed": seed}
        atomic_write_text(bundle / BUNDLE_FILE, json.dumps(meta, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(bundle, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return FitResult(out, out / RUN_DIR, method, len(kept), len(held), meta["groups"])


def _rate(entry: dict[str, Any], key: str) -> str:
    value = entry.get(key)
    return "n/a" if value is None or not np.isfinite(value) else f"{100.0 * value:.0f} %"


def summary_lines(result: FitResult) -> list[str]:
    """One line per group: its domain-unknown threshold and, per domain, the false-alarm rate measured on the
    held-out normals at that domain's threshold and at the domain-unknown one."""
    from soundsentry.deploy.bundle import HELD_OUT

    lines = []
    for g in result.groups:
        parts = [
            f"{domain} {_rate(d, 'measured_false_alarm_rate')} of {d['n']}"
            + (f" ({_rate(d, 'measured_false_alarm_rate_domain_unknown')} at the domain-unknown threshold)")
            + ("" if d.get("own") else ", too few clips for a threshold of its own: the domain-unknown one applies")
            for domain, d in sorted(g.get("domains", {}).items())
        ]
        on = "held-out normals" if g.get("calibration") == HELD_OUT else "held-out and out-of-fold training normals"
        lines.append(
            f"{g['machine_type']}/{g['section']}: threshold {g['threshold']:.4g} (domain unknown); false alarms on "
            f"{on} (stated {100.0 * g['expected_false_alarm_rate']:.0f} %): {'; '.join(parts) or 'n/a'}"
        )
    return lines


__all__ = ["DEFAULT_RECIPE", "FitResult", "Method", "choose_method", "fit_detector", "holdout_split", "summary_lines"]
