"""A deployable detector: one folder with everything inference needs, loadable without the training data.

``export_detector(RUN, OUT)`` writes::

    OUT/
      detector.json          format, versions, recipe, scorer, per-group thresholds, manifest summary, file hashes
      models/<unit>.pt       the run's model files (standardiser + backbone, and the classification head)
      banks/<type>__<section>.npz
                             the training embeddings the group's scorer is fitted on when the bundle loads;
                             for a logits scorer (S4's ``softmax_id``) the training clips' classifier logits and
                             the group's own class (``class_index``); for a chunk scorer (``chunks:...``) the
                             training clips' chunk embeddings (``chunk_embeddings``), each chunk's domain
                             (``chunk_domains``) and clip (``chunk_clip``, an index into the bank's clips)

The fitted scorers are not pickled: a bundle stores the normal training embeddings of each (machine type,
section) and the scorer spec, and :class:`Detector` refits the scorer when it loads (milliseconds for k-NN,
Mahalanobis or a seeded GMM). Nothing in a bundle is executable, it does not depend on scikit-learn's pickle
format, and a loaded detector scores exactly as the run's ``score`` stage does (tested).

Thresholds: the training clips' out-of-fold scores (each scored by a scorer fitted without it, as the ``score``
stage does) are honest samples of "normal"; a run made by ``soundsentry fit`` lists held-out normal clips in
``calibration.json``, and their scores (by the scorer fitted on the training clips) are used instead. ``gamma``
fits a gamma distribution to them and takes its ``percentile`` quantile (the DCASE baselines' rule); ``quantile``
takes the empirical quantile. Either way the expected false-alarm rate on normal clips is ``1 - percentile``.
Each domain gets its own threshold, and a clip of unknown domain the largest of them
(:mod:`soundsentry.deploy.thresholds`); the bundle records the rate measured on each domain's calibration clips.

A run whose model did not learn (a classifier over one class, recorded in its ``model.pt``) is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from soundsentry.deploy.thresholds import CALIBRATION_FILE
from soundsentry.errors import ConfigError, DataError
from soundsentry.io import atomic_output, atomic_write_text

BUNDLE_FORMAT = 1
BUNDLE_FILE = "detector.json"
THRESHOLD_METHODS = ("gamma", "quantile")


class BundleError(DataError):
    """A detector folder that is not a soundsentry bundle, is damaged, or was written by an incompatible version."""


@dataclass(frozen=True)
class GroupInfo:
    """What the bundle knows of one (machine type, section).

    Attributes:
        machine_type, section: the group.
        unit: the embedding model that embeds its clips (machine type, or ``all``).
        bank: bank file, relative to the bundle folder.
        n_train: normal training clips in the bank.
        threshold: decision threshold of a clip whose domain is not known (score > threshold -> anomaly).
        method: ``gamma`` or ``quantile``.
        percentile: the quantile used, in (0, 1).
        expected_false_alarm_rate: ``1 - percentile``: share of normal clips expected above the threshold.
        measured_false_alarm_rate: share of the calibration scores above ``threshold``.
        domains: per domain (``source``, ``target``): its ``threshold``, ``n`` calibration clips and measured
            false-alarm rates (:class:`~soundsentry.deploy.thresholds.GroupThresholds`); empty in older bundles.
        threshold_rule: how ``threshold`` follows from the per-domain ones; empty in older bundles.
        calibration: the clips the thresholds were calibrated on; empty in older bundles.
    """

    machine_type: str
    section: str
    unit: str
    bank: str
    n_train: int
    threshold: float
    method: str
    percentile: float
    expected_false_alarm_rate: float
    measured_false_alarm_rate: float
    domains: dict[str, dict[str, Any]] = field(default_factory=dict)
    threshold_rule: str = ""
    calibration: str = ""

    def threshold_for(self, domain: str | None) -> float:
        """The threshold of a clip of ``domain`` (``source`` / ``target``); the domain-unknown one otherwise."""
        entry = self.domains.get(str(domain)) if domain else None
        return float(entry["threshold"]) if entry else float(self.threshold)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    import sklearn
    import torch

    import soundsentry

    return {
        "soundsentry": soundsentry.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }


def bank_name(machine_type: str, section: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in machine_type)
    return f"banks/{safe}__{section}.npz"


def _threshold(train_scores: np.ndarray, method: str, percentile: float) -> float:
    from soundsentry.deploy.thresholds import threshold_of

    return threshold_of(train_scores, method, percentile)


def _calibration_clips(run_dir: Path, clips: list[Any]) -> list[Any]:
    """The held-out normal clips listed in ``run_dir/calibration.json`` (``soundsentry fit``), as non-fit clips;
    none for a run without that file."""
    import dataclasses

    from soundsentry.types import Label, Split

    path = run_dir / CALIBRATION_FILE
    if not path.is_file():
        return []
    try:
        listed = set(json.loads(path.read_text(encoding="utf-8"))["clips"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"{path}: unreadable ({err}); run `soundsentry fit` again") from None
    held = [c for c in clips if c.path in listed]
    if len(held) != len(listed):
        raise DataError(f"{path}: lists clips the run's manifest does not have; run `soundsentry fit` again")
    return [dataclasses.replace(c, split=Split.TEST, label=Label.NORMAL) for c in held]


def check_trained(model_path: Path) -> None:
    """Refuse a ``model.pt`` whose network did not learn: its training record says so, or (a model file written
    before the record) it holds a classification head over a single class.

    Raises:
        DataError: one line naming the file and what to do.
    """
    from soundsentry.training.modelfile import read_model_file

    payload = read_model_file(model_path)
    record = payload.get("training")
    learned = record.get("learned") if isinstance(record, dict) else None
    one_class = bool(payload.get("head_state_dict")) and len(payload.get("classes", ())) < 2
    if learned is False or (record is None and one_class):
        why = record.get("reason") if isinstance(record, dict) and record.get("reason") else "one class"
        raise DataError(
            f"{model_path}: this model did not learn ({why}); it is not exported. Build a detector with "
            "`soundsentry fit DATA -o DETECTOR`, or train a recipe that needs no classes (sentry_flagship)"
        )


def _training_logits(
    run_dir: Path, recipe: Any, fit: list[Any], spec: str
) -> tuple[np.ndarray, np.ndarray, dict[tuple[str, str], int]]:
    """For a logits scorer: the training clips' clip logits (NaN-padded to the widest unit), their out-of-fold
    scores as the ``score`` stage computes them, and each group's own class."""
    from soundsentry.stages import load_logits, score_logits

    oof, class_indices = score_logits(run_dir, recipe, fit, spec)
    return load_logits(run_dir, fit).astype(np.float64), oof, class_indices


def _bank_arrays(
    fit: list[Any], idx: np.ndarray, features: np.ndarray, chunk_clip: np.ndarray | None
) -> dict[str, np.ndarray]:
    """The bank of the group whose clips are ``fit[idx]``.

    Args:
        fit: the normal training clips.
        idx: the group's rows of ``fit``.
        features: (N, D) clip embeddings (or NaN-padded logits) aligned with ``fit``, or for a chunk scorer (M, D)
            chunk embeddings.
        chunk_clip: for a chunk scorer, (M,) each chunk's index into ``fit``; None otherwise.
    """
    domains = np.array([fit[i].domain.value for i in idx])
    if chunk_clip is not None:
        chunk_features, owner = features, chunk_clip
        # grouped by clip in the order of ``fit`` (each clip's chunks in extraction order), as the score stage
        # fits a group's scorer: an order-dependent scorer (k-means) then refits to the same state
        rows = np.flatnonzero(np.isin(owner, idx))
        rows = rows[np.argsort(owner[rows], kind="stable")]
        local = np.searchsorted(idx, owner[rows])
        return {
            "chunk_embeddings": chunk_features[rows].astype(np.float32),
            "chunk_domains": domains[local],
            "chunk_clip": local.astype(np.int64),
            "domains": domains,
        }
    width = int(np.isfinite(features[idx[0]]).sum())  # logits: the unit's class count (NaN-padded)
    return {"embeddings": features[idx][:, :width].astype(np.float32), "domains": domains}


HELD_OUT = "held-out normal clips, scored by the scorer fitted on the training clips"
OUT_OF_FOLD = "the training clips' out-of-fold scores"
BOTH = "held-out normal clips (too few alone) and the training clips' out-of-fold scores"


def _calibration_rows(
    scored: list[Any], fit: list[Any], held: list[Any], group: tuple[str, str], idx: np.ndarray
) -> np.ndarray:
    """Rows of ``scored`` a group's thresholds are calibrated on: its held-out clips (rows after the training
    clips) when it has enough for a threshold, else those and its training clips' out-of-fold scores (``idx``)."""
    from soundsentry.deploy.thresholds import MIN_DOMAIN_SCORES

    rows = np.array([len(fit) + j for j, c in enumerate(held) if c.group == group], dtype=np.int64)
    return rows if rows.size >= MIN_DOMAIN_SCORES else np.concatenate([idx, rows])


def export_detector(
    run_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    scorer: str | None = None,
    method: str = "gamma",
    percentile: float = 0.9,
    force: bool = False,
) -> Path:
    """Bundle a trained and extracted run into a detector folder.

    Args:
        run_dir: a run folder after ``train`` and ``extract`` (``embeddings.npz``).
        out_dir: the detector folder to write; it is built in a temporary folder next to it and renamed, so a
            crash never leaves a half-written bundle.
        scorer: scorer spec (default: the recipe's first ``score.scorers`` entry).
        method: threshold rule, ``gamma`` or ``quantile``.
        percentile: threshold quantile in (0, 1); the expected false-alarm rate is ``1 - percentile``.
        force: replace an existing ``out_dir``.

    Returns:
        ``out_dir``.
    """
    from soundsentry.deploy.thresholds import RULE, group_thresholds
    from soundsentry.scoring import is_fit_clip, score_clips
    from soundsentry.stages import CONFIG_FILE, MANIFEST_FILE, _read_clips, load_centres, load_embeddings
    from soundsentry.training.data import unit_of
    from soundsentry.training.trainer import MODEL_FILE
    from soundsentry.types import Domain

    if method not in THRESHOLD_METHODS:
        raise ConfigError(f"unknown threshold method {method!r}; valid: {', '.join(THRESHOLD_METHODS)}")
    if not 0.0 < float(percentile) < 1.0:
        raise ConfigError(f"percentile is a fraction in (0, 1), e.g. 0.9 for a 10 % false-alarm rate; got {percentile}")
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if out_dir.exists() and not force:
        raise ConfigError(f"{out_dir} exists; choose another folder or pass --force to replace it")
    from soundsentry.config import load_recipe

    config = run_dir / CONFIG_FILE
    if not config.is_file():
        raise DataError(f"{run_dir}: no {CONFIG_FILE}; train and extract a run first (`soundsentry run`)")
    recipe = load_recipe(config)
    if recipe.train.phase == "autoencoder":  # the one refusal for AE runs; detector.py never sees one
        raise ConfigError(
            f"{run_dir}: cannot export an autoencoder run (train.phase: autoencoder) yet: a bundle holds an embedding "
            "model, not the AE with its per-section covariances; score new clips with `soundsentry run` / `score`"
        )
    clips = _read_clips(run_dir / MANIFEST_FILE)
    spec = scorer or (recipe.score.scorers[0] if recipe.score.scorers else None)
    if not spec:
        raise ConfigError(f"{config}: the recipe names no scorer; pass --scorer, e.g. --scorer knn_cosine:k=10")
    from soundsentry.scorers import create_scorer

    probe = create_scorer(spec)  # an unknown scorer fails before any work
    fit = [c for c in clips if is_fit_clip(c)]
    if not fit:
        raise DataError(f"{run_dir / MANIFEST_FILE}: no normal training clips to fit the detector on")
    for unit in sorted({unit_of(c, recipe.train.mode) for c in fit}):
        if (run_dir / "models" / unit / MODEL_FILE).is_file():
            check_trained(run_dir / "models" / unit / MODEL_FILE)
    held = _calibration_clips(run_dir, clips)
    scored = fit + held  # the rows of ``features`` / ``oof``: training clips first, then held-out normals
    class_indices: dict[tuple[str, str], int] = {}
    kind = getattr(probe, "input_kind", "embedding")
    chunk_clip: np.ndarray | None = None  # for a chunk scorer: each row of ``features`` is a chunk of this clip
    centres = load_centres(run_dir, fit) if getattr(probe, "wants_centres", False) else None
    # Training clips get out-of-fold scores, held-out clips the scores of a scorer fitted on the training clips,
    # computed the way the detector will score new clips (their domain is not known, so a domain-aware scorer
    # takes the more normal of its two models).
    if kind == "logits":
        features, oof, class_indices = _training_logits(run_dir, recipe, scored, spec)
        centres = None
    elif kind == "chunks":
        from soundsentry.chunk_scoring import score_chunk_clips
        from soundsentry.runfiles import load_chunk_embeddings

        features, chunk_clip = load_chunk_embeddings(run_dir, scored)
        features = features.astype(np.float64)
        oof = score_chunk_clips(features, chunk_clip, scored, spec, centres=centres, domain=Domain.UNKNOWN)
    else:
        features = load_embeddings(run_dir, scored).astype(np.float64)
        oof = score_clips(features, scored, spec, centres=centres, domain=Domain.UNKNOWN)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        units = sorted({unit_of(c, recipe.train.mode) for c in fit})
        for unit in units:
            source = run_dir / "models" / unit / MODEL_FILE
            if not source.is_file():
                raise DataError(f"{source} is missing; train the run first (`soundsentry train`)")
            (staging / "models").mkdir(exist_ok=True)
            shutil.copy2(source, staging / "models" / f"{unit}.pt")
        groups: list[GroupInfo] = []
        for group in sorted({c.group for c in fit}):
            idx = np.array([i for i, c in enumerate(fit) if c.group == group])
            rel = bank_name(*group)
            (staging / rel).parent.mkdir(exist_ok=True)
            arrays = _bank_arrays(fit, idx, features, chunk_clip)
            if centres is not None:
                arrays["centres"] = np.asarray(centres[group], dtype=np.float32)
                # Each row's class domain, so the refitted domain-aware scorer starts each domain's model from
                # its own centres (train.classes: section_domain), as the score stage does.
                arrays["centre_domains"] = np.array([d.value for d in centres[group].domains])
            if group in class_indices:
                arrays["class_index"] = np.array(class_indices[group])
            with atomic_output(staging / rel) as tmp, open(tmp, "wb") as f:
                np.savez(f, **arrays)
            cal = _calibration_rows(scored, fit, held, group, idx)
            limits = group_thresholds(oof[cal], [scored[i].domain.value for i in cal], method, percentile)
            groups.append(
                GroupInfo(
                    machine_type=group[0],
                    section=group[1],
                    unit=unit_of(fit[idx[0]], recipe.train.mode),
                    bank=rel,
                    n_train=int(idx.size),
                    threshold=limits.threshold,
                    method=method,
                    percentile=float(percentile),
                    expected_false_alarm_rate=round(1.0 - float(percentile), 12),
                    measured_false_alarm_rate=limits.measured_false_alarm_rate,
                    domains=limits.domains,
                    threshold_rule=RULE,
                    calibration=HELD_OUT if cal[0] >= len(fit) else (BOTH if cal[-1] >= len(fit) else OUT_OF_FOLD),
                )
            )
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        from soundsentry.deploy.quality import recipe_min_seconds

        meta = {
            "format": BUNDLE_FORMAT,
            "kind": "soundsentry-detector",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "versions": _versions(),
            "run": str(run_dir.resolve()),
            "recipe": recipe.to_dict(),
            "scorer": spec,
            "min_seconds": recipe_min_seconds(recipe),  # shortest clip the input-quality gate lets through
            "units": {unit: f"models/{unit}.pt" for unit in units},
            "groups": [asdict(g) for g in groups],
            "manifest_summary": {
                "clips": len(clips),
                "normal_training_clips": len(fit),
                "held_out_normal_clips": len(held),
                "per_group": {f"{t}/{s}": n for (t, s), n in sorted(Counter(c.group for c in fit).items())},
                "datasets": sorted({c.dataset for c in clips}),
            },
            "files": {str(p.relative_to(staging)): _sha256(p) for p in files},
        }
        atomic_write_text(staging / BUNDLE_FILE, json.dumps(meta, indent=2) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def read_bundle_meta(path: str | os.PathLike[str], *, verify: bool = True) -> dict[str, Any]:
    """``detector.json`` of a bundle, checked: the folder, the format, the listed files and their hashes.

    Raises:
        BundleError: one line saying what is wrong and what to do.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise BundleError(f"{folder}: no such detector folder; create one with `soundsentry export RUN -o {folder}`")
    meta_path = folder / BUNDLE_FILE
    if not meta_path.is_file():
        raise BundleError(
            f"{folder}: no {BUNDLE_FILE}, not a soundsentry detector; export one with `soundsentry export`"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{meta_path}: unreadable ({err}); the bundle is damaged, export it again") from None
    if not isinstance(meta, dict) or meta.get("kind") != "soundsentry-detector":
        raise BundleError(f"{meta_path}: not a soundsentry detector description; export one with `soundsentry export`")
    fmt = meta.get("format")
    if fmt != BUNDLE_FORMAT:
        written_by = meta.get("versions", {}).get("soundsentry", "?")
        raise BundleError(
            f"{meta_path}: bundle format {fmt} (written by soundsentry {written_by}) but this soundsentry reads "
            f"format {BUNDLE_FORMAT}; export the run again with this version, or install soundsentry {written_by}"
        )
    required = ("recipe", "scorer", "units", "groups", "files")
    missing = [key for key in required if key not in meta]
    if missing:
        raise BundleError(f"{meta_path}: missing {', '.join(missing)}; the bundle is damaged, export it again")
    if verify:
        for rel, digest in meta["files"].items():
            file = folder / rel
            if not file.is_file():
                raise BundleError(f"{file}: listed in {BUNDLE_FILE} but missing; bundle incomplete, copy it again")
            if _sha256(file) != digest:
                raise BundleError(f"{file}: checksum mismatch; the bundle is damaged or was edited, export it again")
    return meta


__all__ = [
    "BUNDLE_FILE",
    "BUNDLE_FORMAT",
    "CALIBRATION_FILE",
    "THRESHOLD_METHODS",
    "BundleError",
    "GroupInfo",
    "bank_name",
    "check_trained",
    "export_detector",
    "read_bundle_meta",
]
