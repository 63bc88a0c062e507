"""MobileNetV2 encoder of the S2 system (Nejjar et al., DCASE 2022 Task 2, Table 1), without torchvision.

The document uses torchvision's MobileNetV2 with width multiplier 0.5 and "the last layers adapted to obtain a
320 dimensions vector". This is the same network written here (torchvision cannot be installed beside the CPU
torch): Sandler et al.'s bottleneck settings scaled by 0.5 and rounded to multiples of 8 give exactly the
channels of Table 1, ReLU6 activations, no expansion convolution in the t = 1 block, linear projections.

Table 1 (input 128 x 64 x 3, i.e. 128 mels x P = 64 frames)::

    conv2d 3x3     -  16  1  2   |  bottleneck  6  48  3  1
    bottleneck     1   8  1  1   |  bottleneck  6  80  3  2
    bottleneck     6  16  2  2   |  bottleneck  6 160  1  1
    bottleneck     6  16  3  2   |  conv2d 1x1  - 320  1  1
    bottleneck     6  32  4  2   |  conv2d 4x2  - 320  1  1
                                 |  conv2d 1x1  - 320  1  1

Choices where the table is silent:

* Input channels: Table 1 reads a 3-channel image, the log-mel repeated three times as in the DCASE MobileNetV2
  baseline. A convolution over three identical channels equals a one-channel convolution with the kernels summed,
  so ``in_chans=1`` (the default, what the front-end gives) is the same function with 288 fewer weights;
  ``in_chans=3`` builds Table 1 literally (then feed ``x.expand(-1, 3, -1, -1)``).
* "conv2d 4x2" is read as a full convolution whose kernel covers the whole final 4 x 2 map (as the row says: 320
  output channels, stride 1), followed by batch norm and ReLU6 like the conv 1x1 before it. ``head="avg"`` swaps it
  for torchvision's global average pooling instead. The kernel is computed from ``input_size``, so the model accepts
  inputs of exactly that size.
* The last conv 1x1 is the linear output layer (with bias, no batch norm or activation), as the "conv2d 1x1 k"
  classifier row of the MobileNetV2 paper; its output is the 320-d embedding the expander and k-NN read.

Parameters at the document's size (``in_chans=1``, ``input_size=(128, 64)``): 1,454,432 trainable (derived layer
by layer in ``tests/backbones/test_mobilenetv2.py``), of which 819,840 are the conv 4x2 and its batch norm;
``head="avg"`` has 634,592 and ``in_chans=3`` adds 288.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from soundsentry.backbones.layers import check_fixed_input, make_divisible, strided_size
from soundsentry.errors import ConfigError
from soundsentry.registry import register_backbone

# (expansion t, output channels c, repeats n, stride s) of Sandler et al. (torchvision's inverted_residual_setting)
# before the width multiplier; x 0.5 and rounded to multiples of 8 they are Table 1's 8, 16, 16, 32, 48, 80, 160.
MOBILENETV2_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
HEADS: tuple[str, ...] = ("conv", "avg")


def _conv_bn_relu6(
    in_chans: int,
    out_chans: int,
    kernel_size: int | tuple[int, int] = 1,
    stride: int = 1,
    groups: int = 1,
    padding: int | tuple[int, int] | None = None,
) -> nn.Sequential:
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    if padding is None:  # "same" for the odd 1x1 / 3x3 kernels; the whole-map conv 4x2 passes 0
        padding = (kh // 2, kw // 2)
    return nn.Sequential(
        nn.Conv2d(in_chans, out_chans, (kh, kw), stride, padding, groups=groups, bias=False),
        nn.BatchNorm2d(out_chans),
        nn.ReLU6(inplace=True),
    )


class InvertedResidualReLU6(nn.Module):
    """MobileNetV2 bottleneck as in Sandler et al.: [1x1 expand + ReLU6], 3x3 depthwise + ReLU6, linear 1x1.

    Unlike :class:`~soundsentry.backbones.layers.InvertedResidual` (PReLU, always expands), the expansion
    convolution is left out when ``expansion == 1``, as in the original network.
    """

    def __init__(self, in_chans: int, out_chans: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_chans * expansion
        self.use_shortcut = stride == 1 and in_chans == out_chans
        layers: list[nn.Module] = [_conv_bn_relu6(in_chans, hidden)] if expansion != 1 else []
        layers += [
            _conv_bn_relu6(hidden, hidden, 3, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_chans, 1, bias=False),
            nn.BatchNorm2d(out_chans),
        ]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.use_shortcut else out


class MobileNetV2Encoder(nn.Module):
    """MobileNetV2 trunk with S2's 320-d head (Table 1).

    Args:
        in_chans: input channels C (1: the log-mel as is; 3: Table 1's repeated image).
        embed_dim: output size D of the last (linear) conv 1x1; 320 in Table 1.
        input_size: (F, T) of the input, (128 mels, 64 frames) in the document; fixes the conv 4x2 kernel.
        width: width multiplier of the stem and bottleneck channels (0.5 in the document).
        feature_chans: channels of the conv 1x1 after the bottlenecks and of the conv 4x2 (320 in Table 1).
        stages: bottleneck groups (expansion, channels, repeats, stride) before the width multiplier.
        head: ``"conv"`` (Table 1's conv 4x2 over the whole final map) or ``"avg"`` (global average pooling).
    """

    def __init__(
        self,
        in_chans: int = 1,
        embed_dim: int = 320,
        input_size: Sequence[int] = (128, 64),
        width: float = 0.5,
        feature_chans: int = 320,
        stages: Sequence[tuple[int, int, int, int]] = MOBILENETV2_STAGES,
        head: str = "conv",
    ) -> None:
        super().__init__()
        if len(input_size) != 2 or min(input_size) < 1:
            raise ConfigError(f"input_size must be (F, T) with positive sizes, got {tuple(input_size)}")
        if width <= 0:
            raise ConfigError(f"width must be a positive multiplier, got {width}")
        if head not in HEADS:
            raise ConfigError(f"head must be one of {', '.join(HEADS)}, got {head!r}")
        self.in_chans = in_chans
        self.embed_dim = embed_dim
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.head = head

        chans = make_divisible(32 * width)
        layers: list[nn.Module] = [_conv_bn_relu6(in_chans, chans, 3, stride=2)]
        f, t = (strided_size(s, 2) for s in self.input_size)
        for expansion, out, repeats, stride in stages:
            out = make_divisible(out * width)
            for i in range(repeats):
                s = stride if i == 0 else 1
                layers.append(InvertedResidualReLU6(chans, out, s, expansion))
                chans = out
                f, t = strided_size(f, s), strided_size(t, s)
        layers.append(_conv_bn_relu6(chans, feature_chans, 1))
        self.features = nn.Sequential(*layers)
        self.feature_size = (f, t)
        # Table 1's "conv2d 4x2": a learned weighting of every position of the final map (4 x 2 at 128 x 64).
        self.pool: nn.Module = (
            _conv_bn_relu6(feature_chans, feature_chans, (f, t), padding=0)
            if head == "conv"
            else nn.AdaptiveAvgPool2d(1)
        )
        self.embedding = nn.Conv2d(feature_chans, embed_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed a batch of context windows.

        Args:
            x: (B, C, F, T) log-mel windows with (F, T) == ``input_size``.

        Returns:
            (B, D) embeddings, D = ``embed_dim``.
        """
        check_fixed_input(x, "MobileNetV2", self.in_chans, self.input_size, "windows")
        return self.embedding(self.pool(self.features(x))).flatten(1)


@register_backbone("mobilenetv2_s2")
def mobilenetv2_s2(
    in_chans: int = 1,
    embed_dim: int = 320,
    input_size: Sequence[int] = (128, 64),
    width: float = 0.5,
    head: str = "conv",
) -> MobileNetV2Encoder:
    """S2 encoder (Table 1): MobileNetV2 x 0.5, 128 mels x 64 frames -> 320-d, ~1.45 M parameters."""
    return MobileNetV2Encoder(in_chans, embed_dim, input_size, width=width, head=head)
