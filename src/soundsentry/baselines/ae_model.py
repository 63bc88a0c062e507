"""What the DCASE 2023-2025 autoencoder baseline computes around its network: frame vectors from cached chunks,
the per-section error covariances and gamma thresholds after training, the per-clip statistics both scores need,
and the trained unit read back from its ``model.pt``.

Training itself is the ``autoencoder`` phase (:mod:`soundsentry.training.phases.autoencoder`) in the shared loop.
The recipe's front-end and chunking make the baseline's vectors: a log-mel front-end (``scale: db``,
``amin`` = float64 epsilon, no ``top_db``) cut into chunks of ``chunk_width: 5`` frames with ``chunk_hop: 1``;
:func:`chunk_vectors` lays each chunk out frame after frame, as the baseline concatenates frames
(``docs/ae_baseline.md``).

A unit's ``model.pt`` is the usual file (:mod:`soundsentry.training.modelfile`: ``state_dict`` = the network, no
head) plus ``ae_covariances`` ``{section: {source, target}}`` (``(F, F)`` float64 lists), ``ae_thresholds``
``{"ae_mse": float | None, "selective_mahalanobis": {section: float | None}}`` and ``ae_vectors`` (training /
validation vector counts).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from soundsentry.errors import DataError
from soundsentry.evaluation.threshold import fit_gamma_threshold
from soundsentry.scorers.autoencoder import DomainCovariances, ErrorCovariance, inverse, quadratic_form


def chunk_vectors(chunks: torch.Tensor) -> torch.Tensor:
    """Chunks ``(M, C, F, W)`` -> frame vectors ``(M, W * C * F)``: ``[frame 0's C * F values, frame 1's, ...]``."""
    m, c, f, w = chunks.shape
    return chunks.permute(0, 3, 1, 2).reshape(m, w * c * f).contiguous()


def reconstruction_errors(net: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> np.ndarray:
    """``x - net(x)[0]`` in eval mode without gradients: ``(V, dim)`` float32, in batches."""
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            b = x[i : i + batch_size]
            out.append((b - net(b)[0]).numpy())
    return np.concatenate(out) if out else np.empty((0, x.shape[1]), dtype=np.float32)


def clip_rows(errors: np.ndarray, owner: np.ndarray, n_clips: int, slice_width: int) -> np.ndarray:
    """Per clip ``[mse, m]`` (:func:`~soundsentry.scorers.autoencoder.clip_statistics`) from every vector's errors.

    Args:
        errors: (V, frames * slice_width) errors of all vectors.
        owner: (V,) clip index of each vector.
        n_clips: number of clips; each needs at least one vector.
        slice_width: values per frame slice (``n_mels``).

    Returns:
        (n_clips, 1 + slice_width) float64.
    """
    e = np.asarray(errors, dtype=np.float64)
    counts = np.bincount(owner, minlength=n_clips)
    if (counts == 0).any():
        raise DataError(f"{int((counts == 0).sum())} clip(s) give no frame vector; they are shorter than one chunk")
    sums = np.zeros((n_clips, 1 + slice_width))
    np.add.at(sums[:, 0], owner, np.mean(e * e, axis=1))
    np.add.at(sums[:, 1:], owner, e.reshape(len(e), -1, slice_width).mean(axis=1))
    return sums / counts[:, None]


def gamma_or_none(scores: list[float], q: float) -> float | None:
    """The gamma-percentile threshold, or None with too few samples to fit (tiny runs)."""
    try:
        return fit_gamma_threshold(scores, q)
    except DataError:
        return None


def _batches(n: int, batch_size: int, seed: int) -> list[np.ndarray]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


@dataclass
class VectorSet:
    """A unit's frame vectors and, per vector, its section and domain; ``train`` / ``val`` index the split."""

    x: torch.Tensor
    sections: np.ndarray
    is_target: np.ndarray
    train: np.ndarray
    val: np.ndarray


def covariances_and_thresholds(
    net: nn.Module, data: VectorSet, slice_width: int, batch_size: int, seed: int, percentile: float
) -> tuple[dict[str, DomainCovariances], dict[str, float | None]]:
    """Per-section covariances over shuffled training batches (the baseline's pass after the last epoch), then the
    per-section selective-Mahalanobis thresholds from batch scores of the training and validation vectors."""
    errors = reconstruction_errors(net, data.x)
    acc = {str(s): (ErrorCovariance(slice_width), ErrorCovariance(slice_width)) for s in np.unique(data.sections)}
    for batch in _batches(len(data.train), batch_size, seed + 1):
        if len(batch) <= 1:  # the baseline skips batches of one vector
            continue
        idx = data.train[batch]
        for s, (source, target) in acc.items():
            here = data.sections[idx] == s
            source.add(errors[idx[here & ~data.is_target[idx]]])
            target.add(errors[idx[here & data.is_target[idx]]])
    covs = {s: DomainCovariances.from_accumulators(*a) for s, a in acc.items()}
    precisions = {s: (inverse(c.source), inverse(c.target)) for s, c in covs.items()}
    batch_scores: dict[str, list[float]] = {s: [] for s in covs}
    order = [data.train[b] for b in _batches(len(data.train), batch_size, seed + 2)]
    order += [data.val[i : i + batch_size] for i in range(0, len(data.val), batch_size)]
    for idx in order:
        for s, (p_s, p_t) in precisions.items():
            here = idx[data.sections[idx] == s]
            if len(here):
                m = errors[here].astype(np.float64).reshape(-1, slice_width).mean(axis=0, keepdims=True)
                batch_scores[s].append(float(min(quadratic_form(m, p_s)[0], quadratic_form(m, p_t)[0])))
    return covs, {s: gamma_or_none(v, percentile) for s, v in batch_scores.items()}


@dataclass
class AEModel:
    """A trained unit read back: the network (eval mode, CPU), the slice width, per-section covariances and the
    gamma thresholds (``ae_mse``: one value, ``selective_mahalanobis``: per section)."""

    net: nn.Module
    slice_width: int
    covariances: dict[str, DomainCovariances]
    thresholds: dict[str, Any]
    meta: dict[str, Any]


def is_ae_model_file(payload: dict[str, Any]) -> bool:
    """Whether a ``model.pt`` payload is the autoencoder phase's."""
    return "ae_covariances" in payload


def build_autoencoder(spec: Any, chunk_shape: tuple[int, int, int]) -> nn.Module:
    """The recipe's ``backbone`` as an :data:`~soundsentry.baselines.autoencoder.AUTOENCODERS` network for chunks
    of ``chunk_shape`` = (C, F, W) (``input_dim`` = C * F * W)."""
    from soundsentry.baselines.autoencoder import AUTOENCODERS

    c, f, w = chunk_shape
    return AUTOENCODERS.create(spec.name, input_dim=c * f * w, **spec.kwargs)


def load_ae_model(path: str | os.PathLike[str]) -> AEModel:
    """Read a unit's ``model.pt`` written by the ``autoencoder`` phase."""
    from soundsentry.config import recipe_from_dict
    from soundsentry.training.modelfile import read_model_file

    payload = read_model_file(path)
    if not is_ae_model_file(payload):
        raise DataError(f"{path}: not an autoencoder model file (train.phase: autoencoder); retrain the unit")
    recipe = recipe_from_dict(payload["recipe"], str(path))
    shape = tuple(payload["chunk_shape"])
    net = build_autoencoder(recipe.backbone, shape)  # type: ignore[arg-type]
    net.load_state_dict(payload["state_dict"])
    covs = {
        s: DomainCovariances(np.asarray(c["source"]), np.asarray(c["target"]))
        for s, c in payload["ae_covariances"].items()
    }
    meta = {k: v for k, v in payload.items() if k not in ("state_dict", "head_state_dict")}
    return AEModel(net.eval(), shape[0] * shape[1], covs, payload["ae_thresholds"], meta)
