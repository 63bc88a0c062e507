"""Fusion of several runs: z-normalise each scores file per (machine type, section), then the mean or the minimum.

Each file's scores of a group are centred and scaled with the mean and standard deviation of that file's scores
of the group's normal *training* clips. ``soundsentry score`` writes those out of fold, so they are honest samples
of "normal" (a file whose training scores were computed in sample, e.g. all 0 for 1-NN, has no spread and is
refused). The fused score of a clip is the mean (``mean``) or the minimum (``min``) of its z-scores over the files.
Fusion of several scorers on one run's embeddings is the ``fusion`` scorer (:mod:`soundsentry.scorers.fusion`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from soundsentry.errors import ConfigError, DataError
from soundsentry.types import Clip, Split

METHODS = ("mean", "min")


def _is_fit_clip(clip: Clip) -> bool:
    from soundsentry.scoring import is_fit_clip

    return is_fit_clip(clip)


def fuse_scores(
    score_maps: Sequence[Mapping[str, float]], clips: Sequence[Clip], method: str = "mean", names: Sequence[str] = ()
) -> tuple[list[Clip], np.ndarray]:
    """Fused scores of the clips every map scores.

    Args:
        score_maps: one ``{clip path: score}`` per run (as :func:`~soundsentry.evaluation.read_scores` returns).
        clips: the manifest's clips; every test clip needs a score in every map.
        method: ``mean`` or ``min`` of the z-scores.
        names: a name per map for error messages (the file paths).

    Returns:
        The fused clips (manifest order: every test clip, and the training clips every map scores) and their (N,)
        fused scores.
    """
    if method not in METHODS:
        raise ConfigError(f"fusion method must be one of {', '.join(METHODS)}, got {method!r}")
    if len(score_maps) < 2:
        raise ConfigError(f"fusion needs at least two scores files, got {len(score_maps)}")
    names = list(names) or [f"scores #{i + 1}" for i in range(len(score_maps))]
    for name, scores in zip(names, score_maps, strict=True):
        missing = [c.path for c in clips if c.split is Split.TEST and c.path not in scores]
        if missing:
            raise DataError(
                f"{name}: {len(missing)} test clips have no score (e.g. {missing[0]}); score the same manifest's run"
            )
    kept = [c for c in clips if c.split is Split.TEST or all(c.path in s for s in score_maps)]
    z = np.empty((len(score_maps), len(kept)))
    groups = sorted({c.group for c in kept})
    for f, (name, scores) in enumerate(zip(names, score_maps, strict=True)):
        for group in groups:
            fit = [c for c in clips if c.group == group and _is_fit_clip(c) and c.path in scores]
            train = np.array([scores[c.path] for c in fit])
            where = f"{group[0]} section {group[1]}"
            if train.size < 2:
                raise DataError(
                    f"{name}: {where} has {train.size} training-clip scores but z-normalisation needs at least 2; "
                    "fuse files written by `soundsentry score` (they hold out-of-fold training scores)"
                )
            mean, std = float(train.mean()), float(train.std())
            if std <= 1e-12 * max(1.0, abs(mean)):
                raise DataError(
                    f"{name}: the training-clip scores of {where} are all equal ({mean:g}); they are not out of fold, "
                    "so they cannot scale the scores: fuse files written by `soundsentry score`"
                )
            rows = [i for i, c in enumerate(kept) if c.group == group]
            z[f, rows] = (np.array([scores[kept[i].path] for i in rows]) - mean) / std
    return kept, z.mean(axis=0) if method == "mean" else z.min(axis=0)


def fuse_score_files(
    paths: Sequence[str | os.PathLike[str]],
    clips: Sequence[Clip],
    method: str = "mean",
    out: str | os.PathLike[str] | None = None,
) -> tuple[list[Clip], np.ndarray]:
    """Read scores files, fuse them (:func:`fuse_scores`) and write ``out`` atomically when given.

    Args:
        paths: ``path,anomaly_score`` files of runs on the same manifest.
        clips: the manifest's clips.
        method: ``mean`` or ``min``.
        out: the fused scores file to write (``path,anomaly_score``), or None.

    Returns:
        The fused clips and their scores.
    """
    from soundsentry.evaluation import read_scores, write_scores

    maps = [read_scores(p) for p in paths]
    kept, fused = fuse_scores(maps, clips, method, names=[str(p) for p in paths])
    if out is not None:
        write_scores(Path(out), kept, fused)
    return kept, fused


def fuse(
    paths: Sequence[str | os.PathLike[str]],
    manifest: str | os.PathLike[str],
    out: str | os.PathLike[str],
    method: str = "mean",
) -> Path:
    """``soundsentry fuse``: fuse scores files of runs on ``manifest`` into ``out``; prints one line."""
    from soundsentry.data.manifest import read_manifest

    clips = read_manifest(manifest)
    if not clips:
        raise DataError(f"{manifest}: the manifest lists no clips; run `soundsentry prepare` on a data folder first")
    kept, _ = fuse_score_files(paths, clips, method, out)
    print(f"fused {len(paths)} scores files ({method} of z-scores) for {len(kept)} clips -> {out}")
    return Path(out)
