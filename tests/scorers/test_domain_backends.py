"""Domain-generalisation back-ends: reference values by brute force, and a two-domain case where balancing wins."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.metrics import roc_auc_score

from soundsentry.errors import ConfigError, DataError
from soundsentry.scorers import (
    DensityKNNScorer,
    DomainStandardizeScorer,
    FusionScorer,
    KMeansKNNScorer,
    SmoteKNNScorer,
    create_scorer,
)
from soundsentry.scorers.domain_input import fit_inner, score_inner
from soundsentry.scoring import score_clips
from soundsentry.types import Clip, Domain, Label, Split

S, T, U = Domain.SOURCE, Domain.TARGET, Domain.UNKNOWN


def unit(X: np.ndarray) -> np.ndarray:
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def small() -> tuple[np.ndarray, list[Domain], np.ndarray]:
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(size=(12, 4)) + [3, 0, 0, 0], rng.normal(size=(4, 4)) + [0, 3, 0, 0]])
    return X, [S] * 12 + [T] * 4, rng.normal(size=(7, 4)) + [1.5, 1.5, 0, 0]


# ---------------------------------------------------------------- reference values


def test_kmeans_knn_one_centre_is_the_mean_of_unit_source_rows(small: tuple) -> None:
    X, doms, test = small
    scorer = KMeansKNNScorer(n_centres=1).fit(X, domains=doms)
    bank = np.vstack([unit(X[:12]).mean(axis=0, keepdims=True), X[12:]])
    expected = cdist(test, bank, metric="cosine").min(axis=1)
    np.testing.assert_allclose(scorer.anomaly_score(test, domains=[U] * 7), expected, atol=1e-10)
    # Test domains are ignored.
    np.testing.assert_array_equal(scorer.anomaly_score(test, domains=[T] * 7), scorer.anomaly_score(test))


def test_kmeans_knn_euclidean_centres_of_two_far_clusters_and_k2() -> None:
    a = np.array([[10.0, 0], [10, 1], [11, 0]])
    b = np.array([[-10.0, 0], [-10, -1]])
    target = np.array([[0.0, 5.0]])
    X = np.vstack([a, b, target])
    scorer = KMeansKNNScorer(n_centres=2, k=2, metric="euclidean").fit(X, domains=[S] * 5 + [T])
    bank = np.vstack([a.mean(axis=0), b.mean(axis=0), target[0]])
    np.testing.assert_allclose(np.sort(scorer.centres_, axis=0), np.sort(bank[:2], axis=0), atol=1e-12)
    test = np.array([[0.0, 0.0], [9.0, 9.0]])
    expected = np.sort(cdist(test, bank), axis=1)[:, :2].mean(axis=1)
    np.testing.assert_allclose(scorer.anomaly_score(test), expected, atol=1e-10)


def test_kmeans_knn_caps_centres_at_the_source_rows(small: tuple) -> None:
    X, doms, _ = small
    scorer = KMeansKNNScorer(n_centres=16).fit(X[:5], domains=doms[:5])
    assert scorer.centres_.shape == (5, 4)


def test_smote_samples_lie_on_segments_between_target_neighbours(small: tuple) -> None:
    X, doms, test = small
    scorer = SmoteKNNScorer(n_neighbors=1, metric="euclidean", seed=1).fit(X, domains=doms)
    target = X[12:]
    assert scorer.synthetic_.shape == (12 - 4, 4)
    nearest = cdist(target, target) + np.diag([np.inf] * 4)
    partner = nearest.argmin(axis=1)
    for p in scorer.synthetic_:  # p = t_i + u (t_j - t_i), j the nearest target neighbour of i, 0 <= u <= 1
        ok = False
        for i, j in enumerate(partner):
            step = target[j] - target[i]
            u = float((p - target[i]) @ step / (step @ step))
            ok |= 0 <= u <= 1 and np.allclose(target[i] + u * step, p, atol=1e-9)
        assert ok
    bank = np.vstack([X, scorer.synthetic_])
    np.testing.assert_allclose(scorer.anomaly_score(test), cdist(test, bank).min(axis=1), atol=1e-10)
    again = SmoteKNNScorer(n_neighbors=1, metric="euclidean", seed=1).fit(X, domains=doms)
    np.testing.assert_array_equal(again.synthetic_, scorer.synthetic_)


def test_smote_ratio_and_a_single_target_row(small: tuple) -> None:
    X, doms, _ = small
    assert SmoteKNNScorer(ratio=2.0).fit(X, domains=doms).synthetic_.shape[0] == 24 - 4
    assert SmoteKNNScorer(ratio=0.1).fit(X, domains=doms).synthetic_.shape[0] == 0
    one = SmoteKNNScorer(metric="euclidean").fit(X[:13], domains=doms[:13])
    np.testing.assert_array_equal(one.synthetic_, np.repeat(X[12:13], 11, axis=0))


def test_density_is_knn_distance_over_local_reference_distance(small: tuple) -> None:
    X, _, test = small
    for metric in ("cosine", "euclidean"):
        scorer = DensityKNNScorer(k=2, n_ref=3, metric=metric).fit(X)
        train = cdist(X, X, metric=metric)
        np.fill_diagonal(train, np.inf)
        rho = np.sort(train, axis=1)[:, :3].mean(axis=1)
        d = cdist(test, X, metric=metric)
        order = np.argsort(d, axis=1)
        expected = np.sort(d, axis=1)[:, :2].mean(axis=1) / rho[order[:, :3]].mean(axis=1)
        np.testing.assert_allclose(scorer.anomaly_score(test), expected, rtol=1e-9)


def test_density_with_one_training_row_is_the_plain_distance() -> None:
    scorer = DensityKNNScorer(metric="euclidean").fit(np.array([[1.0, 2.0]]))
    np.testing.assert_allclose(scorer.anomaly_score(np.array([[4.0, 6.0]])), [5.0])


def loo_1nn(X: np.ndarray) -> np.ndarray:
    d = cdist(X, X)
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


def test_domain_standardize_z_scores_by_domain_and_unknown_takes_the_lower(small: tuple) -> None:
    X, doms, test = small
    # n_folds = N: leave-one-out, so the training scores do not depend on the fold assignment.
    scorer = DomainStandardizeScorer(inner="knn;k=1", n_folds=16).fit(X, domains=doms)
    oof = loo_1nn(X)
    np.testing.assert_allclose(scorer.train_scores_, oof, atol=1e-10)
    raw = cdist(test, X).min(axis=1)
    zs = (raw - oof[:12].mean()) / oof[:12].std()
    zt = (raw - oof[12:].mean()) / oof[12:].std()
    got = scorer.anomaly_score(test, domains=[S, S, S, T, T, U, U])
    np.testing.assert_allclose(got, np.r_[zs[:3], zt[3:5], np.minimum(zs, zt)[5:]], atol=1e-9)


def test_domain_standardize_unknown_domain_keeps_a_domain_free_ranking(small: tuple) -> None:
    # The minimum of two increasing affine maps is increasing: with unknown domains only known ones can help.
    X, doms, test = small
    scorer = DomainStandardizeScorer(inner="knn;k=1").fit(X, domains=doms)
    raw = cdist(test, X).min(axis=1)
    np.testing.assert_array_equal(np.argsort(scorer.anomaly_score(test)), np.argsort(raw))


def test_fusion_mean_and_min_of_member_z_scores(small: tuple) -> None:
    X, doms, test = small
    d = cdist(X, X)
    np.fill_diagonal(d, np.inf)
    loo = [np.sort(d, axis=1)[:, :k].mean(axis=1) for k in (1, 3)]
    raw = [np.sort(cdist(test, X), axis=1)[:, :k].mean(axis=1) for k in (1, 3)]
    z = np.stack([(r - o.mean()) / o.std() for r, o in zip(raw, loo, strict=True)])
    for method, expected in (("mean", z.mean(axis=0)), ("min", z.min(axis=0))):
        scorer = FusionScorer(members="knn;k=1|knn;k=3", method=method, n_folds=16).fit(X, domains=doms)
        np.testing.assert_allclose(scorer.anomaly_score(test), expected, atol=1e-9)


# ---------------------------------------------------------------- errors and pipeline


def test_bad_specs_and_domains_are_one_line_errors(small: tuple) -> None:
    X, doms, _ = small
    with pytest.raises(ConfigError, match=r"members must be specs separated by '\|'"):
        create_scorer("fusion:members=knn||gmm")
    with pytest.raises(ConfigError, match=r"members\[1\]: unknown scorer 'nope'"):
        create_scorer("fusion:members=knn|nope")
    with pytest.raises(ConfigError, match="inner: unknown scorer"):
        create_scorer("domain_standardize:inner=nope;k=1")
    with pytest.raises(ConfigError, match="ratio must be a number >= 0"):
        create_scorer("smote_knn:ratio=-1")
    with pytest.raises(DataError, match="need a known domain"):
        KMeansKNNScorer().fit(X, domains=[U] * len(X))
    with pytest.raises(DataError, match="16 rows but 3 domains"):
        SmoteKNNScorer().fit(X, domains=doms[:3])


def test_score_clips_passes_domains_to_the_new_scorers(small: tuple) -> None:
    X, doms, test = small
    clips = [Clip(f"/x/tr{i}.wav", "fan", "00", d, Split.TRAIN, Label.NORMAL) for i, d in enumerate(doms)]
    clips += [Clip(f"/x/te{i}.wav", "fan", "00", U, Split.TEST, Label.UNKNOWN) for i in range(len(test))]
    features = np.vstack([X, test])
    for spec in ("kmeans_knn:n_centres=4", "smote_knn", "domain_standardize", "fusion:members=kmeans_knn|knn"):
        scores = score_clips(features, clips, spec)
        assert np.isfinite(scores).all()
        expected = score_inner(
            fit_inner(create_scorer(spec), X, np.array([d.value for d in doms]), None),
            test,
            np.array([U.value] * len(test)),
        )
        np.testing.assert_allclose(scores[len(X) :], expected)


# ---------------------------------------------------------------- two domains: the balanced versions win


def two_domain_case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """200 source and 5 target training rows around two orthogonal unit modes, spread 0.05 in a 2-D subspace.

    Test: 50 normals per domain, and 50 anomalies per domain at 3 x the spread from their mode.
    """
    rng = np.random.default_rng(seed)
    modes = np.zeros((2, 8))
    modes[0, 0] = modes[1, 1] = 1.0

    def normal(m: int, n: int) -> np.ndarray:
        x = np.tile(modes[m], (n, 1))
        x[:, 2:4] += 0.05 * rng.normal(size=(n, 2))
        return x

    def anomaly(m: int, n: int) -> np.ndarray:
        x = np.tile(modes[m], (n, 1))
        x[:, 2:4] += 0.15 * unit(rng.normal(size=(n, 2)))
        return x

    X = np.vstack([normal(0, 200), normal(1, 5)])
    doms = np.array([S.value] * 200 + [T.value] * 5)
    test = np.vstack([normal(0, 50), normal(1, 50), anomaly(0, 50), anomaly(1, 50)])
    test_doms = np.array(([S.value] * 50 + [T.value] * 50) * 2)
    return X, doms, test, test_doms, np.r_[np.zeros(100), np.ones(100)]


def mean_auc(spec: str, *, known_domains: bool) -> float:
    aucs = []
    for seed in range(3):
        X, doms, test, test_doms, y = two_domain_case(seed)
        scorer = fit_inner(create_scorer(spec), X, doms, None)
        shown = test_doms if known_domains else np.array([U.value] * len(test))
        aucs.append(roc_auc_score(y, score_inner(scorer, test, shown)))
    return float(np.mean(aucs))


@pytest.mark.parametrize(
    ("balanced", "plain", "known_domains"),
    [
        ("kmeans_knn", "knn_cosine:k=1", False),
        ("smote_knn", "knn_cosine:k=1", False),
        ("density_knn:k=2", "knn:k=2,metric=cosine", False),
        ("domain_standardize", "knn_cosine:k=1", True),
        ("fusion:members=kmeans_knn|density_knn;k=2", "knn_cosine:k=1", False),
    ],
)
def test_balanced_back_end_beats_plain_knn_on_two_domains(balanced: str, plain: str, known_domains: bool) -> None:
    balanced_auc = mean_auc(balanced, known_domains=known_domains)
    plain_auc = mean_auc(plain, known_domains=known_domains)
    assert balanced_auc > plain_auc + 0.05, (balanced, balanced_auc, plain, plain_auc)
    assert mean_auc("knn_cosine", known_domains=False) < plain_auc  # k = 10 > 5 target rows: worse still
