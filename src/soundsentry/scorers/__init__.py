"""Scorers: fit on normal embeddings, ``anomaly_score(X)`` higher = more anomalous.

Importing this package registers every scorer in :data:`soundsentry.registry.SCORERS`:
``knn``, ``knn_cosine``, ``mahalanobis``, ``gmm``, ``lof``, ``ocsvm``, ``domain_aware``, and the
domain-generalisation back-ends ``kmeans_knn``, ``smote_knn``, ``density_knn``, ``domain_standardize``,
``fusion``, and the two scores of the DCASE autoencoder baseline on its clip statistics, ``ae_mse`` and
``selective_mahalanobis``. Build one by spec with
:func:`create_scorer` (``create_scorer("knn_cosine:k=10")``); fit one per (machine type, section) with
:class:`GroupedScorer`.
"""

from soundsentry.scorers.autoencoder import AEMSEScorer, SelectiveMahalanobisScorer
from soundsentry.scorers.base import BaseScorer, NormalityScorer, NotFittedScorerError, check_embeddings
from soundsentry.scorers.chunks import ChunkPoolScorer
from soundsentry.scorers.classifier import CentroidCosineScorer, SoftmaxScorer
from soundsentry.scorers.density import DensityKNNScorer
from soundsentry.scorers.domain import DomainAwareScorer
from soundsentry.scorers.domain_input import DomainInputScorer
from soundsentry.scorers.fusion import FusionScorer
from soundsentry.scorers.gmm import GMMScorer
from soundsentry.scorers.grouped import GroupedScorer
from soundsentry.scorers.kmeans_knn import KMeansKNNScorer
from soundsentry.scorers.knn import CosineKNNScorer, KNNScorer
from soundsentry.scorers.lof import LOFScorer
from soundsentry.scorers.mahalanobis import MahalanobisScorer
from soundsentry.scorers.ocsvm import OCSVMScorer
from soundsentry.scorers.smote import SmoteKNNScorer
from soundsentry.scorers.spec import create_scorer, format_scorer_spec, parse_scorer_spec
from soundsentry.scorers.standardize import DomainStandardizeScorer
from soundsentry.scorers.torch_gmm import TorchGMMScorer
from soundsentry.scorers.torch_neighbors import TorchKNNScorer, TorchLOFScorer

__all__ = [
    "AEMSEScorer",
    "BaseScorer",
    "CentroidCosineScorer",
    "ChunkPoolScorer",
    "CosineKNNScorer",
    "DensityKNNScorer",
    "DomainAwareScorer",
    "DomainInputScorer",
    "DomainStandardizeScorer",
    "FusionScorer",
    "GMMScorer",
    "GroupedScorer",
    "KMeansKNNScorer",
    "KNNScorer",
    "LOFScorer",
    "MahalanobisScorer",
    "NormalityScorer",
    "NotFittedScorerError",
    "OCSVMScorer",
    "SelectiveMahalanobisScorer",
    "SmoteKNNScorer",
    "SoftmaxScorer",
    "TorchGMMScorer",
    "TorchKNNScorer",
    "TorchLOFScorer",
    "check_embeddings",
    "create_scorer",
    "format_scorer_spec",
    "parse_scorer_spec",
]
