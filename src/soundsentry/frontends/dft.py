"""Magnitude spectrum of a whole segment as matrix products (a two-factor Cooley-Tukey DFT), exportable to ONNX.

``torch.fft.rfft`` exports (opset 18 ``DFT``), but onnxruntime's DFT on a length that is not a power of two (32000
samples, 2 s at 16 kHz) is both slow and off by ~0.2 % of the largest bin, far above the exporter's tolerance.
Writing ``N = N1 * N2`` and ``n = n1 + N1 * n2``, ``k = k2 + N2 * k1`` splits the length-``N`` DFT into length-``N2``
DFTs over ``n2``, a twiddle ``exp(-2 pi i n1 k2 / N)`` and length-``N1`` DFTs over ``n1``: three small fixed
matrices (200 x 200, 160 x 200, 160 x 160 at ``N = 32000``), plain ``MatMul`` in ONNX, float32-accurate, and
``O(N (N1 + N2))`` work instead of ``O(N ** 2)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from soundsentry.errors import ConfigError

MAX_FACTOR = 4096  # largest DFT matrix side (two float32 matrices of 64 MiB each)


def dft_factors(n: int) -> tuple[int, int]:
    """``(N1, N2)`` with ``N1 * N2 = n`` and ``N1 <= N2`` as close to ``sqrt(n)`` as the divisors allow."""
    if not isinstance(n, int) or n < 2:
        raise ConfigError(f"the spectrum needs at least 2 samples, got {n!r}")
    n1 = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    n2 = n // n1
    if n2 > MAX_FACTOR:
        raise ConfigError(
            f"a segment of {n} samples factors no better than {n1} x {n2} (> {MAX_FACTOR}): the DFT matrices would be "
            "too large; pick a segment length with small prime factors (e.g. a multiple of 1000 samples)"
        )
    return n1, n2


def _cos_sin(angle: np.ndarray) -> tuple[Tensor, Tensor]:
    return torch.as_tensor(np.cos(angle), dtype=torch.float32), torch.as_tensor(np.sin(angle), dtype=torch.float32)


class MagnitudeSpectrum(nn.Module):
    """``|DFT(x)|`` of each whole segment, first half of the bins: ``x: (B, N) -> (B, N // 2)``.

    Bin ``k`` is ``|sum_n x[n] exp(-2 pi i n k / N)|`` for ``k = 0 .. N // 2 - 1`` (DC kept, Nyquist dropped, as
    Wilkinghoff's spectrum branch keeps ``|FFT|[: N // 2]``), equal to ``torch.fft.rfft(x).abs()[..., : N // 2]``
    up to float32 rounding.

    Args:
        n_samples: the segment length ``N`` the matrices are built for.
        normalized: divide by ``sqrt(N)`` (the orthonormal DFT), so the values stay on the waveform's scale
            whatever the segment length.

    The matrices are non-persistent buffers: ``.to(device)`` moves them, the state dict does not carry them.
    """

    def __init__(self, n_samples: int, *, normalized: bool = True) -> None:
        super().__init__()
        self.n_samples = n_samples
        self.n1, self.n2 = dft_factors(n_samples)
        self.n_bins = n_samples // 2
        self.normalized = normalized
        # only the rows k1 that hold a kept bin k = k1 * N2 + k2 < N // 2
        rows = (self.n_bins - 1) // self.n2 + 1
        n1, n2 = np.arange(self.n1, dtype=np.float64), np.arange(self.n2, dtype=np.float64)
        for name, angle in (
            ("inner", 2 * np.pi * np.outer(n2, n2) / self.n2),  # (N2, N2): [n2, k2]
            ("twiddle", 2 * np.pi * np.outer(n1, n2) / n_samples),  # (N1, N2): [n1, k2]
            ("outer", 2 * np.pi * np.outer(np.arange(rows, dtype=np.float64), n1) / self.n1),  # (rows, N1)
        ):
            cos, sin = _cos_sin(angle)
            self.register_buffer(f"{name}_cos", cos, persistent=False)
            self.register_buffer(f"{name}_sin", sin, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """``x: (B, N) -> (B, N // 2)`` magnitudes."""
        if x.dim() != 2 or x.shape[1] != self.n_samples:
            raise ConfigError(
                f"MagnitudeSpectrum is built for (B, {self.n_samples}) segments, got {tuple(x.shape)}; build it for "
                "the segment length the features give"
            )
        b = x.shape[0]
        x = x.reshape(b, self.n2, self.n1).transpose(1, 2)  # [b, n1, n2] = x[n1 + N1 * n2]
        # length-N2 DFTs: Y = x @ exp(-i theta) = a + i * c
        a = torch.matmul(x, self.inner_cos)
        c = -torch.matmul(x, self.inner_sin)
        # twiddle: Z = Y * (cos - i sin)
        zr = a * self.twiddle_cos + c * self.twiddle_sin
        zi = c * self.twiddle_cos - a * self.twiddle_sin
        # length-N1 DFTs over n1: X[k1, k2] = sum_n1 (cos - i sin)[k1, n1] Z[n1, k2]
        xr = torch.matmul(self.outer_cos, zr) + torch.matmul(self.outer_sin, zi)
        xi = torch.matmul(self.outer_cos, zi) - torch.matmul(self.outer_sin, zr)
        mag = torch.sqrt(xr.square() + xi.square()).reshape(b, -1)[:, : self.n_bins]
        return mag / math.sqrt(self.n_samples) if self.normalized else mag

    def extra_repr(self) -> str:
        return f"n_samples={self.n_samples}, factors={self.n1}x{self.n2}, normalized={self.normalized}"
