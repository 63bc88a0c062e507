"""Wilkinghoff's two-branch embedding network over waveform segments (DCASE 2022-2024 Task 2 systems).

Input: waveform segments ``x: (B, 1, 1, N)`` from the ``waveform`` front-end (``features.chunk_width = N``
samples). Two branches read the same segment and their embeddings are concatenated into one ``embed_dim`` vector
for the margin head:

* spectrum branch: ``|DFT|`` of the whole segment (first ``N // 2`` bins), three strided 1-D convolutions
  (kernel / stride 256 / 64, 64 / 32, 16 / 4, "same" padding, ReLU), flatten, four dense + batch norm + ReLU
  layers, a final dense layer;
* spectrogram branch: a log-mel spectrogram (our :class:`~soundsentry.frontends.LogMel`) computed inside the
  network, minus its temporal mean per bin, a batch norm per bin, a 7x7 / 2 convolution and 3x3 / 2 max pool, four
  stages of two pre-activation residual units (16, 32, 64, 128 channels; stride 2 from the second stage, the
  shortcut max-pooled and 1x1-projected), max over the remaining time frames, flatten (channels x bins), batch norm,
  a final dense layer.

Facts taken from the author's published DCASE code (ICASSP 2023 / DCASE 2023 systems): the layer sizes above, no
bias in any convolution or dense layer, 128 + 128 = 256-d embeddings, the temporal mean normalisation and per-bin
batch norm. Differences, by choice: his second branch is a *linear* STFT magnitude (1024 / 512, no mel, no log):
``spectrogram="linear"`` gives that, ``"logmel"`` (the default) the log-mel the issue asks for, 4x fewer bins on
CPU; the spectrum is divided by ``sqrt(N)`` (the network is scale-invariant up to its batch norms, so this only
keeps magnitudes near the waveform's); ``width`` scales every channel and hidden width for a CPU demo; the DFT is a
fixed two-factor matrix product (:class:`~soundsentry.frontends.dft.MagnitudeSpectrum`) so the network exports to
ONNX and matches onnxruntime.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from soundsentry.backbones.layers import make_divisible
from soundsentry.errors import ConfigError
from soundsentry.frontends.dft import MagnitudeSpectrum
from soundsentry.frontends.logmel import LogMel
from soundsentry.frontends.stft import MagnitudeSTFT
from soundsentry.registry import register_backbone

SPECTRUM_CONVS: tuple[tuple[int, int], ...] = ((256, 64), (64, 32), (16, 4))  # (kernel, stride)
SPECTRUM_CHANNELS = 128
SPECTRUM_DENSE_LAYERS = 4
SPECTROGRAM_CHANNELS: tuple[int, ...] = (16, 32, 64, 128)
BRANCHES: tuple[str, ...] = ("both", "spectrum", "logmel")
SPECTROGRAMS: tuple[str, ...] = ("logmel", "linear")


class SameConv1d(nn.Module):
    """1-D convolution without bias whose output length is ``ceil(L / stride)`` (TensorFlow's "same" padding).

    The input length ``L`` is fixed at construction, so the (possibly asymmetric) padding is a constant.
    """

    def __init__(self, in_chans: int, out_chans: int, kernel: int, stride: int, length: int) -> None:
        super().__init__()
        self.out_length = math.ceil(length / stride)
        total = max((self.out_length - 1) * stride + kernel - length, 0)
        self.pad = (total // 2, total - total // 2)
        self.conv = nn.Conv1d(in_chans, out_chans, kernel, stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, self.pad))


class SpectrumBranch(nn.Module):
    """``wave: (B, N) -> (B, out_dim)`` from the magnitude spectrum of the whole segment.

    Args:
        n_samples: segment length N.
        out_dim: embedding size of this branch.
        width: multiplier of the convolution channels and hidden dense width (128 at 1.0).
        log: take ``log(|X| + 1e-5)`` of the spectrum first (the published system uses the linear magnitude).
    """

    def __init__(self, n_samples: int, out_dim: int, width: float = 1.0, log: bool = False) -> None:
        super().__init__()
        self.spectrum = MagnitudeSpectrum(n_samples)
        self.log = log
        chans = make_divisible(SPECTRUM_CHANNELS * width)
        layers: list[nn.Module] = []
        length, c_in = self.spectrum.n_bins, 1
        for kernel, stride in SPECTRUM_CONVS:
            conv = SameConv1d(c_in, chans, kernel, stride, length)
            layers += [conv, nn.ReLU()]
            length, c_in = conv.out_length, chans
        self.convs = nn.Sequential(*layers, nn.Flatten())
        dense: list[nn.Module] = []
        features = chans * length
        for _ in range(SPECTRUM_DENSE_LAYERS):
            dense += [nn.Linear(features, chans, bias=False), nn.BatchNorm1d(chans), nn.ReLU()]
            features = chans
        self.dense = nn.Sequential(*dense)
        self.embedding = nn.Linear(chans, out_dim, bias=False)

    def forward(self, wave: Tensor) -> Tensor:
        spec = self.spectrum(wave)
        if self.log:
            spec = torch.log(spec + 1e-5)
        return self.embedding(self.dense(self.convs(spec.unsqueeze(1))))


class PreActResidual(nn.Module):
    """Pre-activation residual unit: BN, ReLU, conv 3x3 (stride), BN, ReLU, conv 3x3; bias-free convolutions.

    The shortcut is the identity, or a ``stride`` max pool and a 1x1 convolution when the shape changes.
    """

    def __init__(self, in_chans: int, out_chans: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_chans),
            nn.ReLU(),
            nn.Conv2d(in_chans, out_chans, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_chans),
            nn.ReLU(),
            nn.Conv2d(out_chans, out_chans, 3, 1, 1, bias=False),
        )
        shortcut: list[nn.Module] = []
        if stride > 1:
            shortcut.append(nn.MaxPool2d(stride, ceil_mode=True))
        if stride > 1 or in_chans != out_chans:
            shortcut.append(nn.Conv2d(in_chans, out_chans, 1, bias=False))
        self.shortcut = nn.Sequential(*shortcut)

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.body(x)


class SpectrogramBranch(nn.Module):
    """``wave: (B, N) -> (B, out_dim)`` from a log-mel (or linear magnitude) spectrogram of the segment.

    Args:
        sample_rate, n_fft, hop_length, n_mels: of the spectrogram (``n_mels`` unused for ``"linear"``).
        out_dim: embedding size of this branch.
        width: multiplier of the residual channels (16, 32, 64, 128 at 1.0).
        spectrogram: ``"logmel"`` (dB) or ``"linear"`` (STFT magnitude, ``1 + n_fft // 2`` bins).
    """

    def __init__(
        self,
        *,
        sample_rate: int,
        n_fft: int,
        hop_length: int,
        n_mels: int,
        out_dim: int,
        width: float = 1.0,
        spectrogram: str = "logmel",
    ) -> None:
        super().__init__()
        if spectrogram == "logmel":
            self.frontend: nn.Module = LogMel(
                sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels
            )
        else:
            self.frontend = MagnitudeSTFT(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, power=1.0)
        n_bins = int(self.frontend.n_bins)
        self.bin_norm = nn.BatchNorm1d(n_bins)
        chans = [make_divisible(c * width) for c in SPECTROGRAM_CHANNELS]
        self.stem = nn.Sequential(
            nn.Conv2d(1, chans[0], 7, 2, 3, bias=False),
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        )
        units: list[nn.Module] = []
        c_in = chans[0]
        for i, c in enumerate(chans):
            units += [PreActResidual(c_in, c, 1 if i == 0 else 2), PreActResidual(c, c)]
            c_in = c
        self.stages = nn.Sequential(*units)
        f = n_bins
        for _ in range(2 + len(chans) - 1):  # stem conv, stem pool, one stride 2 per later stage: ceil(f / 2) each
            f = math.ceil(f / 2)
        self.out_bins = f
        self.head_norm = nn.BatchNorm1d(c_in * f)
        self.embedding = nn.Linear(c_in * f, out_dim, bias=False)

    def forward(self, wave: Tensor) -> Tensor:
        x = self.frontend(wave).squeeze(1)  # (B, F, T)
        x = self.bin_norm(x - x.mean(dim=-1, keepdim=True))  # temporal mean normalisation, then per bin
        x = self.stages(self.stem(x.unsqueeze(1)))  # (B, C, F', T')
        return self.embedding(self.head_norm(x.amax(dim=-1).flatten(1)))


def _segment_length(input_size: int | Sequence[int]) -> int:
    size = [input_size] if isinstance(input_size, int) else [int(v) for v in input_size]
    if not (len(size) == 1 or (len(size) == 2 and size[0] == 1)) or size[-1] < 2:
        raise ConfigError(
            f"dual_branch: input_size is the segment length in samples (N, or [1, N] as the waveform front-end's "
            f"(F, W)), got {input_size!r}; set it to features.chunk_width"
        )
    return size[-1]


@register_backbone("dual_branch")
class DualBranch(nn.Module):
    """Spectrum + spectrogram embedding network: ``x: (B, 1, 1, N) -> (B, embed_dim)``.

    Args:
        sample_rate: of the waveform, in Hz.
        input_size: segment length N in samples (``features.chunk_width``), or ``[1, N]``; inputs must have
            exactly this length.
        embed_dim: output size; with both branches the spectrum branch gives ``embed_dim // 2`` and the spectrogram
            branch the rest; a single branch gives all of it (so ablations keep the embedding size).
        width: multiplier of every branch's channels and hidden widths.
        n_mels, n_fft, hop_length: of the spectrogram branch.
        branches: ``"both"``, ``"spectrum"`` or ``"logmel"`` (the spectrogram branch only).
        spectrum_log: log-compress the spectrum before its convolutions.
        spectrogram: ``"logmel"`` or ``"linear"`` (the published system's STFT magnitude).
    """

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        input_size: int | Sequence[int] = 32000,
        embed_dim: int = 256,
        width: float = 1.0,
        n_mels: int = 128,
        n_fft: int = 1024,
        hop_length: int = 512,
        branches: str = "both",
        spectrum_log: bool = False,
        spectrogram: str = "logmel",
    ) -> None:
        super().__init__()
        if branches not in BRANCHES:
            raise ConfigError(f"dual_branch: branches must be one of {', '.join(BRANCHES)}, got {branches!r}")
        if spectrogram not in SPECTROGRAMS:
            raise ConfigError(f"dual_branch: spectrogram must be one of {', '.join(SPECTROGRAMS)}, got {spectrogram!r}")
        if not width > 0:
            raise ConfigError(f"dual_branch: width must be a positive multiplier, got {width}")
        n = _segment_length(input_size)
        both = branches == "both"
        if not isinstance(embed_dim, int) or embed_dim < (2 if both else 1):
            raise ConfigError(f"dual_branch: embed_dim must be an integer >= {2 if both else 1}, got {embed_dim!r}")
        self.in_chans = 1
        self.input_size = (1, n)
        self.embed_dim = embed_dim
        self.sample_rate = sample_rate
        self.branches = branches
        spectrum_dim = embed_dim // 2 if both else embed_dim
        self.spectrum = (
            SpectrumBranch(n, spectrum_dim, width, spectrum_log) if branches in ("both", "spectrum") else None
        )
        self.spectrogram = (
            SpectrogramBranch(
                sample_rate=sample_rate,
                n_fft=n_fft,
                hop_length=hop_length,
                n_mels=n_mels,
                out_dim=embed_dim - spectrum_dim if both else embed_dim,
                width=width,
                spectrogram=spectrogram,
            )
            if branches in ("both", "logmel")
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        """Embed waveform segments.

        Args:
            x: (B, 1, 1, N) waveform segments, N == ``input_size``.

        Returns:
            (B, D) embeddings, the spectrum branch's first; D = ``embed_dim``.
        """
        n = self.input_size[1]
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 1, n):
            raise ConfigError(
                f"dual_branch expects waveform segments (B, 1, 1, {n}), got {tuple(x.shape)}; use the 'waveform' "
                f"front-end with features.chunk_width = backbone.input_size = {n}"
            )
        wave = x.reshape(x.shape[0], n)
        parts = [branch(wave) for branch in (self.spectrum, self.spectrogram) if branch is not None]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, embed_dim={self.embed_dim}, branches={self.branches!r}"
