"""Building blocks shared by the convolutional backbones: conv-BN-PReLU, inverted residuals, squeeze-and-excite."""

from __future__ import annotations

import torch
from torch import nn

from soundsentry.errors import ConfigError


def make_divisible(channels: float, divisor: int = 8) -> int:
    """Round a (width-scaled) channel count to the nearest multiple of ``divisor``, never below it.

    Rounding down by more than 10 % is avoided, as in MobileNetV2, so a width multiplier never removes
    much more capacity than asked for.
    """
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * channels:
        rounded += divisor
    return rounded


def strided_size(size: int, stride: int) -> int:
    """Output length of a 3x3 convolution with padding 1 and this stride."""
    return (size - 1) // stride + 1


def check_fixed_input(x: torch.Tensor, model: str, in_chans: int, input_size: tuple[int, int], what: str) -> None:
    """Refuse an input that is not (B, in_chans, F, T) with (F, T) == ``input_size`` (one-line ConfigError)."""
    if x.dim() != 4 or x.shape[1] != in_chans or tuple(x.shape[2:]) != input_size:
        raise ConfigError(
            f"{model} expects input (B, {in_chans}, {input_size[0]}, {input_size[1]}), got {tuple(x.shape)}; "
            f"set in_chans and input_size=(F, T) to match the front-end's {what}"
        )


class ConvBNAct(nn.Sequential):
    """Convolution (no bias: the batch norm after it has one), batch norm, then PReLU unless ``act=False``.

    ``act=False`` gives the *linear* layers of MobileNetV2 / MobileFaceNet (projection, GDConv, embedding).
    ``padding=None`` is "same" padding for the odd 1x1 / 3x3 kernels; a kernel that covers the whole feature map
    (GDConv) passes ``padding=0``, whatever its shape (a square map larger than 1 x 1 included).
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int = 1,
        groups: int = 1,
        act: bool = True,
        padding: int | tuple[int, int] | None = None,
    ) -> None:
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        if padding is None:
            padding = (kh // 2, kw // 2)
        layers: list[nn.Module] = [
            nn.Conv2d(in_chans, out_chans, (kh, kw), stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(out_chans),
        ]
        if act:
            layers.append(nn.PReLU(out_chans))
        super().__init__(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 bottleneck: 1x1 expand + PReLU, 3x3 depthwise (stride) + PReLU, linear 1x1 projection.

    The identity shortcut is added when the block keeps both resolution and channel count.
    """

    def __init__(self, in_chans: int, out_chans: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_chans * expansion
        self.use_shortcut = stride == 1 and in_chans == out_chans
        self.block = nn.Sequential(
            ConvBNAct(in_chans, hidden, 1),
            ConvBNAct(hidden, hidden, 3, stride=stride, groups=hidden),
            ConvBNAct(hidden, out_chans, 1, act=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.use_shortcut else out


class SqueezeExcite(nn.Module):
    """Squeeze-and-excite (Hu et al.): global average pool, bottleneck MLP, sigmoid gate per channel."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.fc2(self.act(self.fc1(x.mean(dim=(2, 3), keepdim=True))))
        return x * torch.sigmoid(gate)
