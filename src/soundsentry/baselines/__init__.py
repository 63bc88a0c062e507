"""Published baselines rebuilt in soundsentry's style; today the DCASE 2023-2025 Task 2 autoencoder.

Importing this package registers the network in :data:`~soundsentry.baselines.autoencoder.AUTOENCODERS` and the
two scorers (``ae_mse``, ``selective_mahalanobis``) in :data:`soundsentry.registry.SCORERS`. The facts and where
they come from are in ``docs/ae_baseline.md``.

Entry points::

    frame_vectors(wave, AEFeatureParams())          # (T', 640) float32 for one clip
    fit_ae_unit(clips, out_dir, params=AEParams())  # -> out_dir/model.pt
    ae_error_vectors(model_file, clips)             # iterator of (T', 640) error arrays
    ae_clip_statistics(model_file, clips)           # (N, 129) rows [mse, m], all both scores need
    ae_baseline_scores(clips, out_dir, AEParams())  # {"mse": (N,), "selective_mahalanobis": (N,)}
"""

from soundsentry.baselines.ae_features import AEFeatureParams, ae_frontend, clip_vectors, frame_vectors, stack_frames
from soundsentry.baselines.ae_run import ae_baseline_scores, ae_clip_statistics, ae_error_vectors
from soundsentry.baselines.ae_scores import (
    AEMSEScorer,
    DomainCovariances,
    ErrorCovariance,
    SelectiveMahalanobisScorer,
    clip_statistics,
    selective_mahalanobis,
)
from soundsentry.baselines.ae_train import AEModel, AEParams, fit_ae_unit, load_ae_model
from soundsentry.baselines.autoencoder import AUTOENCODERS, DenseAutoencoder

__all__ = [
    "AEFeatureParams",
    "AEMSEScorer",
    "AEModel",
    "AEParams",
    "AUTOENCODERS",
    "DenseAutoencoder",
    "DomainCovariances",
    "ErrorCovariance",
    "SelectiveMahalanobisScorer",
    "ae_baseline_scores",
    "ae_clip_statistics",
    "ae_error_vectors",
    "ae_frontend",
    "clip_statistics",
    "clip_vectors",
    "fit_ae_unit",
    "frame_vectors",
    "load_ae_model",
    "selective_mahalanobis",
    "stack_frames",
]
