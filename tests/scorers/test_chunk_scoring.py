"""Chunk-level scoring: the ``chunks`` scorer, pooling, out-of-fold training scores, and the patch reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from soundsentry.chunk_scoring import score_chunk_clips
from soundsentry.errors import ConfigError
from soundsentry.scorers import create_scorer
from soundsentry.scorers.chunks import pool_scores
from soundsentry.types import Clip, Domain, Label, Split


def _clips(n_train: int, n_test: int) -> list[Clip]:
    train = [Clip(f"/x/tr{i}.wav", "fan", "00", Domain.SOURCE, Split.TRAIN, Label.NORMAL) for i in range(n_train)]
    test = [
        Clip(f"/x/te{i}.wav", "fan", "00", Domain.SOURCE, Split.TEST, Label.ANOMALY if i % 2 else Label.NORMAL)
        for i in range(n_test)
    ]
    return train + test


def test_pool_scores_reference_values() -> None:
    scores = np.array([1.0, 5.0, 2.0, 10.0, 0.0, 3.0])
    owner = np.array([0, 0, 0, 2, 2, 2])  # clip 1 has no chunks
    np.testing.assert_allclose(pool_scores(scores, owner, 3, "mean", 0.9), [8 / 3, np.nan, 13 / 3])
    np.testing.assert_allclose(pool_scores(scores, owner, 3, "max", 0.9), [5.0, np.nan, 10.0])
    np.testing.assert_allclose(
        pool_scores(scores, owner, 3, "quantile", 0.5), [np.median([1, 5, 2]), np.nan, np.median([10, 0, 3])]
    )


def test_chunk_scores_match_brute_force() -> None:
    """Test clips: each chunk's nearest training chunk (Euclidean), pooled by max; computed by hand here."""
    rng = np.random.default_rng(0)
    clips = _clips(6, 4)
    per_clip = 3
    chunks = rng.normal(size=(len(clips) * per_clip, 4))
    owner = np.repeat(np.arange(len(clips)), per_clip)
    got = score_chunk_clips(chunks, owner, clips, "chunks:inner=knn;k=1,pool=max")
    train_rows = owner < 6
    for i in range(6, 10):
        own = chunks[owner == i]
        dist = np.sqrt(((own[:, None] - chunks[train_rows][None]) ** 2).sum(-1)).min(axis=1)
        assert got[i] == pytest.approx(dist.max())
    assert np.isfinite(got[:6]).all()


def test_training_clips_never_meet_their_own_chunks() -> None:
    """Out of fold by clip: a training clip whose chunks are far from every other clip gets a large score."""
    rng = np.random.default_rng(1)
    clips = _clips(10, 2)
    owner = np.repeat(np.arange(len(clips)), 2)
    chunks = rng.normal(size=(len(owner), 3))
    chunks[owner == 3] += 50.0  # training clip 3 is unlike the others
    scores = score_chunk_clips(chunks, owner, clips, "chunks:inner=knn;k=1,pool=mean")
    assert scores[3] > 10 * np.median(np.delete(scores[:10], 3))


def test_chunk_level_finds_a_short_fault_the_clip_mean_hides() -> None:
    """Anomalous clips have one chunk pushed out and one pulled back by the same amount, so their clip mean is a
    normal one: max-pooled chunk scoring separates them, clip means cannot."""
    from sklearn.metrics import roc_auc_score

    from soundsentry.scoring import score_clips

    rng = np.random.default_rng(2)
    clips = _clips(20, 20)
    per_clip = 10
    owner = np.repeat(np.arange(len(clips)), per_clip)
    chunks = rng.normal(size=(len(owner), 8))
    for i, clip in enumerate(clips):
        if clip.label is Label.ANOMALY:
            rows = np.flatnonzero(owner == i)
            chunks[rows[0]] += 6.0
            chunks[rows[1]] -= 6.0
    test = np.arange(20, 40)
    y = [clips[i].label is Label.ANOMALY for i in test]
    chunk_scores = score_chunk_clips(chunks, owner, clips, "chunks:inner=knn;k=1,pool=max")
    means = np.stack([chunks[owner == i].mean(axis=0) for i in range(len(clips))])
    clip_scores = score_clips(means, clips, "knn:k=1")
    assert roc_auc_score(y, chunk_scores[test]) > 0.95
    assert roc_auc_score(y, chunk_scores[test]) > roc_auc_score(y, clip_scores[test]) + 0.2


def test_domains_reach_a_domain_aware_inner_scorer() -> None:
    rng = np.random.default_rng(3)
    clips = [
        Clip(f"/x/{d.value}{i}.wav", "fan", "00", d, Split.TRAIN, Label.NORMAL)
        for d in (Domain.SOURCE, Domain.TARGET)
        for i in range(6)
    ] + [Clip("/x/t.wav", "fan", "00", Domain.TARGET, Split.TEST, Label.NORMAL)]
    owner = np.repeat(np.arange(len(clips)), 2)
    chunks = rng.normal(size=(len(owner), 3))
    scores = score_chunk_clips(chunks, owner, clips, "chunks:inner=domain_aware;source=knn;target=knn,pool=mean")
    assert np.isfinite(scores).all()


def test_bad_specs_are_refused_in_one_line() -> None:
    with pytest.raises(ConfigError, match="pool must be one of"):
        create_scorer("chunks:pool=median")
    with pytest.raises(ConfigError, match="q must be a number in"):
        create_scorer("chunks:pool=quantile,q=1.5")
    with pytest.raises(ConfigError, match="inner"):
        create_scorer("chunks:inner=nope")
    with pytest.raises(ConfigError, match="inner must score embeddings"):
        create_scorer("chunks:inner=softmax_id")


def test_patch_reference_detector_scores_every_clip(tiny_dcase2022: Path) -> None:
    """The tiny tree's anomalies add a tone: the window detector ranks them above the normals."""
    from sklearn.metrics import roc_auc_score

    from soundsentry.data.layouts import parse_dataset
    from soundsentry.reference import patch_features, reference_scores

    clips = parse_dataset(tiny_dcase2022).clips
    windows, owner = patch_features(clips[:2], progress=False)
    assert windows.shape[1] == 5 * 128
    # 0.5 s at hop 512 -> 16 frames -> 12 windows of 5 frames per clip
    assert np.bincount(owner).tolist() == [12, 12]
    scores = reference_scores(clips, "logmel_patch_1nn", progress=False)
    assert np.isfinite(scores).all()
    test = [i for i, c in enumerate(clips) if c.split is Split.TEST]
    y = [clips[i].label is Label.ANOMALY for i in test]
    assert roc_auc_score(y, scores[test]) > 0.9
