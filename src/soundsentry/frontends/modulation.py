"""Modulation spectrum front-end: how the level of each frequency band fluctuates, frame by frame.

Many machine faults change how a sound *fluctuates*, not which frequencies it holds: an imbalance or a damaged
blade modulates the sound once per revolution, a bearing defect knocks at its defect frequency, a loose part
rattles, an unstable drive hunts at a few hertz. A log-mel frame of 64 ms cannot see a 20 Hz fluctuation, and a
window of five such frames barely sees a 3 Hz one. Envelope analysis is the classical tool for this; this
front-end gives it to the patch bank:

1. a mel spectrogram with a short hop (``n_fft=512``, ``hop_length=64``: 4 ms at 16 kHz) and few bands
   (``n_bands=8``, HTK mel scale from 20 Hz, filters of peak 1); the natural log of each band's power is its
   *envelope* (250 values per second);
2. for every output frame (one per ``frame_hop`` samples, centred like a centred STFT: ``1 + N // frame_hop``
   frames, the same count as a log-mel front-end with ``hop_length=frame_hop``), the envelope over
   ``window_frames`` envelope frames centred on it (256: about 1 s; the envelope is reflected at the clip's ends,
   or repeated where the clip is shorter than half a window), minus its mean, Hann-weighted, and its power
   spectrum: the modulation spectrum (0.98 Hz apart up to 125 Hz with the defaults; the constant term dropped;
   the 32 ms STFT window damps fluctuations faster than about 30 Hz, which still stand over 10 dB above a steady
   noise at 60 Hz);
3. the modulation bins grouped into ``n_mod`` log-spaced bands (single bins at low rates, wide bands at high
   ones), each band's mean power in dB (``10 * log10(power + 1e-6)``).

Output ``(B, 1, n_bands * n_mod, T)``, band-major (all modulation bands of mel band 0 first). Because the
envelope is a log and its mean is removed, the values measure the *depth* of each band's fluctuations, not its
level: a machine that is louder but fluctuates the same way gives the same frame. The level is the log-mel
front-end's job; :class:`~soundsentry.frontends.stack.Stack` puts both into one window (the flagship).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from soundsentry.errors import ConfigError
from soundsentry.frontends.logmel import LogMel
from soundsentry.registry import register_frontend

#: Floor of the band envelopes (mel power) before the log, and of the modulation power before the dB.
ENVELOPE_FLOOR = 1e-10
MODULATION_FLOOR = 1e-6


def modulation_band_edges(n_bins: int, n_mod: int) -> np.ndarray:
    """Edges (bin indices, ``n_mod + 1`` of them) of ``n_mod`` log-spaced bands over modulation bins
    ``1 .. n_bins - 1`` (bin 0, the constant term, is left out).

    The edges are geometric from bin 1 to bin ``n_bins``, rounded to whole bins; rounding merges the lowest ones,
    so the geometric grid is made as fine as needed for exactly ``n_mod`` distinct edges (the lowest bands are
    then single bins, as on a linear grid).
    """
    if not isinstance(n_mod, int) or n_mod <= 0:
        raise ConfigError(f"n_mod must be a positive integer, got {n_mod!r}")
    if n_mod > n_bins - 1:
        raise ConfigError(
            f"n_mod={n_mod} modulation bands need at least {n_mod} modulation bins but the window gives "
            f"{n_bins - 1}; lower n_mod or raise window_frames"
        )
    for m in range(n_mod, 50 * n_mod + 1):
        edges = np.unique(np.round(np.geomspace(1, n_bins, m + 1)).astype(np.int64))
        if edges.size == n_mod + 1:
            return edges
    return np.arange(1, n_mod + 2)  # pragma: no cover - a linear grid when no geometric one has n_mod bands


@register_frontend("modulation")
class Modulation(LogMel):
    """``wave: (B, N) -> (B, 1, n_bands * n_mod, 1 + N // frame_hop)`` modulation spectra (see the module doc).

    Args:
        n_bands: mel bands whose envelopes are analysed.
        frame_hop: samples between output frames (a multiple of ``hop_length``); equal to the log-mel
            front-end's ``hop_length`` when stacked with it.
        window_frames: envelope frames per modulation window (an even number, at least 4); the window lasts
            ``window_frames * hop_length / sample_rate`` seconds and the modulation bins are
            ``sample_rate / (hop_length * window_frames)`` Hz apart.
        n_mod: log-spaced modulation bands per mel band (see :func:`modulation_band_edges`).
        n_fft, hop_length, fmin, fmax, htk, norm, window, pad_mode, power: the envelope's mel spectrogram, see
            :class:`~soundsentry.frontends.logmel.LogMel` (``hop_length`` is the envelope's step). The defaults
            (HTK scale from 20 Hz, no area normalisation, 8 bands) are the flagship's: on the generated sets they
            scored 2 points above librosa's Slaney scale from 0 Hz with 16 bands (BENCHMARKS.md).
    """

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        n_fft: int = 512,
        hop_length: int = 64,
        n_bands: int = 8,
        frame_hop: int = 1024,
        window_frames: int = 256,
        n_mod: int = 20,
        fmin: float = 20.0,
        fmax: float | None = None,
        htk: bool = True,
        norm: str | None = None,
        window: str = "hann",
        pad_mode: str = "constant",
        power: float = 2.0,
    ) -> None:
        super().__init__(
            sample_rate=sample_rate,
            n_fft=n_fft,
            hop_length=hop_length,
            window=window,
            center=True,
            pad_mode=pad_mode,
            power=power,
            n_mels=n_bands,
            fmin=fmin,
            fmax=fmax,
            htk=htk,
            norm=norm,
            scale="ln",
        )
        if not isinstance(frame_hop, int) or frame_hop <= 0 or frame_hop % hop_length:
            raise ConfigError(f"frame_hop must be a positive multiple of hop_length ({hop_length}), got {frame_hop!r}")
        if not isinstance(window_frames, int) or window_frames < 4 or window_frames % 2:
            raise ConfigError(f"window_frames must be an even integer of at least 4, got {window_frames!r}")
        edges = modulation_band_edges(window_frames // 2 + 1, n_mod)
        self.n_bands = n_bands
        self.frame_hop = frame_hop
        self.window_frames = window_frames
        self.n_mod = n_mod
        self.step = frame_hop // hop_length
        self.n_bins = n_bands * n_mod
        self.out_channels = 1
        # (n_bins_mod, n_mod) averaging matrix: bins edges[i] .. edges[i + 1] - 1 into band i
        pool = np.zeros((window_frames // 2 + 1, n_mod))
        for i in range(n_mod):
            pool[edges[i] : edges[i + 1], i] = 1.0 / (edges[i + 1] - edges[i])
        self.register_buffer("band_pool", torch.as_tensor(pool, dtype=torch.float32), persistent=False)
        taper = torch.hann_window(window_frames, periodic=True, dtype=torch.float32)
        self.register_buffer("taper", taper, persistent=False)
        self.modulation_edges_hz = edges * sample_rate / (hop_length * window_frames)

    def num_frames(self, n_samples: int) -> int:
        """Output frames for a waveform of ``n_samples`` samples: ``1 + n_samples // frame_hop``."""
        return 1 + n_samples // self.frame_hop

    def forward(self, wave: Tensor) -> Tensor:
        """``wave: (B, N) -> (B, 1, n_bands * n_mod, 1 + N // frame_hop)``."""
        envelope = torch.log(torch.clamp(self.mel_power(wave), min=ENVELOPE_FLOOR))  # (B, bands, T_env)
        half = self.window_frames // 2
        mode = "reflect" if envelope.shape[-1] > half else "replicate"
        padded = F.pad(envelope, (half, half), mode=mode)
        frames = self.num_frames(wave.shape[-1])
        windows = padded.unfold(-1, self.window_frames, self.step)[..., :frames, :]  # (B, bands, T, W)
        windows = (windows - windows.mean(dim=-1, keepdim=True)) * self.taper.to(dtype=windows.dtype)
        spectrum = torch.fft.rfft(windows, dim=-1).abs().square()  # (B, bands, T, W // 2 + 1)
        bands = torch.matmul(spectrum, self.band_pool.to(dtype=spectrum.dtype))  # (B, bands, T, n_mod)
        out = 10.0 * torch.log10(bands + MODULATION_FLOOR)
        b, n_bands, t, n_mod = out.shape
        return out.permute(0, 1, 3, 2).reshape(b, 1, n_bands * n_mod, t)

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, hop_length={self.hop_length}, "
            f"n_bands={self.n_bands}, frame_hop={self.frame_hop}, window_frames={self.window_frames}, "
            f"n_mod={self.n_mod}"
        )
