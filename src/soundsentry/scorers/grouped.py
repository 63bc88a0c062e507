"""One scorer per group: DCASE fits and scores each (machine type, section) on its own.

Groups are the typed tuples :attr:`soundsentry.types.Clip.group` returns, ``(machine_type, section)``,
e.g. ``("fan", "00")``; pass ``[clip.group for clip in clips]`` alongside the embeddings of ``clips``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone

from soundsentry.errors import ConfigError, DataError, SoundSentryError
from soundsentry.scorers.base import BaseScorer, NotFittedScorerError, check_embeddings
from soundsentry.scorers.spec import create_scorer

Group = tuple[str, str]
ScorerTemplate = str | BaseScorer | Callable[[], BaseScorer]


def _check_groups(groups: Sequence[Group], n_rows: int, what: str) -> list[Group]:
    """Groups as a list of tuples, one per embedding row; lists are accepted (e.g. read back from JSON)."""
    if isinstance(groups, str | bytes):
        raise DataError(f"GroupedScorer: groups must be a sequence of (machine_type, section) tuples, got {groups!r}")
    out = [tuple(g) if isinstance(g, list) else g for g in groups]
    if len(out) != n_rows:
        raise DataError(
            f"GroupedScorer: {what} has {n_rows} rows but {len(out)} groups; pass one Clip.group per embedding"
        )
    for g in out:
        if not isinstance(g, tuple):
            raise DataError(
                f"GroupedScorer: group {g!r} is not a (machine_type, section) tuple; pass clip.group for each clip"
            )
    return out  # type: ignore[return-value]


class GroupedScorer(BaseEstimator):
    """Fits one copy of a scorer per group and scores each test embedding with the model of its own group.

    Args:
        scorer: what to fit per group: a spec string (``"knn_cosine:k=10"``), an unfitted scorer used as a
            template (``sklearn.base.clone``-d per group) or a zero-argument factory returning a new scorer.

    Attributes:
        scorers_: dict from group to its fitted scorer.
        n_features_in_: embedding width seen in ``fit``.

    Example:
        >>> grouped = GroupedScorer("knn_cosine:k=10").fit(train_X, [c.group for c in train_clips])
        >>> scores = grouped.anomaly_score(test_X, [c.group for c in test_clips])
    """

    def __init__(self, scorer: ScorerTemplate = "knn_cosine") -> None:
        self.scorer = scorer

    def _new_scorer(self) -> BaseScorer:
        if isinstance(self.scorer, str):
            return create_scorer(self.scorer)
        if isinstance(self.scorer, BaseScorer):
            return clone(self.scorer)
        if callable(self.scorer):
            return self.scorer()
        raise ConfigError(
            f"GroupedScorer: scorer must be a spec string, a scorer or a factory, got {type(self.scorer).__name__}"
        )

    def fit(self, X: Any, groups: Sequence[Group]) -> GroupedScorer:
        """Fit one scorer per group.

        Args:
            X: training embeddings (N, D), all normal.
            groups: N group tuples, ``Clip.group`` of each training clip.

        Returns:
            self, fitted.
        """
        X = check_embeddings(X, owner="GroupedScorer", what="training embeddings", min_samples=1)
        group_list = _check_groups(groups, X.shape[0], "training embeddings")
        scorers: dict[Group, BaseScorer] = {}
        for group, rows in _rows_by_group(group_list).items():
            scorer = self._new_scorer()
            try:
                scorers[group] = scorer.fit(X[rows])
            except SoundSentryError as err:  # say which group failed; keep the error's type
                raise type(err)(f"group {group}: {err}") from err
        self.scorers_ = scorers
        self.n_features_in_ = X.shape[1]
        return self

    def anomaly_score(self, X: Any, groups: Sequence[Group]) -> np.ndarray:
        """Score each test embedding with the scorer fitted on its group, higher = more anomalous.

        Args:
            X: test embeddings (M, D).
            groups: M group tuples, ``Clip.group`` of each test clip; every group needs training data.

        Returns:
            (M,) float64 anomaly scores, in the order of ``X``.
        """
        if not hasattr(self, "scorers_"):
            raise NotFittedScorerError("GroupedScorer is not fitted yet; call fit(X_train, groups) first")
        X = check_embeddings(X, owner="GroupedScorer", what="test embeddings")
        group_list = _check_groups(groups, X.shape[0], "test embeddings")
        by_group = _rows_by_group(group_list)
        missing = [g for g in by_group if g not in self.scorers_]
        if missing:
            raise DataError(
                f"GroupedScorer: no training embeddings for group {missing[0]}"
                f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}; fitted groups: "
                f"{', '.join(map(str, sorted(self.scorers_)))}; add training clips for it or drop its test clips"
            )
        scores = np.empty(X.shape[0], dtype=np.float64)
        for group, rows in by_group.items():
            scores[rows] = self.scorers_[group].anomaly_score(X[rows])
        return scores


def _rows_by_group(groups: list[Group]) -> dict[Group, np.ndarray]:
    """Row indices of each group, groups in order of first appearance."""
    rows: dict[Group, list[int]] = {}
    for i, g in enumerate(groups):
        rows.setdefault(g, []).append(i)
    return {g: np.asarray(idx, dtype=np.intp) for g, idx in rows.items()}
