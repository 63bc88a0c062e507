"""Classifier-based scores of S4 (ID classification on DCASE 2020): own-ID softmax and centroid cosine.

``softmax_id`` is S4's main score, ``1 - softmax probability of the clip's own ID``. The probabilities come from
the trained classification head, so this scorer's X is not an embedding but the head's logits::

    logits = head.logits(backbone(x))              # (M, C), no margin at inference
    scorer = SCORERS.create("softmax_id")          # or class_index=<the ID's class>
    scorer.fit(train_logits_of_this_id).anomaly_score(test_logits_of_this_id)

Fit it per machine ID (e.g. in :class:`~soundsentry.scorers.grouped.GroupedScorer` with the (machine type,
section) groups): with ``class_index=None`` it learns the own class from the training logits of that ID, as the
class with the highest mean softmax probability; pass ``class_index`` to fix it instead. The width C of X is
checked like an embedding width, so logits of another head are refused.

``centroid_cosine`` is one of S4's named alternatives: cosine distance to the mean of the normal embeddings.
"""

from __future__ import annotations

import numbers
from typing import ClassVar

import numpy as np
from scipy.special import softmax

from soundsentry.errors import ConfigError, DataError
from soundsentry.registry import register_scorer
from soundsentry.scorers.base import BaseScorer
from soundsentry.scorers.knn import _unit_rows


@register_scorer("softmax_id")
class SoftmaxScorer(BaseScorer):
    """score(z) = 1 - softmax(z)[c] for logits z: (M, C) and the clip's own class c.

    Args:
        class_index: the own class c; ``None`` learns it in ``fit`` as the argmax of the mean training
            softmax probabilities (fit on the training clips of one ID).

    Attributes:
        class_index_: the class c used.
    """

    #: X holds classifier logits (M, C), not embeddings.
    input_kind: ClassVar[str] = "logits"

    def __init__(self, class_index: int | None = None) -> None:
        self.class_index = class_index

    def check_params(self) -> None:
        c = self.class_index
        if c is not None and (isinstance(c, bool) or not isinstance(c, numbers.Integral) or c < 0):
            raise ConfigError(f"{self._owner}: class_index must be None or an integer >= 0, got {c!r}")

    def _fit(self, X: np.ndarray) -> None:
        if self.class_index is None:
            self.class_index_ = int(softmax(X, axis=1).mean(axis=0).argmax())
            return
        if self.class_index >= X.shape[1]:
            raise DataError(
                f"{self._owner}: class_index={self.class_index} but the logits have {X.shape[1]} classes; "
                "pass the class of this ID in the trained head or class_index=None"
            )
        self.class_index_ = int(self.class_index)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return 1.0 - softmax(X, axis=1)[:, self.class_index_]


@register_scorer("centroid_cosine")
class CentroidCosineScorer(BaseScorer):
    """score(x) = 1 - cos(x, mu), mu the mean of the normal training embeddings.

    Args:
        normalize: average unit-length embeddings (the mean direction) instead of the raw embeddings.

    Attributes:
        centroid_: (D,) the centroid mu.
    """

    def __init__(self, normalize: bool = False) -> None:
        self.normalize = normalize

    def check_params(self) -> None:
        if not isinstance(self.normalize, bool):
            raise ConfigError(f"{self._owner}: normalize must be true or false, got {self.normalize!r}")

    def _fit(self, X: np.ndarray) -> None:
        rows = _unit_rows(X) if self.normalize else X
        centroid = rows.mean(axis=0)
        if not np.linalg.norm(centroid) > 0:
            raise DataError(
                f"{self._owner}: the training embeddings average to the zero vector, so no direction is defined; "
                "use another scorer (e.g. knn_cosine) for these embeddings"
            )
        self.centroid_ = centroid

    def _score(self, X: np.ndarray) -> np.ndarray:
        return 1.0 - _unit_rows(X) @ (self.centroid_ / np.linalg.norm(self.centroid_))
