"""Chunk-level scoring: the ``chunks`` scorer, pooling, out-of-fold training scores, and the patch reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from soundsentry.chunk_scoring import score_chunk_clips
from soundsentry.errors import ConfigError, DataError
from soundsentry.scorers import create_scorer
from soundsentry.scorers.base import BaseScorer
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


@pytest.mark.parametrize(
    "spec",
    [
        "chunks:inner=knn;k=1;metric=euclidean,pool=mean,normalise=domain,calibrate=extrapolate",
        "chunks:inner=kmeans_knn;n_centres=2,pool=max",
    ],
)
def test_float32_chunks_score_as_their_float64_copy(spec: str) -> None:
    """embeddings.npz holds float32 windows; they are scored one group at a time in float64 (never the whole set
    cast at once), with exactly the scores of a float64 copy."""
    rng = np.random.default_rng(3)
    clips = _clips(8, 4) + [
        Clip(f"/x/tg{i}.wav", "fan", "00", Domain.TARGET, Split.TRAIN, Label.NORMAL) for i in range(3)
    ]
    owner = np.repeat(np.arange(len(clips)), 3)
    chunks = rng.normal(size=(len(owner), 5)).astype(np.float32)
    single = score_chunk_clips(chunks, owner, clips, spec)
    double = score_chunk_clips(chunks.astype(np.float64), owner, clips, spec)
    np.testing.assert_array_equal(single, double)
    assert np.isfinite(single).all()


def _two_domain_set(seed: int) -> tuple[list[Clip], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    clips = _clips(8, 4) + [
        Clip(f"/x/tg{i}.wav", "fan", "00", Domain.TARGET, Split.TRAIN, Label.NORMAL) for i in range(4)
    ]
    owner = np.repeat(np.arange(len(clips)), 3)
    chunks = rng.normal(size=(len(owner), 5))
    chunks[owner >= 12] += 2.0  # the target clips elsewhere
    return clips, owner, chunks


FLAGSHIP_TAIL = ",pool=mean,normalise=domain,calibrate=extrapolate"


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_knn_torch_inner_scores_as_knn(metric: str) -> None:
    """The flagship's back-end with ``knn_torch`` (the GPU spelling) gives the scores of ``knn``, leave-out
    statistics included."""
    clips, owner, chunks = _two_domain_set(4)
    plain = score_chunk_clips(chunks, owner, clips, f"chunks:inner=knn;k=1;metric={metric}" + FLAGSHIP_TAIL)
    torch_ = score_chunk_clips(chunks, owner, clips, f"chunks:inner=knn_torch;k=1;metric={metric}" + FLAGSHIP_TAIL)
    np.testing.assert_allclose(torch_, plain, rtol=1e-9, atol=1e-9)


def test_knn_torch_leave_out_statistics_take_one_distance_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1-NN ``knn_torch`` inner scorer is fitted once per domain bank: the leave-one-out and leave-two-out
    statistics come from one distance pass, not from a refit per held-out clip."""
    from soundsentry.scorers.torch_neighbors import TorchKNNScorer

    fits = []
    original = TorchKNNScorer.fit
    monkeypatch.setattr(
        TorchKNNScorer, "fit", lambda self, X, *a, **k: fits.append(len(X)) or original(self, X, *a, **k)
    )
    clips, owner, chunks = _two_domain_set(5)
    scorer = create_scorer("chunks:inner=knn_torch;k=1" + FLAGSHIP_TAIL)
    train = np.array([clips[i].split is Split.TRAIN for i in owner])
    scorer.fit(chunks[train], domains=[clips[i].domain for i in owner[train]], clip_index=owner[train])
    assert len(fits) == 2  # one bank per domain


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_knn_torch_inner_on_cuda_matches_cpu() -> None:
    clips, owner, chunks = _two_domain_set(6)
    cpu = score_chunk_clips(chunks, owner, clips, "chunks:inner=knn;k=1" + FLAGSHIP_TAIL)
    gpu = score_chunk_clips(
        chunks, owner, clips, "chunks:inner=knn_torch;k=1;device=cuda;dtype=float32" + FLAGSHIP_TAIL
    )
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-3)


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


def _two_domain_chunks(seed: int) -> tuple[np.ndarray, np.ndarray, list[Clip]]:
    """30 source and 4 target training clips of 4 chunks; the target domain is spread 4x wider. Test normals of
    both domains, anomalies a small shift off each domain's mode (small against the target's spread)."""
    rng = np.random.default_rng(seed)
    clips, parts = [], []
    centre = {Domain.SOURCE: np.zeros(6), Domain.TARGET: np.full(6, 8.0)}
    spread = {Domain.SOURCE: 0.5, Domain.TARGET: 2.0}

    def add(domain: Domain, split: Split, label: Label, i: int) -> None:
        x = centre[domain] + spread[domain] * rng.normal(size=(4, 6))
        if label is Label.ANOMALY:
            x[:, 0] += 3.0 * spread[domain]
        clips.append(Clip(f"/x/{domain.value}{split.value}{label.value}{i}.wav", "fan", "00", domain, split, label))
        parts.append(x)

    for domain, n in ((Domain.SOURCE, 30), (Domain.TARGET, 4)):  # 30 < MAX_LOO_CLIPS: all clips
        for i in range(n):
            add(domain, Split.TRAIN, Label.NORMAL, i)
        for i in range(20):
            add(domain, Split.TEST, Label.ANOMALY if i % 2 else Label.NORMAL, i)
    owner = np.repeat(np.arange(len(clips)), 4)
    return np.concatenate(parts), owner, clips


def test_domain_normalisation_beats_one_bank_on_a_two_domain_case() -> None:
    """With one bank, target normals (sparse, wide domain) score above source anomalies; per-domain z-scores fix
    the scale, without reading the test clips' domains."""
    from soundsentry.evaluation.official import evaluate

    plain, balanced = [], []
    for seed in range(3):
        chunks, owner, clips = _two_domain_chunks(seed)
        for spec, out in (("chunks:inner=knn;k=1", plain), ("chunks:inner=knn;k=1,normalise=domain", balanced)):
            scores = score_chunk_clips(chunks, owner, clips, spec)
            out.append(evaluate(clips, scores, rule="2022").official_score)
    assert np.mean(balanced) > np.mean(plain) + 0.1


def test_domain_normalisation_reference_values() -> None:
    """A test clip's score is min over domains of (pooled nearest-chunk distance - mean) / std, with the domain's
    statistics from leave-one-clip-out pooled scores of its training clips; worked out here by brute force."""
    chunks, owner, clips = _two_domain_chunks(0)
    train = [i for i, c in enumerate(clips) if c.split is Split.TRAIN]
    scorer = create_scorer("chunks:inner=knn;k=1,normalise=domain").fit(
        chunks[np.isin(owner, train)],
        domains=[clips[o].domain for o in owner if o in set(train)],
        clip_index=[o for o in owner if o in set(train)],
    )

    def nearest(q: np.ndarray, bank: np.ndarray) -> float:
        return float(np.sqrt(((q[:, None] - bank[None]) ** 2).sum(-1)).min(axis=1).mean())

    test_clip = next(i for i, c in enumerate(clips) if c.split is Split.TEST)
    expected = []
    for domain in (Domain.SOURCE, Domain.TARGET):
        ids = [i for i in train if clips[i].domain is domain]
        loo = [nearest(chunks[owner == i], chunks[np.isin(owner, [j for j in ids if j != i])]) for i in ids]
        raw = nearest(chunks[owner == test_clip], chunks[np.isin(owner, ids)])
        expected.append((raw - np.mean(loo)) / np.std(loo))
    got = scorer.score_clips(chunks[owner == test_clip], np.zeros(4, dtype=np.int64), 1)
    assert got[0] == pytest.approx(min(expected), rel=1e-9)


def test_a_domain_with_one_training_clip_joins_the_other_bank() -> None:
    chunks, owner, clips = _two_domain_chunks(1)
    target_train = [i for i, c in enumerate(clips) if c.split is Split.TRAIN and c.domain is Domain.TARGET]
    keep = ~np.isin(owner, target_train[1:])  # one target training clip left
    kept_clips = sorted(set(owner[keep]))
    remap = {old: new for new, old in enumerate(kept_clips)}
    scores = score_chunk_clips(
        chunks[keep],
        np.array([remap[o] for o in owner[keep]]),
        [clips[i] for i in kept_clips],
        "chunks:normalise=domain",
    )
    assert np.isfinite(scores).all()
    scorer = create_scorer("chunks:normalise=domain").fit(
        chunks[:8], domains=[Domain.SOURCE] * 4 + [Domain.TARGET] * 4, clip_index=[0] * 4 + [1] * 4
    )
    assert len(scorer.banks_) == 1  # one clip per domain: no scale for either, one bank
    with pytest.raises(ConfigError, match="normalise=domain splits the domains itself"):
        create_scorer("chunks:inner=domain_aware,normalise=domain")


def test_patch_detector_names_a_clip_too_short_for_one_window(tmp_path: Path) -> None:
    """0.1 s at hop 512 gives 4 log-mel frames, fewer than one 5-frame window: a one-line error naming the file."""
    from soundsentry.data.audio import write_audio
    from soundsentry.errors import DataError
    from soundsentry.reference import patch_features

    path = tmp_path / "short.wav"
    write_audio(path, np.zeros(1600, dtype=np.float32) + 0.01, 16000)
    clip = Clip(str(path), "fan", "00", Domain.SOURCE, Split.TEST, Label.NORMAL)
    with pytest.raises(DataError, match=r"short\.wav: 4 log-mel frames, fewer than the 5 of one window"):
        patch_features([clip], progress=False)


def _normal_test_mean(scores: np.ndarray, clips: list[Clip], domain: Domain) -> float:
    return float(
        np.mean(
            [
                scores[i]
                for i, c in enumerate(clips)
                if c.split is Split.TEST and c.label is Label.NORMAL and c.domain is domain
            ]
        )
    )


def test_extrapolated_calibration_puts_both_domains_normals_on_one_scale() -> None:
    """Leave-one-clip-out statistics of a 4-clip domain come from banks of 3 clips, so its test normals (bank of 4)
    land below the source normals on the z scale; the leave-two-out extrapolation removes most of that gap."""
    gaps = {"loo": [], "extrapolate": []}
    for seed in range(5):
        chunks, owner, clips = _two_domain_chunks(seed)
        for calibrate, out in gaps.items():
            spec = f"chunks:inner=knn;k=1,normalise=domain,calibrate={calibrate}"
            scores = score_chunk_clips(chunks, owner, clips, spec)
            out.append(
                _normal_test_mean(scores, clips, Domain.TARGET) - _normal_test_mean(scores, clips, Domain.SOURCE)
            )
    assert np.mean(gaps["loo"]) < -0.8  # the bias this option exists for
    assert abs(np.mean(gaps["extrapolate"])) < 0.5 * abs(np.mean(gaps["loo"]))


def test_extrapolated_calibration_reference_values() -> None:
    """mean = 2 * mean(leave-one-out) - mean(leave-two-out), std = the leave-one-out std, by brute force: the
    4-clip target domain over every ordered pair, the 30-clip source domain over each clip with the next two."""
    chunks, owner, clips = _two_domain_chunks(2)
    train = [i for i, c in enumerate(clips) if c.split is Split.TRAIN]
    rows = np.isin(owner, train)
    scorer = create_scorer("chunks:inner=knn;k=1,normalise=domain,calibrate=extrapolate").fit(
        chunks[rows], domains=[clips[o].domain for o in owner[rows]], clip_index=owner[rows]
    )

    def nearest(i: int, bank_ids: list[int]) -> float:
        q, bank = chunks[owner == i], chunks[np.isin(owner, bank_ids)]
        return float(np.sqrt(((q[:, None] - bank[None]) ** 2).sum(-1)).min(axis=1).mean())

    test_clip = next(i for i, c in enumerate(clips) if c.split is Split.TEST)
    expected = []
    for domain, partners in ((Domain.SOURCE, 2), (Domain.TARGET, 3)):
        ids = [i for i in train if clips[i].domain is domain]
        loo = [nearest(i, [j for j in ids if j != i]) for i in ids]
        l2o = [
            nearest(ids[a], [j for j in ids if j not in (ids[a], ids[(a + step) % len(ids)])])
            for a in range(len(ids))
            for step in range(1, partners + 1)
        ]
        mean = 2 * np.mean(loo) - np.mean(l2o)
        expected.append((nearest(test_clip, ids) - mean) / np.std(loo))
        assert scorer.calibration_[domain.value]["l2o_mean"] == pytest.approx(np.mean(l2o), rel=1e-9)
    got = scorer.score_clips(chunks[owner == test_clip], np.zeros(4, dtype=np.int64), 1)
    assert got[0] == pytest.approx(min(expected), rel=1e-9)


def test_calibrate_needs_domain_normalisation() -> None:
    with pytest.raises(ConfigError, match="calibrate=extrapolate needs normalise=domain"):
        create_scorer("chunks:inner=knn;k=1,calibrate=extrapolate").fit(np.zeros((4, 2)))
    with pytest.raises(ConfigError, match="calibrate"):
        create_scorer("chunks:normalise=domain,calibrate=median").fit(np.zeros((4, 2)))


def test_nearest_neighbour_fast_path_equals_refitting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The leave-out statistics of a 1-NN inner scorer come from one distance pass per clip; they must equal the
    generic path that refits the inner scorer on each reduced bank."""
    import soundsentry.scorers.chunks as chunks_module

    chunks, owner, clips = _two_domain_chunks(3)
    train = [i for i, c in enumerate(clips) if c.split is Split.TRAIN]
    rows = np.isin(owner, train)
    spec = "chunks:inner=knn;k=1,normalise=domain,calibrate=extrapolate"

    def fitted() -> BaseScorer:
        return create_scorer(spec).fit(
            chunks[rows], domains=[clips[o].domain for o in owner[rows]], clip_index=owner[rows]
        )

    fast = fitted()
    monkeypatch.setattr(chunks_module, "_is_nearest_neighbour", lambda scorer: False)
    slow = fitted()
    for (_, _, mean_a, std_a), (_, _, mean_b, std_b) in zip(fast.banks_, slow.banks_, strict=True):
        assert mean_a == pytest.approx(mean_b, rel=1e-9) and std_a == pytest.approx(std_b, rel=1e-9)


def _fit_domains(spec: str, seed: int, chunks: np.ndarray | None = None):
    base, owner, clips = _two_domain_chunks(seed)
    chunks = base if chunks is None else chunks
    train = [i for i, c in enumerate(clips) if c.split is Split.TRAIN]
    rows = np.isin(owner, train)
    scorer = create_scorer(spec).fit(
        chunks[rows], domains=[clips[o].domain for o in owner[rows]], clip_index=owner[rows]
    )
    return scorer, chunks, owner, clips


def test_shrink_reference_values() -> None:
    """The smaller domain's std = sqrt((3 * own ** 2 + k * prior ** 2) / (3 + k)) with prior = the source std x
    target mean / source mean (4 target clips: 3 degrees of freedom); the source domain keeps its own."""
    spec = "chunks:inner=knn;k=1,normalise=domain,calibrate=extrapolate"
    plain = _fit_domains(spec, 3)[0]
    stats = {d: (mean, std) for d, _, mean, std in plain.banks_}
    (ms, ss), (mt, st) = stats["source"], stats["target"]
    for k in (1.0, 4.0, 1e6):
        shrunk = _fit_domains(f"{spec},shrink={k}", 3)[0]
        got = {d: (mean, std) for d, _, mean, std in shrunk.banks_}
        prior = ss * mt / ms
        assert got["source"] == (ms, ss) and got["target"][0] == mt
        assert got["target"][1] == pytest.approx(np.sqrt((3 * st**2 + k * prior**2) / (3 + k)), rel=1e-12)
        assert shrunk.calibration_["target"]["std"] == got["target"][1]
    assert got["target"][1] == pytest.approx(prior, rel=1e-5)  # an overwhelming prior: the source's relative spread
    assert _fit_domains(f"{spec},shrink=0", 3)[0].banks_[1][3] == st


def test_shrink_steadies_a_small_domains_scale() -> None:
    """Both domains spread alike relative to their mean distance; the 4-clip target std estimate scatters, and
    pooling it with the source's relative spread narrows the scatter of its log over seeds."""
    spec = "chunks:inner=knn;k=1,normalise=domain,calibrate=extrapolate"
    own, shrunk = [], []
    for seed in range(12):
        own.append(np.log(_fit_domains(spec, seed)[0].banks_[1][3]))
        shrunk.append(np.log(_fit_domains(f"{spec},shrink=4", seed)[0].banks_[1][3]))
    assert np.std(shrunk) < 0.8 * np.std(own)


def test_blocks_score_as_the_mean_of_scorers_on_each_block() -> None:
    spec = "chunks:inner=knn;k=1,normalise=domain,calibrate=extrapolate,shrink=4"
    base, owner, clips = _two_domain_chunks(4)
    extra = 100.0 * np.random.default_rng(9).normal(size=(base.shape[0], 3))  # a second group, 100x larger values
    both = np.hstack([base, extra])
    blocked, _, _, _ = _fit_domains(f"{spec},blocks=6", 4, both)
    first, _, _, _ = _fit_domains(spec, 4, both[:, :6])
    second, _, _, _ = _fit_domains(spec, 4, both[:, 6:])
    test = [i for i, c in enumerate(clips) if c.split is Split.TEST]
    rows = np.isin(owner, test)
    clip_of = np.searchsorted(test, owner[rows])
    got = blocked.score_clips(both[rows], clip_of, len(test))
    expected = (
        first.score_clips(both[rows, :6], clip_of, len(test)) + second.score_clips(both[rows, 6:], clip_of, len(test))
    ) / 2
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(
        blocked.anomaly_score(both[rows]),
        (first.anomaly_score(both[rows, :6]) + second.anomaly_score(both[rows, 6:])) / 2,
        rtol=1e-12,
    )
    assert blocked.column_groups_ == [(0, 6), (6, 9)]


def _mean_auc_with_extra_columns(scale: float, n_columns: int, seed_offset: int, options: str) -> float:
    """Mean test AUC over 3 seeds of ``chunks:inner=knn;k=1,normalise=domain{options}`` on the two-domain case
    with ``n_columns`` extra columns of normal noise of standard deviation ``scale`` (no fault in them)."""
    from sklearn.metrics import roc_auc_score

    aucs = []
    for seed in range(3):
        base, owner, clips = _two_domain_chunks(seed)
        extra = scale * np.random.default_rng(seed_offset + seed).normal(size=(base.shape[0], n_columns))
        y = [c.label is Label.ANOMALY for c in clips if c.split is Split.TEST]
        test = [i for i, c in enumerate(clips) if c.split is Split.TEST]
        scores = score_chunk_clips(
            np.hstack([base, extra]), owner, clips, f"chunks:inner=knn;k=1,normalise=domain{options}"
        )
        aucs.append(roc_auc_score(y, scores[test]))
    return float(np.mean(aucs))


def test_blocks_keep_a_loud_uninformative_group_from_drowning_the_signal() -> None:
    """One Euclidean distance over a window whose second group has 30x larger values (noise, no fault) sees only
    that group; blocks score the groups on their own scales and keep the fault visible."""
    plain = _mean_auc_with_extra_columns(30.0, 2, 100, "")
    assert _mean_auc_with_extra_columns(30.0, 2, 100, ",blocks=6") > plain + 0.15


def test_blocks_and_shrink_are_checked() -> None:
    for spec, match in (
        ("chunks:inner=knn;k=1,blocks=3", "blocks needs normalise=domain"),
        ("chunks:normalise=domain,blocks=0", "blocks must be increasing positive column numbers"),
        ("chunks:normalise=domain,blocks=4/2", "blocks must be increasing"),
        ("chunks:normalise=domain,blocks=a", "blocks must be increasing"),
        ("chunks:inner=knn;k=1,shrink=4", "shrink=4 needs normalise=domain"),
        ("chunks:normalise=domain,shrink=-1", "shrink must be a number >= 0"),
    ):
        with pytest.raises(ConfigError, match=match):
            create_scorer(spec).fit(np.zeros((4, 8)))
    with pytest.raises(ConfigError, match="starts a group at column 8 but the chunk embeddings have 8 columns"):
        create_scorer("chunks:normalise=domain,blocks=3/8").fit(np.zeros((4, 8)))


def test_standardise_source_reference_values() -> None:
    """standardise=source scores exactly as the same scorer on columns standardised by hand with the source
    training chunks' means and standard deviations (the 4 target clips do not move them)."""
    spec = "chunks:inner=knn;k=1,normalise=domain,calibrate=extrapolate,shrink=4"
    base, owner, clips = _two_domain_chunks(5)
    scaled = base * np.array([1.0, 10.0, 0.1, 1.0, 3.0, 0.5])
    standardised, _, _, _ = _fit_domains(f"{spec},standardise=source", 5, scaled)
    train = [i for i, c in enumerate(clips) if c.split is Split.TRAIN]
    source_rows = np.isin(owner, [i for i in train if clips[i].domain is Domain.SOURCE])
    mean, std = scaled[source_rows].mean(axis=0), scaled[source_rows].std(axis=0)
    np.testing.assert_allclose(standardised.centre_, mean, rtol=1e-12)
    np.testing.assert_allclose(standardised.scale_, std, rtol=1e-12)
    by_hand, _, _, _ = _fit_domains(spec, 5, (scaled - mean) / std)
    test = [i for i, c in enumerate(clips) if c.split is Split.TEST]
    rows = np.isin(owner, test)
    clip_of = np.searchsorted(test, owner[rows])
    np.testing.assert_allclose(
        standardised.score_clips(scaled[rows], clip_of, len(test)),
        by_hand.score_clips((scaled[rows] - mean) / std, clip_of, len(test)),
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        standardised.anomaly_score(scaled[rows]), by_hand.anomaly_score((scaled[rows] - mean) / std), rtol=1e-9
    )
    # without domains every training chunk is normal operation of one kind: all of them set the scale
    plain = create_scorer("chunks:inner=knn;k=1,standardise=source").fit(scaled)
    np.testing.assert_allclose(plain.centre_, scaled.mean(axis=0), rtol=1e-12)
    assert create_scorer("chunks:inner=knn;k=1").fit(scaled).centre_ is None


def test_standardise_lets_a_steady_column_count_beside_a_restless_one() -> None:
    """The fault moves a column that normal operation holds within 0.5; a second column wanders by 20 in normal
    operation (no fault). One Euclidean distance sees the wandering column; standardised columns see the fault."""
    plain = _mean_auc_with_extra_columns(20.0, 1, 200, "")
    assert _mean_auc_with_extra_columns(20.0, 1, 200, ",standardise=source") > plain + 0.15


def test_standardise_per_block_group() -> None:
    """blocks=6,standardise=none/source: the first group as it is, the second standardised, mean of the two."""
    spec = "chunks:inner=knn;k=1,normalise=domain,calibrate=extrapolate"
    base, owner, clips = _two_domain_chunks(6)
    extra = np.random.default_rng(3).normal(size=(base.shape[0], 3)) * np.array([100.0, 1.0, 0.01])
    both = np.hstack([base, extra])
    blocked, _, _, _ = _fit_domains(f"{spec},blocks=6,standardise=none/source", 6, both)
    first, _, _, _ = _fit_domains(spec, 6, both[:, :6])
    second, _, _, _ = _fit_domains(f"{spec},standardise=source", 6, both[:, 6:])
    assert blocked.parts_[0].centre_ is None and blocked.parts_[1].centre_ is not None
    test = [i for i, c in enumerate(clips) if c.split is Split.TEST]
    rows = np.isin(owner, test)
    clip_of = np.searchsorted(test, owner[rows])
    expected = (
        first.score_clips(both[rows, :6], clip_of, len(test)) + second.score_clips(both[rows, 6:], clip_of, len(test))
    ) / 2
    np.testing.assert_allclose(blocked.score_clips(both[rows], clip_of, len(test)), expected, rtol=1e-12)
    # one value applies to every group
    every, _, _, _ = _fit_domains(f"{spec},blocks=6,standardise=source", 6, both)
    assert all(p.centre_ is not None for p in every.parts_)


def test_standardise_survives_a_constant_column_and_is_checked() -> None:
    X = np.random.default_rng(0).normal(size=(40, 4))
    X[:, 2] = 5.0  # never moves in normal operation
    scorer = create_scorer("chunks:inner=knn;k=1,standardise=source").fit(X)
    assert np.all(np.isfinite(scorer.scale_)) and scorer.scale_[2] > 0
    Y = X[:3].copy()
    Y[:, 2] = 6.0
    assert np.all(np.isfinite(scorer.anomaly_score(Y)))
    for spec, match in (
        ("chunks:standardise=zscore", "standardise must be one of none, source"),
        ("chunks:standardise=none/source", "1 group here"),
        ("chunks:normalise=domain,blocks=2/3,standardise=none/source", "3 groups here"),
    ):
        with pytest.raises(ConfigError, match=match):
            create_scorer(spec).fit(X)
    with pytest.raises(DataError, match="40 training chunks but 3 domains"):
        create_scorer("chunks:inner=knn;k=1,standardise=source").fit(X, domains=[Domain.SOURCE] * 3)
