"""S5's front-end: a [0, 1]-scaled natural-log mel spectrogram plus its harmonic and percussive parts.

S5 section 2: "log-mel filter bank with 128 Mel frequency bins ... 2048 sample long STFT window with frame shift of
1024 samples ... mapped to the Mel scale using the HTK formula, and the natural logarithm ... scaled to [0, 1]. After
the scaling, features are decomposed to harmonic and percussive components, and concatenated ... as new channels.
Thus, the input tensor size is 128 x 431 x 3" (10 s at 44.1 kHz).

The log-mel is :class:`~soundsentry.frontends.LogMel`; the [0, 1] scaling is min-max per clip (the document does
not say over what the range is taken; per clip keeps clips independent); HPSS is ``librosa.decompose.hpss`` (median
filtering, soft masks) applied to the scaled log-mel, as the document orders it.
"""

from __future__ import annotations

import librosa
import numpy as np
import torch
from torch import Tensor, nn

from soundsentry.frontends.logmel import LogMel
from soundsentry.registry import register_frontend


def minmax_scale(x: Tensor) -> Tensor:
    """Scale each item of ``x: (B, ...)`` to [0, 1] by its own minimum and maximum (a constant item gives 0)."""
    flat = x.reshape(x.shape[0], -1)
    lo = flat.amin(dim=1, keepdim=True)
    span = (flat.amax(dim=1, keepdim=True) - lo).clamp_min(1e-12)
    return ((flat - lo) / span).reshape(x.shape)


@register_frontend("logmel_hpss")
class LogMelHPSS(nn.Module):
    """``wave: (B, N) -> (B, 3, n_mels, T)``: [scaled log-mel, its harmonic part, its percussive part].

    Args:
        sample_rate: input rate in Hz (S5: 44100).
        n_fft: STFT size (S5: 2048).
        hop_length: frame shift (S5: 1024).
        n_mels: mel bins (S5: 128).
        htk: HTK mel formula (S5: True).
        eps: offset of the natural log.
        hpss_kernel: median-filter length of ``librosa.decompose.hpss`` (its default, 31).
        hpss: add the harmonic and percussive channels; False gives the single scaled log-mel channel.

    HPSS runs on the CPU through librosa (median filters have no fast torch equivalent); features are computed
    once per clip and cached, so this is not in the training loop.
    """

    def __init__(
        self,
        *,
        sample_rate: int = 44100,
        n_fft: int = 2048,
        hop_length: int = 1024,
        n_mels: int = 128,
        htk: bool = True,
        eps: float = 1e-10,
        hpss_kernel: int = 31,
        hpss: bool = True,
    ) -> None:
        super().__init__()
        self.logmel = LogMel(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, htk=htk, scale="ln", eps=eps
        )
        self.sample_rate = sample_rate
        self.hpss_kernel = hpss_kernel
        self.hpss = hpss
        self.out_channels = 3 if hpss else 1
        self.n_bins = n_mels

    def forward(self, wave: Tensor) -> Tensor:
        """``wave: (B, N) -> (B, 3, n_mels, 1 + N // hop_length)`` float32 features in [0, 1] (first channel)."""
        x = minmax_scale(self.logmel(wave))  # (B, 1, F, T)
        if not self.hpss:
            return x
        parts = []
        for item in x[:, 0].detach().cpu().numpy():
            h, p = librosa.decompose.hpss(item, kernel_size=self.hpss_kernel)
            parts.append(np.stack([h, p]))
        hp = torch.as_tensor(np.stack(parts), dtype=x.dtype, device=x.device)
        return torch.cat([x, hp], dim=1)


def extract_features(frontend: nn.Module, waves: np.ndarray, batch: int = 16) -> np.ndarray:
    """Features of ``waves: (N, samples)`` in batches: ``(N, C, F, T)`` float32."""
    out = []
    with torch.no_grad():
        for i in range(0, len(waves), batch):
            out.append(frontend(torch.as_tensor(waves[i : i + batch], dtype=torch.float32)).numpy())
    return np.concatenate(out) if out else np.zeros((0,), np.float32)
