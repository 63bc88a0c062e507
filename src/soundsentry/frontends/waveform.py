"""The identity front-end: waveforms as one-bin, one-channel "features", so a backbone can read the raw signal.

``wave: (B, N) -> (B, 1, 1, N)``. :class:`~soundsentry.training.features.FeaturePipeline` then cuts the last axis
into chunks as for any front-end, so ``features.chunk_width`` counts *samples*: with 2 s clips at 16 kHz,
``chunk_width: 32000`` gives one whole-clip input per clip and ``8000`` four half-second segments. The
``dual_branch`` backbone computes its spectrum and log-mel spectrogram from these segments itself.
"""

from __future__ import annotations

from torch import Tensor, nn

from soundsentry.errors import AudioError, ConfigError
from soundsentry.registry import register_frontend


@register_frontend("waveform")
class WaveformFrontend(nn.Module):
    """``wave: (B, N) -> (B, 1, 1, N)``, values unchanged.

    Args:
        sample_rate: expected rate of the input waveforms in Hz (kept for checks by callers).
    """

    def __init__(self, *, sample_rate: int = 16000) -> None:
        super().__init__()
        if not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ConfigError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        self.sample_rate = sample_rate
        self.out_channels = 1
        self.n_bins = 1

    def forward(self, wave: Tensor) -> Tensor:
        """``wave: (B, N) -> (B, 1, 1, N)``."""
        if wave.dim() != 2:
            hint = " add a batch dimension with wave.unsqueeze(0)" if wave.dim() == 1 else ""
            raise AudioError(f"front-end expects waveforms of shape (B, N), got {tuple(wave.shape)};{hint}")
        if not wave.is_floating_point():
            raise AudioError(f"front-end expects float waveforms, got {wave.dtype}; convert with wave.float()")
        return wave[:, None, None, :]

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}"
