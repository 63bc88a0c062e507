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


@pytest.mark.parametrize("cov", ["full", "tied", "diag", "spherical"])
def test_component_log_density_is_each_components_gaussian(cov: str) -> None:
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    from soundsentry.scorers.gmm import component_log_density

    X = np.vstack([_blob(np.zeros(D), 30, 0.3), _blob(np.full(D, 2.0), 30, 0.5)])
    gmm = GaussianMixture(2, covariance_type=cov, random_state=0).fit(X)
    covs = {
        "full": lambda c: c,
        "tied": lambda c: [c] * 2,
        "diag": lambda c: [np.diag(v) for v in c],
        "spherical": lambda c: [v * np.eye(D) for v in c],
    }[cov](gmm.covariances_)
    test = _blob(np.ones(D), 7, 1.0)
    dens = component_log_density(test, gmm.means_, gmm.precisions_cholesky_, cov)
    expected = np.stack([multivariate_normal(m, c).logpdf(test) for m, c in zip(gmm.means_, covs, strict=True)], 1)
    np.testing.assert_allclose(dens, expected, rtol=1e-10)
    # With the weights, the components add up to scikit-learn's mixture log-likelihood.
    np.testing.assert_allclose(logsumexp(dens + np.log(gmm.weights_), axis=1), gmm.score_samples(test), rtol=1e-10)


def test_gmm_rules_score_by_the_best_or_the_worst_component() -> None:
    from scipy.stats import multivariate_normal

    a, b = np.zeros(D), np.full(D, 4.0)
    X = np.vstack([_blob(a, 40, 0.2), _blob(b, 20, 0.6)])
    # The centres of both sub-clusters, and an anomaly just outside the tight one, on the side of the other.
    test = np.vstack([a, b, a + 1.0])
    fitted = {rule: GMMScorer(2, "diag", rule=rule).fit(X) for rule in GMMScorer.rules}
    est = fitted["mixture"].estimator_
    pairs = zip(est.means_, est.covariances_, strict=True)
    nll = -np.stack([multivariate_normal(m, np.diag(c)).logpdf(test) for m, c in pairs], 1)
    np.testing.assert_allclose(fitted["mixture"].anomaly_score(test), -est.score_samples(test))
    np.testing.assert_allclose(fitted["best_component"].anomaly_score(test), nll.min(axis=1))
    np.testing.assert_allclose(fitted["worst_component"].anomaly_score(test), nll.max(axis=1))
    # best_component ranks the anomaly above both centres; the literal worst_component ranks the centre of the
    # tight sub-cluster above it, since that centre is farther from the other sub-cluster (docs/s3.md).
    best, worst = fitted["best_component"].anomaly_score(test), fitted["worst_component"].anomaly_score(test)
    assert best[2] > max(best[0], best[1])
    assert worst[0] > worst[2]
    with pytest.raises(ConfigError, match="rule must be one of"):
        create_scorer("gmm:rule=largest")


def test_domain_aware_passes_the_gmm_rule_and_regularisation() -> None:
    X = _blob(np.zeros(D), 30)
    domains = [Domain.SOURCE] * 26 + [Domain.TARGET] * 4
    spec = "domain_aware:source=gmm;rule=best_component;reg_covar=0.01;covariance_type=tied,target=ocsvm"
    scorer = create_scorer(spec).fit(X, domains=domains)
    reference = GMMScorer(rule="best_component", reg_covar=0.01, covariance_type="tied").fit(X[:26])
    np.testing.assert_allclose(scorer.anomaly_score(X[:5], domains=[Domain.SOURCE] * 5), reference.anomaly_score(X[:5]))
