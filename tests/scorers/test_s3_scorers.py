"""S3's back-ends: GMM initialised from learned centres, the one-class SVM's sign, domain routing."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture
from sklearn.svm import OneClassSVM

from soundsentry.errors import ConfigError
from soundsentry.scorers import DomainAwareScorer, create_scorer
from soundsentry.scorers.gmm import GMMScorer
from soundsentry.scoring import score_clips
from soundsentry.types import Clip, Domain, Label, Split

RNG = np.random.default_rng(0)
D = 4


def _blob(centre: np.ndarray, n: int, spread: float = 0.05) -> np.ndarray:
    return centre + spread * RNG.standard_normal((n, len(centre)))


def test_ocsvm_score_is_the_negated_signed_distance() -> None:
    X = _blob(np.zeros(D), 40)
    outlier = np.full((1, D), 3.0)
    scorer = create_scorer("ocsvm").fit(X)
    reference = OneClassSVM(nu=0.1, kernel="rbf", gamma="scale").fit(X)
    test = np.vstack([X[:5], outlier])
    assert np.allclose(scorer.anomaly_score(test), -reference.decision_function(test))
    assert scorer.anomaly_score(outlier)[0] > scorer.anomaly_score(X).max()  # higher = more anomalous


def test_gmm_is_initialised_at_the_centres_scaled_to_the_embeddings() -> None:
    directions = np.eye(D)[:2]  # unit centres, as a cosine head learns them
    X = np.vstack([_blob(5.0 * directions[0], 30), _blob(5.0 * directions[1], 30)])
    scorer = GMMScorer(init="centres", covariance_type="diag", max_iter=1).fit(X, centres=directions)
    assert scorer.estimator_.n_components == 2
    np.testing.assert_allclose(scorer.estimator_.means_init, directions * np.median(np.linalg.norm(X, axis=1)))
    # One EM step from those means: the same fit as scikit-learn started from the same means.
    reference = GaussianMixture(2, covariance_type="diag", max_iter=1, means_init=scorer.estimator_.means_init)
    reference.fit(X)
    np.testing.assert_allclose(scorer.anomaly_score(X), -reference.score_samples(X))


def test_gmm_init_centres_needs_centres_of_the_right_count() -> None:
    X = _blob(np.zeros(D), 20)
    with pytest.raises(ConfigError, match="init=centres needs the learned sub-cluster centres"):
        GMMScorer(init="centres").fit(X)
    with pytest.raises(ConfigError, match="one component per centre"):
        GMMScorer(init="centres", n_components=3).fit(X, centres=np.eye(D)[:2])
    with pytest.raises(ConfigError, match="init must be one of"):
        create_scorer("gmm:init=random")


def test_domain_aware_routes_each_clip_to_its_domain_model() -> None:
    src_c, tgt_c = np.zeros(D), np.full(D, 2.0)
    X = np.vstack([_blob(src_c, 30), _blob(tgt_c, 4)])
    domains = [Domain.SOURCE] * 30 + [Domain.TARGET] * 4
    scorer = DomainAwareScorer(source="gmm;covariance_type=diag", target="ocsvm").fit(X, domains=domains)
    source_ref = create_scorer("gmm:covariance_type=diag").fit(X[:30])
    target_ref = create_scorer("ocsvm").fit(X[30:])

    test = np.vstack([_blob(src_c, 3), _blob(tgt_c, 3)])
    routed = scorer.anomaly_score(test, domains=[Domain.SOURCE] * 3 + [Domain.TARGET] * 3)
    np.testing.assert_allclose(routed[:3], source_ref.anomaly_score(test[:3]))
    np.testing.assert_allclose(routed[3:], target_ref.anomaly_score(test[3:]))
    # Unknown domain (DCASE 2022-2024 evaluation): the more normal, i.e. lower, of the two scores.
    unknown = scorer.anomaly_score(test, domains=[Domain.UNKNOWN] * 6)
    np.testing.assert_allclose(unknown, np.minimum(source_ref.anomaly_score(test), target_ref.anomaly_score(test)))
    # A target-domain clip far from the target training clips is anomalous for the target model.
    wrong = scorer.anomaly_score(test[:1], domains=[Domain.TARGET])
    assert wrong[0] > routed[3:].max()


def test_domain_aware_standardize_and_a_missing_domain() -> None:
    X = _blob(np.zeros(D), 20)
    scorer = DomainAwareScorer(source="gmm", target="ocsvm", standardize=True).fit(X, domains=[Domain.SOURCE] * 20)
    assert scorer.target_ is None
    train = scorer.anomaly_score(X, domains=[Domain.SOURCE] * 20)
    assert abs(train.mean()) < 1e-9 and train.std() == pytest.approx(1.0)
    # No target training clips: target clips fall back to the source model.
    np.testing.assert_allclose(scorer.anomaly_score(X[:2], domains=[Domain.TARGET] * 2), train[:2])


def test_score_clips_passes_domains_and_group_centres() -> None:
    clips, rows = [], []
    for section, centre in (("00", np.array([1.0, 0, 0, 0])), ("01", np.array([0, 1.0, 0, 0]))):
        for i in range(12):
            domain = Domain.TARGET if i >= 10 else Domain.SOURCE
            clips.append(Clip(f"/x/{section}_tr{i}.wav", "fan", section, domain, Split.TRAIN, Label.NORMAL))
            rows.append(_blob(3 * centre, 1)[0])
        for label, offset in ((Label.NORMAL, 0.0), (Label.ANOMALY, 2.0)):
            clips.append(Clip(f"/x/{section}_te{label.value}.wav", "fan", section, Domain.SOURCE, Split.TEST, label))
            rows.append(3 * centre + offset)
    X = np.array(rows)
    centres = {("fan", "00"): np.eye(D)[:2], ("fan", "01"): np.eye(D)[1:3]}
    spec = "domain_aware:source=gmm;init=centres;covariance_type=diag,target=ocsvm"
    scores = score_clips(X, clips, spec, n_folds=2, centres=centres)
    test = [i for i, c in enumerate(clips) if c.split is Split.TEST]
    anomalous = [i for i in test if clips[i].label is Label.ANOMALY]
    normal = [i for i in test if clips[i].label is Label.NORMAL]
    assert all(scores[a] > scores[n] for a, n in zip(anomalous, normal, strict=True))
    with pytest.raises(ConfigError, match="none were given for fan section 00"):
        score_clips(X, clips, spec, centres={})
