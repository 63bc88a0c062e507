"""Shared pieces of the PyTorch scorers: device and dtype checks, chunked pairwise distances.

The fitted state of a PyTorch scorer is kept as numpy arrays (so a fitted scorer pickles and loads on a machine
without a GPU) and moved to ``device`` for each ``fit`` / ``anomaly_score`` call.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from soundsentry.errors import ConfigError

DTYPES = {"float64": torch.float64, "float32": torch.float32}
METRICS = ("euclidean", "cosine", "manhattan")

# Largest (rows, N) block of distances held at once: 2**25 values (256 MiB in float64).
_BLOCK_ELEMENTS = 2**25


def check_device(owner: str, device: Any) -> torch.device:
    """``device`` as a torch.device, or a ConfigError naming the parameter; CUDA must be available if asked for."""
    if not isinstance(device, str | torch.device):
        raise ConfigError(f"{owner}: device must be a string such as 'cpu' or 'cuda', got {device!r}")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ConfigError(f"{owner}: device {device!r} is not a torch device ({err}); use 'cpu' or 'cuda'") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{owner}: device {device!r} asked for but CUDA is not available here; use device='cpu'")
    return dev


def check_dtype(owner: str, dtype: Any) -> torch.dtype:
    """The torch dtype named by ``dtype`` (``float64`` or ``float32``), or a ConfigError."""
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ConfigError(f"{owner}: dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]


def to_tensor(X: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.as_tensor(X, dtype=dtype, device=device)


def row_blocks(n_rows: int, n_cols: int) -> Iterator[slice]:
    """Slices of at most ``_BLOCK_ELEMENTS // n_cols`` rows covering ``range(n_rows)``."""
    step = max(1, _BLOCK_ELEMENTS // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def pairwise_distances(A: torch.Tensor, B: torch.Tensor, metric: str) -> torch.Tensor:
    """Distances (a, b) between the rows of ``A: (a, D)`` and ``B: (b, D)``, as scikit-learn defines them.

    ``cosine`` is ``1 - cos`` clipped to [0, 2] with zero rows treated as having cosine 0 to everything.
    """
    if metric == "euclidean":
        return torch.cdist(A, B)
    if metric == "manhattan":
        return torch.cdist(A, B, p=1.0)
    tiny = torch.finfo(A.dtype).tiny
    a = A / A.norm(dim=1, keepdim=True).clamp(min=tiny)
    b = B / B.norm(dim=1, keepdim=True).clamp(min=tiny)
    return (1.0 - a @ b.T).clamp(0.0, 2.0)


def nearest(
    queries: torch.Tensor, bank: torch.Tensor, k: int, metric: str, exclude_self: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances and indices (M, k) of the k nearest rows of ``bank`` for each query, nearest first.

    With ``exclude_self`` the queries are the bank itself and each row's own index is skipped (LOF's fit).
    """
    dists, idx = [], []
    for rows in row_blocks(queries.shape[0], bank.shape[0]):
        block = pairwise_distances(queries[rows], bank, metric)
        if exclude_self:
            own = torch.arange(rows.start, rows.stop, device=block.device)
            block[torch.arange(block.shape[0], device=block.device), own] = float("inf")
        d, i = torch.topk(block, k, dim=1, largest=False, sorted=True)
        dists.append(d)
        idx.append(i)
    return torch.cat(dists), torch.cat(idx)
