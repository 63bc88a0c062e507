"""Data and evaluation stages as plain functions: synth, prepare, reference, evaluate.

They read and write files (manifest, scores, tables) and know nothing of training, so the training stages
(:mod:`soundsentry.stages`) build on them; :mod:`soundsentry.pipeline` re-exports them next to the demo.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from soundsentry.errors import DataError
from soundsentry.types import Clip, Split


def synth(
    out: Path,
    *,
    seed: int = 0,
    scale: float = 1.0,
    seconds: float | None = None,
    sections: int | None = None,
    force: bool = False,
):
    """Generate the benchmark data set under ``out`` and print what was written."""
    from soundsentry.data.synth import generate

    kwargs: dict[str, Any] = {} if seconds is None else {"seconds": seconds}
    if sections is not None:
        kwargs["sections"] = sections
    start = time.perf_counter()
    summary = generate(out, seed=seed, scale=scale, force=force, **kwargs)
    if summary.generated:
        print(f"generated {summary.n_files} clips in {out} ({time.perf_counter() - start:.1f} s)")
    else:
        print(f"{out} already holds this generated set ({summary.n_files} clips); nothing to do")
    return summary


def prepare(root: Path, out: Path, *, layout: str | None = None, verbose: bool = True, **options: Any) -> list[Clip]:
    """Parse ``root`` into clip records, write the manifest ``out`` and print its summary.

    ``options`` go to the layout (e.g. ``labels_csv``, ``normal_labels`` for a CSV-labelled ``folder``).
    """
    from soundsentry.data.layouts import parse_dataset
    from soundsentry.data.manifest import summarize, write_manifest

    result = parse_dataset(root, layout=layout, **options)
    write_manifest(result.clips, out)
    if verbose:
        print(f"layout: {result.layout}; {len(result.clips)} clips -> {out}")
        print(summarize(result.clips, result.unknown, result.notes))
    return result.clips


def _load_manifest(path: Path) -> list[Clip]:
    from soundsentry.data.manifest import read_manifest

    clips = read_manifest(path)
    if not clips:
        raise DataError(f"{path}: the manifest lists no clips; run `soundsentry prepare` on a data folder first.")
    return clips


def reference(manifest: Path, out: Path, *, detector: str = "logmel_1nn", sample_rate: int = 16000) -> np.ndarray:
    """Score every clip of ``manifest`` with a reference detector and write the scores file ``out``."""
    from soundsentry.evaluation import write_scores
    from soundsentry.reference import reference_scores

    clips = _load_manifest(manifest)
    scores = reference_scores(clips, detector=detector, sample_rate=sample_rate)
    write_scores(out, clips, scores)
    print(f"{detector}: scored {len(clips)} clips -> {out}")
    return scores


def _read_any_scores(scores_path: Path, clips: list[Clip]) -> tuple[np.ndarray, dict[str, float]]:
    """Scores of the test clips (each must have one) and whatever training-clip scores the file holds."""
    from soundsentry.evaluation import align_scores, read_official_scores, read_scores

    test = [c for c in clips if c.split is Split.TEST]
    if scores_path.is_dir():
        return read_official_scores(scores_path, test), {}
    if not scores_path.exists():
        raise DataError(f"{scores_path}: no such scores file; run `soundsentry reference` (or score) first.")
    by_path = read_scores(scores_path)
    return align_scores(test, by_path), by_path


def evaluate(
    manifest: Path,
    scores_path: Path,
    *,
    out_dir: Path | None = None,
    rule: str | None = None,
    max_fpr: float = 0.1,
    threshold_percentile: float = 0.9,
    verbose: bool = True,
):
    """Evaluate a scores file against a manifest; print the table and write tables and official CSVs.

    ``out_dir`` is written as a whole: the files go to a temporary folder next to it, which then replaces it, so
    it never holds files of two evaluations (an existing folder must hold only an earlier evaluation's files).
    """
    from soundsentry import evaluation as ev

    if out_dir is not None:
        _check_evaluation_folder(Path(out_dir))
    clips = _load_manifest(manifest)
    test = [c for c in clips if c.split is Split.TEST]
    if not test:
        raise DataError(f"{manifest}: the manifest has no test clips to evaluate; prepare a folder with test data.")
    test_scores, by_path = _read_any_scores(Path(scores_path), clips)
    # Decisions as the baselines make them: score > the gamma threshold of the section's training-clip scores.
    thresholds: dict[tuple[str, str], float] | None = _gamma_thresholds(clips, by_path, threshold_percentile)
    if not {c.group for c in test} <= set(thresholds or {}):
        thresholds = None
    decisions = None
    if thresholds is not None:
        decisions = [int(ev.decide([s], thresholds[c.group])[0]) for c, s in zip(test, test_scores, strict=True)]
    result = ev.evaluate(test, test_scores, rule=rule, max_fpr=max_fpr, decisions=decisions)
    if verbose:
        print(ev.format_table(result))
    if out_dir is not None:
        out_dir = Path(out_dir)
        with replaced_folder(out_dir) as staging:
            ev.write_csv(result, staging / "results.csv")
            ev.write_markdown(result, staging / "results.md")
            ev.write_official_csvs(test, test_scores, staging / "official", thresholds=thresholds, rule=result.rule)
        if thresholds is None and verbose:
            print(
                "note: no decision_result CSVs and no precision / recall / F1: the scores file lacks training-clip "
                "scores for some sections"
            )
        if verbose:
            print(f"tables and official CSVs -> {out_dir}")
    return result


#: What ``evaluate`` writes into its output folder; a folder holding anything else is not replaced.
EVALUATION_ENTRIES = frozenset({"results.csv", "results.md", "official"})


def _check_evaluation_folder(out_dir: Path) -> None:
    """Refuse, before any work, an output path that is a file or a folder holding other files than an evaluation's
    (replacing it as a whole would delete them)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir} is a file; -o names a folder for the tables and official CSVs")
    if out_dir.is_dir():
        foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in EVALUATION_ENTRIES)
        if foreign:
            raise DataError(
                f"{out_dir} holds files that no evaluation wrote (e.g. {foreign[0]}), and evaluate replaces its "
                "output folder as a whole; pass a new or empty folder with -o"
            )


@contextmanager
def replaced_folder(out_dir: Path) -> Iterator[Path]:
    """Yield an empty staging folder next to ``out_dir``; when the block succeeds, the staging folder replaces
    ``out_dir`` as a whole (the old one is renamed aside, then deleted), so a reader never sees a mix of two
    versions and a crash leaves the old folder, not a half-written one. On error the staging folder is removed."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.{secrets.token_hex(4)}.tmp"
    staging.mkdir()
    aside: Path | None = None
    try:
        yield staging
        if out_dir.exists():
            aside = out_dir.parent / f".{out_dir.name}.{secrets.token_hex(4)}.old"
            os.rename(out_dir, aside)
        os.rename(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if aside is not None and not out_dir.exists():
            os.rename(aside, out_dir)  # the swap failed half-way: put the old folder back
            aside = None
        raise
    finally:
        if aside is not None and aside.exists() and out_dir.exists():
            shutil.rmtree(aside, ignore_errors=True)


def _gamma_thresholds(clips: list[Clip], by_path: dict[str, float], percentile: float) -> dict[tuple[str, str], float]:
    """Per (machine type, section): the gamma-fit threshold of the normal training clips' scores, when scored."""
    from soundsentry.scoring import is_fit_clip

    train: dict[tuple[str, str], list[float]] = {}
    for clip in clips:
        value = by_path.get(clip.path)
        if is_fit_clip(clip) and value is not None and np.isfinite(value):
            train.setdefault(clip.group, []).append(value)
    return {g: _section_threshold(np.array(v), percentile) for g, v in train.items() if len(v) >= 3}


def _section_threshold(train_scores: np.ndarray, percentile: float) -> float:
    """The gamma threshold of one section's training scores; when they are all equal (a constant detector), that
    value: every quantile of a point mass is the point, so every clip is decided normal and evaluation goes on
    (AUC and pAUC 50 %, as the official evaluator reports them) instead of refusing."""
    from soundsentry.evaluation import fit_gamma_threshold

    if np.ptp(train_scores) == 0.0 and np.isfinite(train_scores[0]):
        return float(train_scores[0])
    return fit_gamma_threshold(train_scores, percentile=percentile)
