"""Training of embedding networks: feature caching, held-out split, Lightning module, checkpoints, extraction.

The stage functions in :mod:`soundsentry.stages` are the entry points; the pieces here are reusable on their own::

    pipeline = build_feature_pipeline(recipe)             # wave (B, N) -> chunks (B, n, C, F, W)
    result = fit_unit(recipe, "fan", fan_train_clips, Path("runs/x/models/fan"))
    model, meta = load_embedding_model(result.model_path)  # standardiser + backbone, class map in meta
    emb = embed_clips(model, pipeline, clips, recipe.features)

A unit's training is a list of phases (:mod:`soundsentry.training.phases`, one module each) around one loop
(:mod:`soundsentry.training.loop`); :func:`fit_unit` runs the phases the recipe resolves to.
"""

from soundsentry.training.data import (
    ChunkDataset,
    EpochShuffleSampler,
    MixupDataset,
    PairSampler,
    class_map,
    split_train_val,
    training_units,
    unit_of,
)
from soundsentry.training.extract import Embeddings, embed_clips
from soundsentry.training.features import ChunkCache, FeaturePipeline, build_feature_pipeline, compute_chunks
from soundsentry.training.module import EmbeddingModel, MarginClassifierModule, build_optimizer
from soundsentry.training.phases import resolve_phases
from soundsentry.training.trainer import UnitResult, build_embedding_model, fit_unit, load_embedding_model
from soundsentry.training.unit import Phase, UnitRun

__all__ = [
    "ChunkCache",
    "ChunkDataset",
    "Embeddings",
    "EmbeddingModel",
    "EpochShuffleSampler",
    "FeaturePipeline",
    "MarginClassifierModule",
    "MixupDataset",
    "PairSampler",
    "Phase",
    "UnitResult",
    "UnitRun",
    "build_embedding_model",
    "build_feature_pipeline",
    "build_optimizer",
    "class_map",
    "compute_chunks",
    "embed_clips",
    "fit_unit",
    "load_embedding_model",
    "resolve_phases",
    "split_train_val",
    "training_units",
    "unit_of",
]
