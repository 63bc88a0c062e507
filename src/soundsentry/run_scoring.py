"""What a run's trained heads give the scorers: per-unit logits (S4's ``softmax_id``), each group's own class,
the learned sub-cluster centres (S3's ``gmm:init=centres``), and in-sample scores for groups too small for
out-of-fold scoring. The score stage (:func:`soundsentry.stages.score`) and detector export use these."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from soundsentry.config import Recipe
from soundsentry.errors import DataError
from soundsentry.runfiles import CLASS_MAPS_FILE, load_logits, load_run
from soundsentry.types import Clip, Split

if TYPE_CHECKING:
    from soundsentry.scorers.centres import GroupCentres


def _fill_unscored_train(
    features: np.ndarray,
    clips: Sequence[Clip],
    scores: np.ndarray,
    spec: str,
    centres: Any = None,
    class_indices: Any = None,
    covariances: Any = None,
) -> np.ndarray:
    """Training clips of a group with one training clip get no out-of-fold score; score them in sample."""
    from soundsentry.scoring import fit_scorer, score_rows

    for group in sorted({clips[i].group for i in np.flatnonzero(~np.isfinite(scores))}):
        idx = np.array([i for i, c in enumerate(clips) if c.group == group and c.split is Split.TRAIN])
        scorer = fit_scorer(spec, features, clips, idx, centres, class_indices, covariances)
        scores[idx] = np.where(np.isfinite(scores[idx]), scores[idx], score_rows(scorer, features, clips, idx))
    return scores


def load_centres(run_dir: str | os.PathLike[str], clips: Sequence[Clip]) -> dict[tuple[str, str], GroupCentres]:
    """Learned sub-cluster centres per (machine type, section): the centres of every class of the group, each row
    tagged with its class's domain.

    Read from each unit's ``model.pt`` (head weights and class map); a group's classes are those whose key is
    its section (``fan/00`` in ``all`` mode), or starts with it (``fan/00/source`` ...). With ``train.classes:
    section_domain`` (S3's C = 84) a group has a source and a target class: the domain-aware scorer starts its
    source GMM from the source rows only (:meth:`GroupCentres.of`). Empty when the run's head has no ``centres``
    (e.g. ArcFace).
    """
    import torch

    from soundsentry.scorers.centres import tag_rows
    from soundsentry.training.data import unit_of
    from soundsentry.training.modelfile import MODEL_FILE, build_head

    run_dir = Path(run_dir)
    recipe, _ = load_run(run_dir)
    out: dict[tuple[str, str], np.ndarray] = {}
    for unit in sorted({unit_of(c, recipe.train.mode) for c in clips}):
        path = run_dir / "models" / unit / MODEL_FILE
        if not path.is_file():
            raise DataError(f"{path} is missing: {unit} has no trained model; run `soundsentry train` on this run")
        payload = torch.load(path, map_location="cpu", weights_only=False)
        state = payload["head_state_dict"]
        if "weight" not in state:  # a head without class centres (or none at all)
            return {}
        head = build_head(recipe.head, int(state["weight"].shape[1]), len(payload["classes"]))
        head.load_state_dict(state)
        if not hasattr(head, "centres"):
            return {}
        centres = head.centres.numpy().astype(np.float64)  # (C, S, D)
        for group in {c.group for c in clips if unit_of(c, recipe.train.mode) == unit}:
            base = f"{group[0]}/{group[1]}" if recipe.train.mode == "all" else group[1]
            rows = [i for i, key in enumerate(payload["classes"]) if key == base or key.startswith(base + "/")]
            if rows:
                out[group] = tag_rows(centres[rows], [payload["classes"][i] for i in rows], base)
    return out


def _input_kind(spec: str) -> str:
    from soundsentry.scorers import create_scorer

    return str(getattr(create_scorer(spec), "input_kind", "embedding"))


def group_class_indices(clips: Sequence[Clip], classes: Sequence[str], mode: str) -> dict[tuple[str, str], int]:
    """Own class of each (machine type, section) in a unit's class map: the class whose key is the section
    (``fan/00`` in ``all`` mode). Groups with several classes (``train.classes: section_domain``) are left out, so a
    logits scorer learns theirs from the training logits."""
    index = {key: i for i, key in enumerate(classes)}
    out = {}
    for group in {c.group for c in clips}:
        key = f"{group[0]}/{group[1]}" if mode == "all" else group[1]
        if key in index:
            out[group] = index[key]
    return out


def _logit_units(
    run_dir: Path, recipe: Recipe, clips: Sequence[Clip]
) -> Iterator[tuple[np.ndarray, list[Clip], np.ndarray, dict[tuple[str, str], int]]]:
    """Per model unit (each head has its own classes): the rows of ``clips`` it embeds, those clips, their clip
    logits (n, the unit's class count) and the own class of each of their (machine type, section) groups."""
    from soundsentry.training.data import unit_of

    logits = load_logits(run_dir, clips).astype(np.float64)
    maps_file = run_dir / CLASS_MAPS_FILE
    if not maps_file.is_file():
        raise DataError(f"{maps_file} is missing; rerun `soundsentry train` on this run folder")
    class_maps = json.loads(maps_file.read_text(encoding="utf-8"))
    units = [unit_of(c, recipe.train.mode) for c in clips]
    for unit in sorted(set(units)):
        rows = np.array([i for i, u in enumerate(units) if u == unit])
        sub = [clips[i] for i in rows]
        yield (
            rows,
            sub,
            logits[rows][:, : len(class_maps[unit])],
            group_class_indices(sub, class_maps[unit], recipe.train.mode),
        )


def score_logits(
    run_dir: Path, recipe: Recipe, clips: Sequence[Clip], spec: str
) -> tuple[np.ndarray, dict[tuple[str, str], int]]:
    """Scores of a logits scorer (``softmax_id``), unit by unit (training clips get out-of-fold scores), and the
    own class of every (machine type, section) of ``clips`` in its unit's classifier."""
    from soundsentry.scoring import score_clips

    scores = np.full(len(clips), np.nan)
    class_indices: dict[tuple[str, str], int] = {}
    for rows, sub, X, indices in _logit_units(run_dir, recipe, clips):
        part = score_clips(X, sub, spec, class_indices=indices)
        scores[rows] = _fill_unscored_train(X, sub, part, spec, class_indices=indices)
        class_indices.update(indices)
    return scores, class_indices


def load_covariances(run_dir: str | os.PathLike[str], clips: Sequence[Clip]) -> dict[tuple[str, str], Any]:
    """Error covariances (:class:`~soundsentry.scorers.autoencoder.DomainCovariances`) per (machine type, section)
    from the ``model.pt`` files of an autoencoder run (``train.phase: autoencoder``); empty for any other run."""
    from soundsentry.baselines.ae_run import load_covariances as from_models

    recipe, _ = load_run(Path(run_dir))
    return from_models(run_dir, recipe, clips)


def _wants_covariances(spec: str) -> bool:
    from soundsentry.scorers import create_scorer

    return bool(getattr(create_scorer(spec), "wants_covariances", False))


def _wants_centres(spec: str) -> bool:
    from soundsentry.scorers import create_scorer

    return bool(getattr(create_scorer(spec), "wants_centres", False))
