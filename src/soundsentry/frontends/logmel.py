"""Batched log-mel front-end matching ``librosa.feature.melspectrogram`` followed by a log.

The mel filter bank comes from ``librosa.filters.mel`` (HTK or Slaney scale, Slaney or no area normalisation) and
is a non-persistent buffer: ``.to(device)`` moves it, the state dict does not carry it.
"""

from __future__ import annotations

import librosa
import torch
from torch import Tensor

from soundsentry.errors import ConfigError
from soundsentry.frontends.stft import LOG_SCALES, LogScale, STFTFrontend, apply_log_scale
from soundsentry.registry import register_frontend

MEL_NORMS: tuple[str | None, ...] = ("slaney", None)


@register_frontend("logmel")
class LogMel(STFTFrontend):
    """Log-mel spectrogram: ``wave: (B, N) -> (B, 1, n_mels, T)`` with ``T = 1 + N // hop_length`` (centred).

    Equals, clip by clip, ``librosa.feature.melspectrogram(y=..., sr=sample_rate, n_fft=..., hop_length=...,
    win_length=..., window=..., center=..., pad_mode=..., power=..., n_mels=..., fmin=..., fmax=..., htk=...,
    norm=...)`` followed by the chosen log.

    Args:
        n_mels: mel bands.
        fmin, fmax: band edges in Hz; ``fmax=None`` is ``sample_rate / 2``.
        htk: HTK mel formula (S5) instead of Slaney's.
        norm: ``"slaney"`` (librosa's default: each filter has unit area) or ``None`` (peak 1).
        scale: ``"db"``: ``10 * log10(max(x, amin))`` as ``librosa.power_to_db(ref=1.0, top_db=top_db)`` per
            clip; ``"ln"``: ``log(x + eps)`` (S5); ``"log10"``: ``log10(x + eps)``.
        amin, eps, top_db: parameters of the log, see :func:`~soundsentry.frontends.stft.apply_log_scale`.
            ``top_db=None`` (no clipping) differs from librosa's 80 dB default on purpose: clipping depends on
            the loudest frame of each clip, so it changes a frame's value with the rest of the clip.
        subtract_mean: subtract each clip's waveform mean first (S2).
        Others: see :class:`~soundsentry.frontends.stft.STFTFrontend`.

    The defaults are the DCASE baseline's (16 kHz, 1024 / 512, 128 mels, dB): S3, and S4 with
    :class:`~soundsentry.frontends.standardize.Standardizer` after it. S2 is ``n_fft=1024, hop_length=512,
    subtract_mean=True``; S5 is ``sample_rate=44100, n_fft=2048, hop_length=1024, htk=True, scale="ln"``.
    """

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        hop_length: int = 512,
        win_length: int | None = None,
        window: str = "hann",
        center: bool = True,
        pad_mode: str = "constant",
        power: float = 2.0,
        n_mels: int = 128,
        fmin: float = 0.0,
        fmax: float | None = None,
        htk: bool = False,
        norm: str | None = "slaney",
        scale: LogScale = "db",
        amin: float = 1e-10,
        eps: float = 1e-10,
        top_db: float | None = None,
        subtract_mean: bool = False,
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
        if scale not in LOG_SCALES:
            raise ConfigError(f"scale must be one of {', '.join(LOG_SCALES)}, got {scale!r}")
        if norm not in MEL_NORMS:
            raise ConfigError(f"norm must be 'slaney' or None, got {norm!r}")
        if not isinstance(n_mels, int) or n_mels <= 0:
            raise ConfigError(f"n_mels must be a positive integer, got {n_mels!r}")
        nyquist = sample_rate / 2
        top = nyquist if fmax is None else fmax
        if not 0 <= fmin < top <= nyquist:
            raise ConfigError(
                f"need 0 <= fmin < fmax <= sample_rate / 2 = {nyquist:g} Hz, got fmin={fmin}, fmax={fmax}"
            )
        if top_db is not None and top_db < 0:
            raise ConfigError(f"top_db must be non-negative or None, got {top_db}")
        self.n_mels = n_mels
        self.fmin = float(fmin)
        self.fmax = fmax
        self.htk = htk
        self.norm = norm
        self.scale = scale
        self.amin = amin
        self.eps = eps
        self.top_db = top_db
        self.out_channels = 1
        self.n_bins = n_mels
        mel = librosa.filters.mel(
            sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm, dtype=float
        )
        self.register_buffer("mel_basis", torch.as_tensor(mel, dtype=torch.float32), persistent=False)

    def mel_power(self, wave: Tensor) -> Tensor:
        """Mel spectrogram before the log: ``wave: (B, N) -> (B, n_mels, T)``."""
        spec = self.spectrogram(wave)
        return torch.matmul(self.mel_basis.to(dtype=spec.dtype), spec)

    def forward(self, wave: Tensor) -> Tensor:
        """``wave: (B, N) -> (B, 1, n_mels, T)`` log-mel features, on the device of ``wave``."""
        x = self.mel_power(wave).unsqueeze(1)
        return apply_log_scale(x, self.scale, amin=self.amin, eps=self.eps, top_db=self.top_db)

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, hop_length={self.hop_length}, "
            f"n_mels={self.n_mels}, fmin={self.fmin}, fmax={self.fmax}, htk={self.htk}, norm={self.norm}, "
            f"scale={self.scale}, subtract_mean={self.subtract_mean}"
        )
