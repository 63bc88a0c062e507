"""Score-level fusion of several scorers on the same embeddings: z-normalise each, then the mean or the minimum.

Each member is fitted on all training embeddings; its training scores are taken out of fold (an internal k-fold,
as in ``domain_standardize``), and their mean and standard deviation put the member's test scores on a common
scale. The fused score is the mean of the members' z-scores (``method=mean``) or their minimum (``method=min``: a
clip is anomalous only if every member says so). Fusion of several *runs* (score files) is
:func:`soundsentry.fusion.fuse_score_files`.

Spec: ``fusion:members=kmeans_knn|mahalanobis;shrinkage=0.1,method=mean`` (``|`` between members, ``;`` between a
member's options; quote it in a shell).
"""

from __future__ import annotations

import numpy as np

from soundsentry.errors import ConfigError
from soundsentry.registry import register_scorer
from soundsentry.scorers.base import BaseScorer, check_choice, check_positive_int
from soundsentry.scorers.domain_input import (
    DomainInputScorer,
    check_seed,
    checked_inner,
    fit_inner,
    out_of_fold_scores,
    score_inner,
    z_stats,
)

METHODS = ("mean", "min")


@register_scorer("fusion")
class FusionScorer(DomainInputScorer):
    """score(x) = mean (or min) over members m of (m(x) - mean_m) / std_m, on m's out-of-fold training scores.

    Args:
        members: member specs separated by ``|``, each with ``;`` between its options.
        method: ``mean`` or ``min`` of the members' z-scores.
        n_folds: folds of the internal out-of-fold training scores.
        seed: seed of the fold assignment.

    A member whose training scores give no spread (fewer than two, or constant) enters unscaled (mean 0, std 1).

    Attributes:
        members_: the fitted member scorers.
        stats_: (mean, std) of each member's out-of-fold training scores.
    """

    def __init__(
        self, members: str = "kmeans_knn|mahalanobis", method: str = "mean", n_folds: int = 5, seed: int = 0
    ) -> None:
        self.members = members
        self.method = method
        self.n_folds = n_folds
        self.seed = seed

    def member_specs(self) -> list[str]:
        """The member specs (``;`` form), one per member."""
        specs = [s.strip() for s in str(self.members).split("|")]
        if not all(specs):
            raise ConfigError(f"{self._owner}: members must be specs separated by '|', got {self.members!r}")
        return specs

    def _checked_members(self) -> list[BaseScorer]:
        return [checked_inner(self._owner, f"members[{i}]", s) for i, s in enumerate(self.member_specs())]

    def check_params(self) -> None:
        if not isinstance(self.members, str):
            raise ConfigError(f"{self._owner}: members must be a string of specs separated by '|'")
        self._checked_members()
        check_choice(self._owner, "method", self.method, METHODS)
        check_positive_int(self._owner, "n_folds", self.n_folds)
        check_seed(self._owner, self.seed)

    @property
    def wants_centres(self) -> bool:
        """True when a member needs the learned centres in ``fit``."""
        return any(getattr(m, "wants_centres", False) for m in self._checked_members())

    def _fit_domains(self, X: np.ndarray, doms: np.ndarray, centres: np.ndarray | None) -> None:
        members, stats = [], []
        for spec, scorer in zip(self.member_specs(), self._checked_members(), strict=True):
            members.append(fit_inner(scorer, X, doms, centres))
            oof = out_of_fold_scores(spec, X, doms, centres, self.n_folds, self.seed)
            stats.append(z_stats(oof) or (0.0, 1.0))
        self.members_, self.stats_ = members, stats

    def _score_domains(self, X: np.ndarray, doms: np.ndarray) -> np.ndarray:
        z = np.stack(
            [(score_inner(m, X, doms) - mean) / std for m, (mean, std) in zip(self.members_, self.stats_, strict=True)]
        )  # (members, M)
        return z.mean(axis=0) if self.method == "mean" else z.min(axis=0)
