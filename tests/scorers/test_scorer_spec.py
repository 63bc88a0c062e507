"""Parsing scorer specs and building scorers from them."""

from __future__ import annotations

import pytest

from soundsentry.errors import ConfigError
from soundsentry.scorers import (
    CosineKNNScorer,
    MahalanobisScorer,
    OCSVMScorer,
    create_scorer,
    format_scorer_spec,
    parse_scorer_spec,
)


def test_parse_typed_values() -> None:
    name, kwargs = parse_scorer_spec(" ocsvm : nu=0.05, kernel=rbf ,gamma=1e-3,flag=True,off=none,n=-2 ")
    assert name == "ocsvm"
    assert kwargs == {"nu": 0.05, "kernel": "rbf", "gamma": 1e-3, "flag": True, "off": None, "n": -2}
    assert isinstance(kwargs["n"], int) and isinstance(kwargs["flag"], bool)


def test_parse_name_only() -> None:
    assert parse_scorer_spec("knn_cosine") == ("knn_cosine", {})


@pytest.mark.parametrize(
    "spec", ["", ":k=1", "knn:", "knn:k", "knn:k=", "knn:=3", "knn:k=1,,metric=cosine", "knn:k=1,k=2", "1knn:k=1"]
)
def test_malformed_spec_shows_expected_form(spec: str) -> None:
    with pytest.raises(ConfigError, match=r"malformed scorer spec .*expected name:key=value,key=value") as info:
        parse_scorer_spec(spec)
    assert "\n" not in str(info.value)


def test_non_string_spec() -> None:
    with pytest.raises(ConfigError, match="must be a string"):
        parse_scorer_spec(["knn"])  # type: ignore[arg-type]


def test_create_scorer_builds_typed_scorer() -> None:
    scorer = create_scorer("knn_cosine:k=10")
    assert isinstance(scorer, CosineKNNScorer) and scorer.k == 10
    assert create_scorer("mahalanobis:shrinkage=none").shrinkage is None
    assert isinstance(create_scorer("mahalanobis:shrinkage=0.2"), MahalanobisScorer)
    ocsvm = create_scorer("ocsvm:nu=0.05", gamma=0.5)
    assert isinstance(ocsvm, OCSVMScorer) and ocsvm.get_params() == {"nu": 0.05, "kernel": "rbf", "gamma": 0.5}


def test_unknown_name_lists_known_scorers() -> None:
    with pytest.raises(ConfigError, match=r"unknown scorer 'knn_cosin'.*Did you mean knn_cosine.*Known scorers: .*gmm"):
        create_scorer("knn_cosin:k=10")


def test_unknown_key_lists_valid_keywords() -> None:
    with pytest.raises(ConfigError, match=r"scorer 'knn' does not take K; valid keywords: aggregate, k, metric"):
        create_scorer("knn:K=3")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("knn:metric=manhattan", "metric must be one of cosine, euclidean"),
        ("knn:k=2.5", "k must be a positive integer"),
        ("knn_cosine:k=true", "k must be a positive integer"),
        ("gmm:covariance_type=full_rank", "covariance_type must be one of"),
        ("mahalanobis:shrinkage=2.0", "shrinkage must be"),
        ("ocsvm:nu=0", r"nu must be a number in \(0, 1\]"),
        ("ocsvm:gamma=big", "gamma must be scale, auto or a positive number"),
    ],
)
def test_bad_values_fail_at_creation(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_scorer(spec)


def test_format_round_trips() -> None:
    for spec in ("knn_cosine", "knn:k=5,metric=cosine", "mahalanobis:shrinkage=none,eps=0.001", "ocsvm:nu=0.1"):
        assert format_scorer_spec(*parse_scorer_spec(spec)) == spec
