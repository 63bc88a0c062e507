"""One scorer per (machine type, section)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from soundsentry.errors import DataError
from soundsentry.scorers import GroupedScorer, KNNScorer, NotFittedScorerError
from soundsentry.types import Clip

FAN = ("fan", "00")
PUMP = ("pump", "01")


@pytest.fixture(scope="module")
def two_groups() -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Two groups far apart, rows interleaved; groups taken from Clip.group as the pipeline does."""
    rng = np.random.default_rng(0)
    fan = rng.normal(size=(40, 6)) + 10.0
    pump = rng.normal(size=(40, 6)) - 10.0
    X = np.empty((80, 6))
    X[0::2], X[1::2] = fan, pump
    clips = [Clip(path=f"/d/{i}.wav", machine_type=m, section=s) for i in range(40) for (m, s) in (FAN, PUMP)]
    return X, [clip.group for clip in clips]


@pytest.mark.parametrize("template", ["knn:k=1", KNNScorer(k=1), lambda: KNNScorer(k=1)])
def test_each_embedding_is_scored_by_its_own_group(template: object, two_groups: tuple) -> None:
    X, groups = two_groups
    grouped = GroupedScorer(template).fit(X, groups)  # type: ignore[arg-type]
    assert set(grouped.scorers_) == {FAN, PUMP} and grouped.n_features_in_ == 6
    fan_like = np.full((2, 6), 10.0)
    own = grouped.anomaly_score(fan_like, [FAN, FAN])
    other = grouped.anomaly_score(fan_like, [PUMP, PUMP])
    assert own.max() < 3.0 < 20.0 < other.min()
    # Mixed groups keep the row order and match a scorer fitted on that group alone.
    mixed = grouped.anomaly_score(np.vstack([fan_like[:1], fan_like[:1]]), [FAN, PUMP])
    np.testing.assert_allclose(mixed, [KNNScorer().fit(X[0::2]).anomaly_score(fan_like[:1])[0], other[0]])


def test_group_without_training_data_is_named(two_groups: tuple) -> None:
    X, groups = two_groups
    grouped = GroupedScorer("knn").fit(X, groups)
    with pytest.raises(DataError, match=r"no training embeddings for group \('valve', '02'\); fitted groups: "):
        grouped.anomaly_score(X[:2], [FAN, ("valve", "02")])


def test_groups_must_match_rows(two_groups: tuple) -> None:
    X, groups = two_groups
    with pytest.raises(DataError, match="80 rows but 79 groups"):
        GroupedScorer("knn").fit(X, groups[:-1])
    with pytest.raises(DataError, match="not a \\(machine_type, section\\) tuple"):
        GroupedScorer("knn").fit(X[:1], ["fan"])
    grouped = GroupedScorer("knn").fit(X, [list(g) for g in groups])  # lists, e.g. read back from JSON
    assert set(grouped.scorers_) == {FAN, PUMP}


def test_failing_group_fit_names_the_group(two_groups: tuple) -> None:
    X, groups = two_groups
    with pytest.raises(DataError, match=r"group \('fan', '00'\): GMMScorer: n_components=50"):
        GroupedScorer("gmm:n_components=50").fit(X, groups)


def test_unfitted_and_clone(two_groups: tuple) -> None:
    X, groups = two_groups
    with pytest.raises(NotFittedScorerError, match="call fit"):
        GroupedScorer("knn").anomaly_score(X, groups)
    grouped = GroupedScorer("knn_cosine:k=3").fit(X, groups)
    copy = clone(grouped)
    assert copy.get_params() == {"scorer": "knn_cosine:k=3"} and not hasattr(copy, "scorers_")
