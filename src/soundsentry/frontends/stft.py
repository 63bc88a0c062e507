"""Batched STFT front-ends in torch, numerically matching librosa.

:class:`STFTFrontend` holds what every spectral front-end shares: the analysis window (a non-persistent buffer, so
``.to(device)`` moves it but the state dict stays small), librosa-compatible centring and the log scales.
:class:`MagnitudeSTFT` is the linear-frequency front-end of S1 (n_fft 2046, hop 512 -> 1024 bins, chunks of 32
frames, optionally folded into 4 channels of 256 bins).

Matched librosa (>= 0.10) defaults: periodic window from ``librosa.filters.get_window(window, win_length,
fftbins=True)`` zero-padded to ``n_fft`` at the centre; ``center=True`` pads ``n_fft // 2`` zeros on both sides
(``pad_mode="constant"``, librosa's default since 0.10), giving ``1 + N // hop_length`` frames.
"""

from __future__ import annotations

from typing import Literal

import librosa
import numpy as np
import torch
from torch import Tensor, nn

from soundsentry.errors import AudioError, ConfigError
from soundsentry.frontends.windows import chunk_frames
from soundsentry.registry import register_frontend

LogScale = Literal["db", "ln", "log10"]
LOG_SCALES: tuple[str, ...] = ("db", "ln", "log10")
PAD_MODES: tuple[str, ...] = ("constant", "reflect")


def apply_log_scale(
    x: Tensor, scale: str | None, *, amin: float = 1e-10, eps: float = 1e-10, top_db: float | None = None
) -> Tensor:
    """Compress non-negative features ``x: (B, ...)`` with a log.

    Args:
        x: power or magnitude values, first dimension the batch.
        scale: ``"db"``: ``10 * log10(max(x, amin))`` as ``librosa.power_to_db(x, ref=1.0)``; ``"ln"``:
            ``log(x + eps)``; ``"log10"``: ``log10(x + eps)``; ``None``: ``x`` unchanged.
        amin: floor of ``"db"``.
        eps: offset of ``"ln"`` and ``"log10"``.
        top_db: ``"db"`` only: clip each item at its own maximum minus ``top_db``, exactly what
            ``librosa.power_to_db`` does when called on one clip at a time (so items stay independent).
    """
    if scale is None:
        return x
    if scale == "db":
        out = 10.0 * torch.log10(torch.clamp(x, min=amin))
        if top_db is not None:
            peak = out.reshape(out.shape[0], -1).amax(dim=1).reshape((-1,) + (1,) * (out.dim() - 1))
            out = torch.maximum(out, peak - top_db)
        return out
    if scale == "ln":
        return torch.log(x + eps)
    if scale == "log10":
        return torch.log10(x + eps)
    raise ConfigError(f"log scale must be one of {', '.join(LOG_SCALES)} or None, got {scale!r}")


def fold_frequency(x: Tensor, folds: int) -> Tensor:
    """Fold contiguous frequency bands into channels: ``(B, C, F, T) -> (B, C * folds, F // folds, T)``.

    Output channel ``c * folds + k`` holds bins ``k * F // folds .. (k + 1) * F // folds - 1`` of input channel
    ``c``: each channel is one contiguous band, so a 3x3 convolution still sees neighbouring bins (S1 network 2:
    1024 bins -> 4 channels of 256).
    """
    if folds < 1:
        raise ConfigError(f"folds must be a positive integer, got {folds}")
    if x.dim() != 4:
        raise ConfigError(f"fold_frequency expects (B, C, F, T) features, got shape {tuple(x.shape)}")
    B, C, F, T = x.shape
    if F % folds:
        raise ConfigError(f"cannot fold {F} frequency bins into {folds} equal bands; pick folds dividing {F}")
    return x.reshape(B, C * folds, F // folds, T)


def _check_positive(**values: int | None) -> None:
    for name, value in values.items():
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")


class STFTFrontend(nn.Module):
    """Shared STFT machinery; subclasses turn ``|STFT| ** power`` into features in :meth:`forward`.

    Args:
        sample_rate: expected rate of the input waveforms in Hz (kept for checks by callers).
        n_fft: FFT size; ``1 + n_fft // 2`` frequency bins.
        hop_length: frame shift in samples.
        win_length: window length (<= ``n_fft``), default ``n_fft``; shorter windows are zero-padded at the centre.
        window: any window name ``librosa.filters.get_window`` accepts (``"hann"``, ``"hamming"`` ...).
        center: pad ``n_fft // 2`` samples on both sides so frame ``t`` is centred on sample ``t * hop_length``.
        pad_mode: padding when centring: ``"constant"`` (zeros, librosa's default) or ``"reflect"``.
        power: exponent of the magnitude (1 = magnitude, 2 = power).
        subtract_mean: subtract each clip's waveform mean before the STFT (S2 removes DC offset this way).
    """

    def __init__(
        self,
        *,
        sample_rate: int,
        n_fft: int,
        hop_length: int,
        win_length: int | None = None,
        window: str = "hann",
        center: bool = True,
        pad_mode: str = "constant",
        power: float = 2.0,
        subtract_mean: bool = False,
    ) -> None:
        super().__init__()
        _check_positive(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, win_length=win_length)
        win_length = n_fft if win_length is None else win_length
        if win_length > n_fft:
            raise ConfigError(f"win_length ({win_length}) must not exceed n_fft ({n_fft})")
        if pad_mode not in PAD_MODES:
            raise ConfigError(f"pad_mode must be one of {', '.join(PAD_MODES)}, got {pad_mode!r}")
        if power <= 0:
            raise ConfigError(f"power must be positive, got {power}")
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.center = center
        self.pad_mode = pad_mode
        self.power = float(power)
        self.subtract_mean = subtract_mean
        try:
            win = librosa.filters.get_window(window, win_length, fftbins=True)
        except Exception as exc:  # librosa/scipy raise several types for an unknown window
            raise ConfigError(f"unknown window {window!r}: {exc}; use e.g. 'hann' or 'hamming'") from exc
        win = librosa.util.pad_center(np.asarray(win, dtype=np.float64), size=n_fft)
        self.register_buffer("window", torch.as_tensor(win, dtype=torch.float32), persistent=False)

    @property
    def n_freqs(self) -> int:
        """Number of linear-frequency bins, ``1 + n_fft // 2``."""
        return 1 + self.n_fft // 2

    def num_frames(self, n_samples: int) -> int:
        """Frames the STFT yields for a waveform of ``n_samples`` samples."""
        if self.center:
            return 1 + n_samples // self.hop_length
        return 1 + (n_samples - self.n_fft) // self.hop_length

    def _check_wave(self, wave: Tensor) -> Tensor:
        if wave.dim() != 2:
            hint = " add a batch dimension with wave.unsqueeze(0)" if wave.dim() == 1 else ""
            raise AudioError(f"front-end expects waveforms of shape (B, N), got {tuple(wave.shape)};{hint}")
        if not wave.is_floating_point():
            raise AudioError(f"front-end expects float waveforms, got {wave.dtype}; convert with wave.float()")
        min_len = 1 if self.center else self.n_fft
        if wave.shape[1] < min_len:
            raise AudioError(
                f"waveforms have {wave.shape[1]} samples but at least {min_len} are needed (n_fft={self.n_fft}, "
                f"center={self.center}); pad the clips or use center=True"
            )
        return wave

    def spectrogram(self, wave: Tensor) -> Tensor:
        """``|STFT(wave)| ** power``: ``wave: (B, N) -> (B, 1 + n_fft // 2, T)``, on the device of ``wave``."""
        wave = self._check_wave(wave)
        if self.subtract_mean:
            wave = wave - wave.mean(dim=1, keepdim=True)
        spec = torch.stft(
            wave,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.n_fft,
            window=self.window.to(dtype=wave.dtype),
            center=self.center,
            pad_mode=self.pad_mode,
            normalized=False,
            onesided=True,
            return_complex=True,
        )
        mag = spec.abs()
        if self.power == 1.0:
            return mag
        if self.power == 2.0:
            return mag.square()
        return mag.pow(self.power)


@register_frontend("stft_chunks")
class MagnitudeSTFT(STFTFrontend):
    """Linear-frequency STFT features of S1: ``wave: (B, N) -> (B, folds, (1 + n_fft // 2) // folds, T)``.

    The defaults are S1's: n_fft 2046 (so ``1 + 2046 // 2 = 1024`` bins, DC included, no bin dropped), hop 512,
    magnitude (``power=1``), no log. ``forward`` keeps the whole clip; :meth:`chunks` then cuts it into
    ``chunk_width``-frame pieces (S1: 32) as the network input.

    Args:
        folds: fold contiguous frequency bands into this many channels (S1 network 2: 4), see
            :func:`fold_frequency`.
        scale: ``None`` (linear), ``"db"``, ``"ln"`` or ``"log10"``, see :func:`apply_log_scale`.
        amin, eps, top_db: parameters of the log scale.
        chunk_width, chunk_hop, chunk_tail: how :meth:`chunks` cuts the time axis, see
            :func:`~soundsentry.frontends.windows.chunk_frames`.
        Others: see :class:`STFTFrontend`.
    """

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        n_fft: int = 2046,
        hop_length: int = 512,
        win_length: int | None = None,
        window: str = "hann",
        center: bool = True,
        pad_mode: str = "constant",
        power: float = 1.0,
        scale: LogScale | None = None,
        amin: float = 1e-10,
        eps: float = 1e-10,
        top_db: float | None = None,
        folds: int = 1,
        subtract_mean: bool = False,
        chunk_width: int = 32,
        chunk_hop: int | None = None,
        chunk_tail: str = "drop",
    ) -> None:
        super().__init__(
            sample_rate=sample_rate,
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=win_length,
            window=window,
            center=center,
            pad_mode=pad_mode,
            power=power,
            subtract_mean=subtract_mean,
        )
        if scale is not None and scale not in LOG_SCALES:
            raise ConfigError(f"scale must be one of {', '.join(LOG_SCALES)} or None, got {scale!r}")
        _check_positive(folds=folds, chunk_width=chunk_width, chunk_hop=chunk_hop)
        if self.n_freqs % folds:
            raise ConfigError(
                f"cannot fold {self.n_freqs} bins (n_fft={n_fft}) into {folds} equal bands; pick folds dividing "
                f"{self.n_freqs}"
            )
        self.scale = scale
        self.amin = amin
        self.eps = eps
        self.top_db = top_db
        self.folds = folds
        self.out_channels = folds
        self.n_bins = self.n_freqs // folds
        self.chunk_width = chunk_width
        self.chunk_hop = chunk_hop
        self.chunk_tail = chunk_tail

    def forward(self, wave: Tensor) -> Tensor:
        """``wave: (B, N) -> (B, folds, n_bins, T)`` features."""
        x = self.spectrogram(wave).unsqueeze(1)
        x = apply_log_scale(x, self.scale, amin=self.amin, eps=self.eps, top_db=self.top_db)
        return fold_frequency(x, self.folds) if self.folds > 1 else x

    def chunks(self, x: Tensor) -> Tensor:
        """Cut features ``x: (B, C, F, T)`` into ``(B, n, C, F, chunk_width)`` pieces as configured."""
        return chunk_frames(x, self.chunk_width, self.chunk_hop, tail=self.chunk_tail)

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, hop_length={self.hop_length}, power={self.power}, "
            f"scale={self.scale}, folds={self.folds}, chunk_width={self.chunk_width}"
        )
