"""Feature standardisation fitted on training features and saved with the model.

:class:`Standardizer` streams over training batches once, merging per-batch statistics with Chan et al.'s
parallel update in float64 (no sum-of-squares cancellation), and keeps ``mean`` / ``std`` / ``count`` as buffers
so they travel in the model's state dict.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from soundsentry.errors import ConfigError, DataError


def _as_tensor(batch: Tensor | np.ndarray) -> Tensor:
    x = batch if isinstance(batch, Tensor) else torch.as_tensor(np.asarray(batch))
    if x.dim() < 3:
        raise DataError(f"Standardizer expects feature batches (..., C, F, T), got shape {tuple(x.shape)}")
    return x.detach()


class Standardizer(nn.Module):
    """``(x - mean) / std`` with statistics over all training frames.

    Args:
        per_bin: one mean and std per (channel, frequency bin), shape ``(C, F, 1)``, reduced over every other
            dimension (batch, chunk, time); otherwise one global scalar pair.
        eps: floor of ``std``, so a constant bin (e.g. padding) does not divide by zero.

    Features are ``(..., C, F, T)``: ``(B, C, F, T)`` clips or ``(B, n, C, F, W)`` chunks alike. ``std`` is the
    population standard deviation (``numpy.std`` with ``ddof=0``).
    """

    mean: Tensor
    std: Tensor
    count: Tensor

    def __init__(self, *, per_bin: bool = True, eps: float = 1e-8) -> None:
        super().__init__()
        self.per_bin = per_bin
        self.eps = eps
        # Empty until fitted; _load_from_state_dict resizes them so an unfitted module can load fitted statistics.
        self.register_buffer("mean", torch.zeros(0))
        self.register_buffer("std", torch.zeros(0))
        # int64 so .half() / .double() on the model leave the frame count exact
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @property
    def fitted(self) -> bool:
        return bool(self.count.item() > 0)

    def _reduce_dims(self, x: Tensor) -> tuple[int, ...]:
        if self.per_bin:
            return tuple(d for d in range(x.dim()) if d not in (x.dim() - 3, x.dim() - 2))
        return tuple(range(x.dim()))

    @torch.no_grad()
    def fit(self, batches: Iterable[Tensor | np.ndarray] | Tensor) -> Standardizer:
        """Fit on training features: an iterable of ``(..., C, F, T)`` batches, or one such tensor.

        Replaces earlier statistics; returns ``self``.
        """
        if isinstance(batches, (Tensor, np.ndarray)):
            batches = [batches]
        n_total = 0
        mean: Tensor | None = None
        m2: Tensor | None = None
        shape: torch.Size | None = None
        for raw in batches:
            x = _as_tensor(raw)
            if shape is not None and x.shape[-3:-1] != shape:
                raise DataError(
                    f"feature batches disagree: (C, F) was {tuple(shape)} but a later batch has "
                    f"{tuple(x.shape[-3:-1])}; fit one Standardizer per front-end configuration"
                )
            shape = x.shape[-3:-1]
            x = x.to(torch.float64)
            dims = self._reduce_dims(x)
            n_b = int(np.prod([x.shape[d] for d in dims])) if dims else 1
            if n_b == 0:
                continue
            mean_b = x.mean(dim=dims)
            m2_b = (x - (mean_b.unsqueeze(-1) if self.per_bin else mean_b)).square().sum(dim=dims)
            if mean is None or m2 is None:
                mean, m2, n_total = mean_b, m2_b, n_b
                continue
            mean_b, m2_b = mean_b.to(mean.device), m2_b.to(mean.device)
            n_new = n_total + n_b
            delta = mean_b - mean
            mean = mean + delta * (n_b / n_new)
            m2 = m2 + m2_b + delta.square() * (n_total * n_b / n_new)
            n_total = n_new
        if mean is None or m2 is None:
            raise DataError("Standardizer.fit got no feature frames; pass the training feature batches")
        std = torch.sqrt(m2 / n_total).clamp_min(self.eps)
        device = self.count.device
        if self.per_bin:
            mean, std = mean.unsqueeze(-1), std.unsqueeze(-1)
        self.mean = mean.to(device=device, dtype=torch.float32)
        self.std = std.to(device=device, dtype=torch.float32)
        self.count = torch.tensor(n_total, dtype=torch.long, device=device)
        return self

    def forward(self, x: Tensor) -> Tensor:
        """Standardise ``x: (..., C, F, T)``; same shape out."""
        if not self.fitted:
            raise ConfigError(
                "Standardizer is not fitted; call .fit(training_feature_batches) or load a state dict saved "
                "after fitting"
            )
        if self.per_bin and tuple(x.shape[-3:-1]) != tuple(self.mean.shape[:2]):
            raise DataError(
                f"Standardizer was fitted on (C, F) = {tuple(self.mean.shape[:2])} but got features of shape "
                f"{tuple(x.shape)}; refit it for this front-end"
            )
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def inverse(self, x: Tensor) -> Tensor:
        """Undo :meth:`forward`."""
        if not self.fitted:
            raise ConfigError("Standardizer is not fitted; call .fit(training_feature_batches) first")
        return x * self.std.to(x.dtype) + self.mean.to(x.dtype)

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        for name in ("mean", "std"):
            key = prefix + name
            if key in state_dict and state_dict[key].shape != getattr(self, name).shape:
                setattr(self, name, torch.empty_like(state_dict[key], device=getattr(self, name).device))
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def extra_repr(self) -> str:
        return f"per_bin={self.per_bin}, fitted={self.fitted}"
