"""Published baselines rebuilt in soundsentry's style; today the DCASE 2023-2025 Task 2 autoencoder.

The baseline runs as a recipe (``soundsentry run dcase_ae_baseline --data D --run-dir R``): ``train.phase:
autoencoder`` trains each unit (:mod:`soundsentry.training.phases.autoencoder`, the shared loop), ``extract``
writes per clip the statistics ``[mse, m]`` (:func:`ae_embeddings`), and ``score`` applies ``ae_mse`` and
``selective_mahalanobis`` (:mod:`soundsentry.scorers.autoencoder`, registered with every scorer). The network is
registered in :data:`AUTOENCODERS` (``soundsentry list``). Facts and sources: ``docs/ae_baseline.md``.

Also here: the baseline's own front-end for one clip (:func:`frame_vectors`, the reference the recipe's
front-end is tested against) and a trained unit read back (:func:`load_ae_model`).
"""

from soundsentry.baselines.ae_features import AEFeatureParams, ae_frontend, clip_vectors, frame_vectors, stack_frames
from soundsentry.baselines.ae_model import AEModel, chunk_vectors, clip_rows, load_ae_model
from soundsentry.baselines.ae_run import ae_embeddings, ae_statistics, load_covariances
from soundsentry.baselines.autoencoder import AUTOENCODERS, DenseAutoencoder
from soundsentry.scorers.autoencoder import (
    AEMSEScorer,
    DomainCovariances,
    ErrorCovariance,
    SelectiveMahalanobisScorer,
    clip_statistics,
    selective_mahalanobis,
)

__all__ = [
    "AEFeatureParams",
    "AEMSEScorer",
    "AEModel",
    "AUTOENCODERS",
    "DenseAutoencoder",
    "DomainCovariances",
    "ErrorCovariance",
    "SelectiveMahalanobisScorer",
    "ae_embeddings",
    "ae_frontend",
    "ae_statistics",
    "chunk_vectors",
    "clip_rows",
    "clip_statistics",
    "clip_vectors",
    "frame_vectors",
    "load_ae_model",
    "load_covariances",
    "selective_mahalanobis",
    "stack_frames",
]
