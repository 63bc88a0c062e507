"""Cut features along time into fixed-width pieces: S1's 32-frame chunks and S2's context windows.

Both take ``x: (B, C, F, T)`` and return ``(B, n, C, F, width)``, the same ``n`` for every clip in the batch; a
network sees ``x.reshape(B * n, C, F, width)``. The result may be a view of ``x`` (overlapping windows share
memory), so copy it before changing it in place.

Clips shorter than one piece are padded at the end, never dropped: ``pad_mode="replicate"`` (the default) repeats
the last frame, which adds no value the features could not hold (a zero is a loud frame in dB and the mean after
standardisation); ``"constant"`` pads with ``pad_value``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from soundsentry.errors import ConfigError

PAD_MODES: tuple[str, ...] = ("replicate", "constant")
TAILS: tuple[str, ...] = ("drop", "pad")


def _check_features(x: Tensor, name: str) -> None:
    if x.dim() != 4:
        raise ConfigError(f"{name} expects (B, C, F, T) features, got shape {tuple(x.shape)}")


def _check_int(**values: int) -> None:
    for key, value in values.items():
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{key} must be a positive integer, got {value!r}")


def pad_time(x: Tensor, length: int, pad_mode: str = "replicate", pad_value: float = 0.0) -> Tensor:
    """Pad ``x: (..., T)`` at the end to ``length`` frames (no-op when ``T >= length``)."""
    if pad_mode not in PAD_MODES:
        raise ConfigError(f"pad_mode must be one of {', '.join(PAD_MODES)}, got {pad_mode!r}")
    missing = length - x.shape[-1]
    if missing <= 0:
        return x
    if pad_mode == "replicate":
        fill = x[..., -1:].expand(*x.shape[:-1], missing)
    else:
        fill = x.new_full((*x.shape[:-1], missing), pad_value)
    return torch.cat([x, fill], dim=-1)


def _windows(x: Tensor, width: int, hop: int, n: int) -> Tensor:
    """The first ``n`` windows starting at ``0, hop, 2 * hop ...``: ``(B, C, F, T) -> (B, n, C, F, width)``."""
    return x.unfold(-1, width, hop)[:, :, :, :n].permute(0, 3, 1, 2, 4)


def num_chunks(n_frames: int, width: int, hop: int | None = None, tail: str = "drop") -> int:
    """How many pieces :func:`chunk_frames` cuts ``n_frames`` frames into."""
    hop = width if hop is None else hop
    _check_int(n_frames=n_frames, width=width, hop=hop)
    if tail not in TAILS:
        raise ConfigError(f"tail must be one of {', '.join(TAILS)}, got {tail!r}")
    if n_frames <= width:
        return 1
    if tail == "drop":
        return (n_frames - width) // hop + 1
    return math.ceil((n_frames - width) / hop) + 1


def chunk_frames(
    x: Tensor,
    width: int,
    hop: int | None = None,
    *,
    tail: str = "drop",
    pad_mode: str = "replicate",
    pad_value: float = 0.0,
) -> Tensor:
    """Cut ``x: (B, C, F, T)`` into pieces of ``width`` frames: ``-> (B, n, C, F, width)``.

    Args:
        width: frames per piece (S1: 32).
        hop: shift between pieces; ``None`` = ``width`` (non-overlapping, as S1).
        tail: frames after the last whole piece: ``"drop"`` (default; S1's 313-frame clips give 9 chunks of 32
            and lose 25 frames) or ``"pad"`` (one more piece, padded). A clip shorter than ``width`` is always
            padded to one piece.
        pad_mode, pad_value: how padding is filled, see :func:`pad_time`.
    """
    _check_features(x, "chunk_frames")
    hop = width if hop is None else hop
    n = num_chunks(x.shape[-1], width, hop, tail)
    x = pad_time(x, (n - 1) * hop + width, pad_mode, pad_value)
    return _windows(x, width, hop, n)


def num_context_windows(n_frames: int, size: int, shift: int) -> int:
    """S2's count ``ceil((T - P) / L)``, and 1 when ``T <= P``."""
    _check_int(n_frames=n_frames, size=size, shift=shift)
    if n_frames <= size:
        return 1
    return math.ceil((n_frames - size) / shift)


def context_windows(x: Tensor, size: int, shift: int, *, pad_mode: str = "replicate", pad_value: float = 0.0) -> Tensor:
    """S2's context windows: ``x: (B, C, F, T) -> (B, n, C, F, size)`` with ``n = ceil((T - size) / shift)``.

    Window ``i`` covers frames ``i * shift .. i * shift + size - 1`` (S2: ``P = size = 64``, ``L = shift = 8``,
    ``T = 313`` -> 32 windows). Every window lies inside the clip; as the formula says, when ``(T - P)`` is a
    multiple of ``L`` the last window that would fit exactly is left out. When ``T <= P`` there is one window, padded
    to ``P`` frames (see :func:`pad_time`) where ``T < P``.
    """
    _check_features(x, "context_windows")
    n = num_context_windows(x.shape[-1], size, shift)
    x = pad_time(x, size, pad_mode, pad_value)
    return _windows(x, size, shift, n)
