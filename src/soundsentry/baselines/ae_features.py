"""The front-end of the DCASE 2023-2025 autoencoder baseline: 5 consecutive log-mel frames as one 640-d vector.

Built on :class:`~soundsentry.frontends.LogMel` (librosa's mel spectrogram, Slaney mel scale and area
normalisation, centred frames with zero padding). The baseline's log is ``20 / power * log10(max(mel, eps))`` with
``eps`` the float64 machine epsilon; for power 2 that is our ``"db"`` scale with ``amin = eps``. See
``docs/ae_baseline.md`` for the facts and where they come from.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import torch

from soundsentry.errors import ConfigError
from soundsentry.frontends.logmel import LogMel
from soundsentry.types import Clip

#: The floor of the baseline's log: ``sys.float_info.epsilon`` (2.2e-16).
LOG_FLOOR = sys.float_info.epsilon


@dataclass(frozen=True)
class AEFeatureParams:
    """Feature settings of the baseline (``baseline.yaml``); every default is the official value.

    Attributes:
        sample_rate: clips are loaded at this rate (the baseline reads files at their own rate, 16 kHz in DCASE).
        n_mels: mel bands per frame.
        frames: consecutive frames concatenated into one vector (``n_mels * frames`` = 640 values).
        frame_hop: keep every ``frame_hop``-th vector (1: every frame starts a vector).
        n_fft, hop_length, win_length: STFT settings in samples (``win_length=None`` is ``n_fft``).
        power: exponent of the magnitude before the mel filter bank.
        fmin, fmax: mel band edges in Hz (``fmax=None`` is half the sample rate).
        channel: which channel of a multi-channel file (``"mean"`` down-mixes; the 2026 baseline takes channel 0).
    """

    sample_rate: int = 16000
    n_mels: int = 128
    frames: int = 5
    frame_hop: int = 1
    n_fft: int = 1024
    hop_length: int = 512
    win_length: int | None = None
    power: float = 2.0
    fmin: float = 0.0
    fmax: float | None = None
    channel: str | int = "mean"

    @property
    def dim(self) -> int:
        """Width of one vector: ``n_mels * frames``."""
        return self.n_mels * self.frames

    def __post_init__(self) -> None:
        for name in ("frames", "frame_hop"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"AE features: {name} must be a positive integer, got {value!r}")


def ae_frontend(params: AEFeatureParams) -> LogMel:
    """The log-mel front-end of the baseline: ``wave: (B, N) -> (B, 1, n_mels, 1 + N // hop_length)``."""
    return LogMel(
        sample_rate=params.sample_rate,
        n_fft=params.n_fft,
        hop_length=params.hop_length,
        win_length=params.win_length,
        power=params.power,
        n_mels=params.n_mels,
        fmin=params.fmin,
        fmax=params.fmax,
        scale="db",
        amin=LOG_FLOOR,
        top_db=None,
    )


def stack_frames(log_mel: np.ndarray | torch.Tensor, frames: int, frame_hop: int = 1) -> np.ndarray:
    """Concatenate ``frames`` consecutive columns: ``(n_mels, T) -> (T', n_mels * frames)``, ``T' = T - frames + 1``.

    Row ``t`` is ``[x[:, t], x[:, t + 1], ..., x[:, t + frames - 1]]`` (frame-major, as the baseline lays it out),
    then every ``frame_hop``-th row is kept. A clip shorter than ``frames`` frames gives ``(0, n_mels * frames)``.
    """
    x = np.asarray(log_mel, dtype=np.float32)
    n_mels, n_frames = x.shape
    n = n_frames - frames + 1
    if n < 1:
        return np.empty((0, n_mels * frames), dtype=np.float32)
    out = np.concatenate([x[:, t : t + n].T for t in range(frames)], axis=1)
    return np.ascontiguousarray(out[::frame_hop])


def frame_vectors(
    wave: np.ndarray | torch.Tensor, params: AEFeatureParams | None = None, *, frontend: LogMel | None = None
) -> np.ndarray:
    """The baseline's feature vectors of one clip.

    Args:
        wave: (N,) mono samples at ``params.sample_rate``.
        params: feature settings (the official ones by default).
        frontend: a prebuilt :func:`ae_frontend` (saves rebuilding the mel bank per clip).

    Returns:
        (T', n_mels * frames) float32, ``T' = 1 + N // hop_length - frames + 1`` (309 for 10 s at 16 kHz).
    """
    params = params or AEFeatureParams()
    frontend = frontend or ae_frontend(params)
    x = torch.as_tensor(np.asarray(wave, dtype=np.float32)).reshape(1, -1)
    with torch.no_grad():
        log_mel = frontend(x)[0, 0]
    if params.power != 2.0:  # the baseline's log is 20 / power * log10; "db" is 10 * log10
        log_mel = log_mel * (2.0 / params.power)
    return stack_frames(log_mel.numpy(), params.frames, params.frame_hop)


def clip_vectors(
    clip: Clip | str, params: AEFeatureParams | None = None, *, frontend: LogMel | None = None
) -> np.ndarray:
    """:func:`frame_vectors` of an audio file (a :class:`Clip` or a path), loaded at ``params.sample_rate``."""
    from soundsentry.data.audio import load_audio

    params = params or AEFeatureParams()
    path = clip.path if isinstance(clip, Clip) else clip
    wave = load_audio(path, params.sample_rate, channel=params.channel)  # type: ignore[arg-type]
    return frame_vectors(wave, params, frontend=frontend)
