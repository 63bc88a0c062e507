"""Fit scorers per (machine type, section) and score every clip, training clips out of fold.

Test clips are scored by a scorer fitted on all training clips of their group. Training clips are scored
out of fold (a scorer fitted on the other folds of the group's training clips), so their scores are honest
samples of "normal" and can set decision thresholds; a k-NN scorer would otherwise give every training clip 0.

Scorers that need more than embeddings get it as typed arguments: a scorer with ``uses_domains`` (e.g.
``domain_aware``) receives each clip's :class:`~soundsentry.types.Domain` in ``fit`` and ``anomaly_score``; one
with ``wants_centres`` (``gmm:init=centres``) receives the group's learned sub-cluster centres in ``fit``; one with
``wants_covariances`` (``selective_mahalanobis``) the group's source / target error covariances of an autoencoder
run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from soundsentry.errors import ConfigError, DataError
from soundsentry.types import Clip, Domain, Label, Split

if TYPE_CHECKING:
    from soundsentry.scorers.centres import GroupCentres


def is_fit_clip(clip: Clip) -> bool:
    """Models are fitted on normal training clips only (a labelled folder may list training anomalies)."""
    return clip.split is Split.TRAIN and clip.label is Label.NORMAL


def _group_indices(clips: Sequence[Clip]) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    train: dict[tuple[str, str], list[int]] = defaultdict(list)
    other: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, clip in enumerate(clips):
        (train if is_fit_clip(clip) else other)[clip.group].append(i)
    missing = sorted(set(other) - set(train))
    if missing:
        names = ", ".join(f"{t} section {s}" for t, s in missing[:5])
        raise DataError(
            f"no training clips for {names}; every tested machine type and section needs normal training clips."
        )
    return {g: (np.array(train[g]), np.array(other.get(g, []), dtype=int)) for g in train}


# A group's centres: an array, or GroupCentres whose rows carry their class's domain (train.classes: section_domain).
Centres = Mapping[tuple[str, str], "np.ndarray | GroupCentres"]


def fit_scorer_on(
    spec: str,
    X: np.ndarray,
    *,
    domains: Sequence[Domain] | None = None,
    centres: np.ndarray | None = None,
    class_index: int | None = None,
    covariances: Any = None,
    clip_index: Sequence[int] | None = None,
    where: str = "",
) -> Any:
    """A new scorer of ``spec`` fitted on the normal embeddings ``X`` of one group.

    Args:
        spec: scorer spec.
        X: (N, D) normal training embeddings of one (machine type, section).
        domains: the N rows' domains, passed to a scorer with ``uses_domains``.
        centres: (K, D) learned centres of the group, passed to a scorer with ``wants_centres``.
        class_index: the group's own class in the classifier, for a logits scorer (``softmax_id``) whose spec
            leaves ``class_index`` unset; it then need not learn it from the training logits.
        covariances: the group's :class:`~soundsentry.scorers.autoencoder.DomainCovariances`, passed to a scorer
            with ``wants_covariances`` (without them it estimates its own from ``X``).
        clip_index: for chunk rows, each row's clip, passed to a scorer with ``wants_clip_index``
            (``chunks:...,normalise=domain`` holds whole clips out of its own statistics).
        where: the group, for error messages (``fan section 00``).
    """
    from soundsentry.scorers import create_scorer

    scorer = create_scorer(spec)
    kwargs: dict[str, Any] = {}
    if getattr(scorer, "uses_domains", False):
        if domains is None:
            raise ConfigError(f"scorer {spec!r} needs the training clips' domains{' for ' + where if where else ''}")
        kwargs["domains"] = list(domains)
    if getattr(scorer, "wants_centres", False):
        if centres is None:
            raise ConfigError(
                f"scorer {spec!r} is initialised from learned sub-cluster centres, but none were given"
                f"{' for ' + where if where else ''}; score a run trained with an adacos / subcluster_adacos head, "
                "or drop init=centres"
            )
        kwargs["centres"] = centres
    if getattr(scorer, "wants_covariances", False) and covariances is not None:
        kwargs["covariances"] = covariances
    if getattr(scorer, "wants_clip_index", False):
        if clip_index is None:
            raise ConfigError(f"scorer {spec!r} needs each chunk's clip{' for ' + where if where else ''}")
        kwargs["clip_index"] = clip_index
    if class_index is not None and getattr(scorer, "input_kind", "") == "logits" and scorer.class_index is None:
        scorer.class_index = int(class_index)
    return scorer.fit(X, **kwargs)


def fit_scorer(
    spec: str,
    features: np.ndarray,
    clips: Sequence[Clip],
    rows: np.ndarray,
    centres: Centres | None = None,
    class_indices: Mapping[tuple[str, str], int] | None = None,
    covariances: Mapping[tuple[str, str], Any] | None = None,
) -> Any:
    """A new scorer of ``spec`` fitted on ``features[rows]``, given the domains / centres it asks for.

    Args:
        spec: scorer spec.
        features: (N, D) embeddings aligned with ``clips``.
        clips: the clips.
        rows: indices of the (normal training) rows to fit on, all of one group.
        centres: {(machine type, section): (K, D) centres}, for scorers with ``wants_centres``.
        class_indices: {(machine type, section): own class}, for logits scorers.
        covariances: {(machine type, section): DomainCovariances}, for scorers with ``wants_covariances``.
    """
    group = clips[int(rows[0])].group
    return fit_scorer_on(
        spec,
        features[rows],
        domains=[clips[i].domain for i in rows],
        centres=None if centres is None else centres.get(group),
        class_index=None if class_indices is None else class_indices.get(group),
        covariances=None if covariances is None else covariances.get(group),
        where=f"{group[0]} section {group[1]}",
    )


def score_rows(
    scorer: Any, features: np.ndarray, clips: Sequence[Clip], rows: np.ndarray, *, domain: Domain | None = None
) -> np.ndarray:
    """Anomaly scores of ``features[rows]``, passing the clips' domains to a scorer with ``uses_domains``.

    ``domain`` scores every row as if its domain were that one (``Domain.UNKNOWN``: as a deployed detector sees
    new clips) instead of the clips' own.
    """
    if getattr(scorer, "uses_domains", False):
        domains = [domain or clips[i].domain for i in rows]
        return scorer.anomaly_score(features[rows], domains=domains)
    return scorer.anomaly_score(features[rows])


def score_clips(
    features: np.ndarray,
    clips: Sequence[Clip],
    spec: str,
    *,
    n_folds: int = 5,
    seed: int = 0,
    centres: Centres | None = None,
    domain: Domain | None = None,
    class_indices: Mapping[tuple[str, str], int] | None = None,
    covariances: Mapping[tuple[str, str], Any] | None = None,
) -> np.ndarray:
    """Anomaly scores for every clip from a scorer spec such as ``"knn:k=1"``.

    Args:
        features: (N, D) one feature vector (embedding) per clip, aligned with ``clips``.
        clips: the clips, with their machine type, section and split.
        spec: scorer spec ``name:key=value,...`` (see ``soundsentry list``).
        n_folds: folds for the out-of-fold scores of training clips (at most the group's training count).
        seed: seed of the fold assignment.
        centres: {(machine type, section): (K, D) learned centres} for scorers such as ``gmm:init=centres``.
        domain: score every non-fitted row as if its domain were this one (see :func:`score_rows`).
        class_indices: {(machine type, section): own class index} for logits scorers (``softmax_id``).
        covariances: {(machine type, section): DomainCovariances} for ``selective_mahalanobis`` on an AE run.

    Returns:
        (N,) scores, higher = more anomalous; NaN for training clips of a group with a single training clip.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) != len(clips):
        raise DataError(f"features have shape {features.shape} but {len(clips)} clips were given; expected (N, D).")
    scores = np.full(len(clips), np.nan)
    for kept, held in fold_plan(clips, n_folds, seed):
        scorer = fit_scorer(spec, features, clips, kept, centres, class_indices, covariances)
        scores[held] = score_rows(scorer, features, clips, held, domain=domain)
    return scores


def fold_plan(clips: Sequence[Clip], n_folds: int = 5, seed: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(rows to fit on, rows to score)`` per group: all its training clips for its other clips, then each fold of
    its training clips scored by the other folds (at most ``n_folds``; none for a group with one training clip).

    Both :func:`score_clips` and :func:`soundsentry.chunk_scoring.score_chunk_clips` follow this plan, so clip- and
    chunk-level scores of a set hold out the same training clips together.
    """
    rng = np.random.default_rng(seed)
    for train_idx, other_idx in _group_indices(clips).values():
        if other_idx.size:
            yield train_idx, other_idx
        folds = min(n_folds, train_idx.size)
        if folds < 2:
            continue
        assignment = rng.permutation(np.arange(train_idx.size) % folds)
        for fold in range(folds):
            yield train_idx[assignment != fold], train_idx[assignment == fold]
