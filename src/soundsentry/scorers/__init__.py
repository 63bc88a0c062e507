"""Scorers: fit on normal embeddings, ``anomaly_score(X)`` higher = more anomalous.

Importing this package registers every scorer in :data:`soundsentry.registry.SCORERS`:
``knn``, ``knn_cosine``, ``mahalanobis``, ``gmm``, ``lof``, ``ocsvm``. Build one by spec with
:func:`create_scorer` (``create_scorer("knn_cosine:k=10")``); fit one per (machine type, section) with
:class:`GroupedScorer`.
"""

from soundsentry.scorers.base import BaseScorer, NormalityScorer, NotFittedScorerError, check_embeddings
from soundsentry.scorers.gmm import GMMScorer
from soundsentry.scorers.grouped import GroupedScorer
from soundsentry.scorers.knn import CosineKNNScorer, KNNScorer
from soundsentry.scorers.lof import LOFScorer
from soundsentry.scorers.mahalanobis import MahalanobisScorer
from soundsentry.scorers.ocsvm import OCSVMScorer
from soundsentry.scorers.spec import create_scorer, format_scorer_spec, parse_scorer_spec

__all__ = [
    "BaseScorer",
    "CosineKNNScorer",
    "GMMScorer",
    "GroupedScorer",
    "KNNScorer",
    "LOFScorer",
    "MahalanobisScorer",
    "NormalityScorer",
    "NotFittedScorerError",
    "OCSVMScorer",
    "check_embeddings",
    "create_scorer",
    "format_scorer_spec",
    "parse_scorer_spec",
]
