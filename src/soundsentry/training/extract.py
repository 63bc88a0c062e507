"""Embed clips with a trained model: chunk embeddings and their mean per clip.

Clips are streamed (load, front-end, embed, forget), so extraction of a large test set never holds all features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from soundsentry.config import FeatureConfig
from soundsentry.training.features import FeaturePipeline, iter_clip_chunks
from soundsentry.training.module import EmbeddingModel
from soundsentry.types import Clip


@dataclass
class Embeddings:
    """Embeddings of a list of clips.

    Attributes:
        clip: (N, D) mean of each clip's chunk embeddings.
        chunk: (M, D) every chunk embedding, ordered by clip then time.
        chunk_clip: (M,) index of each chunk's clip.
    """

    clip: np.ndarray
    chunk: np.ndarray
    chunk_clip: np.ndarray


@torch.no_grad()
def embed_clips(
    model: EmbeddingModel,
    pipeline: FeaturePipeline,
    clips: Sequence[Clip],
    features: FeatureConfig,
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> Embeddings:
    """Embed every chunk of every clip; the clip embedding is the mean of its chunk embeddings."""
    model = model.to(device).eval()
    pipeline = pipeline.to(device)
    per_clip: list[np.ndarray | None] = [None] * len(clips)
    for indices, chunks in iter_clip_chunks(clips, pipeline, features):
        b, n = chunks.shape[:2]
        flat = chunks.reshape(b * n, *chunks.shape[2:])
        emb = torch.cat(
            [model(flat[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(flat), batch_size)]
        )
        for j, i in enumerate(indices):
            per_clip[i] = emb[j * n : (j + 1) * n].numpy()
    arrays = [a for a in per_clip if a is not None]
    chunk = np.concatenate(arrays).astype(np.float32)
    chunk_clip = np.concatenate([np.full(len(a), i, dtype=np.int64) for i, a in enumerate(arrays)])
    clip = np.stack([a.mean(axis=0) for a in arrays]).astype(np.float32)
    return Embeddings(clip, chunk, chunk_clip)
