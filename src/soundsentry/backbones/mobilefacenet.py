"""MobileFaceNet backbones of the S1 system (Zhou, DCASE 2020 Task 2, Tables 1 and 2).

Both networks read a standardised STFT magnitude chunk ``x: (B, C, F, T)`` and return a 128-d embedding:

* network 1 (``mobilefacenet_net1``): input ``(B, 1, 1024, 32)``, 1024 frequency bins x 32 frames.
* network 2 (``mobilefacenet_net2``): the same chunk folded along frequency into 4 channels, ``(B, 4, 256, 32)``,
  twice the channels of network 1 and a squeeze-and-excite block after the first convolution.

Layout (both): conv3x3/2 + PReLU [+ SE], depthwise conv3x3 + PReLU, five groups of MobileNetV2 bottlenecks
(expansion t, channels c, repeats n, stride s of the first repeat), conv1x1 to 512 + PReLU, linear GDConv
(a depthwise convolution whose kernel covers the whole final feature map), linear conv1x1 to the embedding, BN.

Choices where the tables are ambiguous:

* Table 2 lists the inputs of the SE and depthwise rows as 128x16x4 and 128x16x64; the first conv has
  c = 128 output channels, so both are read as 128x16x128 (the 4 and 64 are copy slips from the input row and
  Table 1).
* The SE reduction ratio is not given; 4 is used (see the parameter-count note in the tests: the published
  3.53 M is reproduced with a ratio of 4 or 8, not with Hu et al.'s 16).
* Five stride-2 layers shrink (F, T) by 32 in total, so the GDConv kernel is 32x1 (net 1) and 8x1 (net 2) at the
  paper's sizes. It is computed from ``input_size`` at construction; any other ``input_size`` works (tiny ones in
  tests), but the model then only accepts inputs of exactly that size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from soundsentry.backbones.layers import (
    ConvBNAct,
    InvertedResidual,
    SqueezeExcite,
    check_fixed_input,
    make_divisible,
    strided_size,
)
from soundsentry.errors import ConfigError
from soundsentry.registry import register_backbone

# (expansion t, output channels c, repeats n, stride s) per bottleneck group, exactly as the tables list them.
NET1_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (2, 64, 5, 2),
    (4, 128, 1, 2),
    (2, 128, 6, 2),
    (4, 128, 1, 2),
    (2, 128, 2, 1),
)
NET2_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (2, 128, 5, 2),
    (4, 256, 1, 2),
    (2, 256, 6, 2),
    (4, 256, 1, 2),
    (2, 256, 2, 1),
)


class MobileFaceNet(nn.Module):
    """MobileFaceNet-style embedding network with a global depthwise (GDConv) pooling layer.

    Args:
        in_chans: input channels C (1 for network 1, 4 for the frequency-folded network 2).
        embed_dim: embedding size D.
        input_size: (F, T) of the input; fixes the GDConv kernel, so inputs must have exactly this size.
        stem_chans: channels of the first conv and the depthwise conv (before ``width``).
        stages: bottleneck groups as (expansion, channels, repeats, stride).
        width: multiplier for the stem and bottleneck channels (rounded to multiples of 8).
        feature_chans: channels of the conv1x1 before GDConv (512 in both tables; not scaled by ``width``).
        se_reduction: reduction ratio of a squeeze-and-excite block after the first conv; ``None`` for none.
    """

    def __init__(
        self,
        in_chans: int = 1,
        embed_dim: int = 128,
        input_size: Sequence[int] = (1024, 32),
        stem_chans: int = 64,
        stages: Sequence[tuple[int, int, int, int]] = NET1_STAGES,
        width: float = 1.0,
        feature_chans: int = 512,
        se_reduction: int | None = None,
    ) -> None:
        super().__init__()
        if len(input_size) != 2 or min(input_size) < 1:
            raise ConfigError(f"input_size must be (F, T) with positive sizes, got {tuple(input_size)}")
        if width <= 0:
            raise ConfigError(f"width must be a positive multiplier, got {width}")
        self.in_chans = in_chans
        self.embed_dim = embed_dim
        self.input_size = (int(input_size[0]), int(input_size[1]))

        stem = make_divisible(stem_chans * width)
        layers: list[nn.Module] = [ConvBNAct(in_chans, stem, 3, stride=2)]
        if se_reduction is not None:
            layers.append(SqueezeExcite(stem, se_reduction))
        layers.append(ConvBNAct(stem, stem, 3, groups=stem))
        f, t = (strided_size(s, 2) for s in self.input_size)
        chans = stem
        for expansion, out, repeats, stride in stages:
            out = make_divisible(out * width)
            for i in range(repeats):
                s = stride if i == 0 else 1
                layers.append(InvertedResidual(chans, out, s, expansion))
                chans = out
                f, t = strided_size(f, s), strided_size(t, s)
        layers.append(ConvBNAct(chans, feature_chans, 1))
        self.features = nn.Sequential(*layers)
        self.feature_size = (f, t)
        # Linear GDConv: a learned weighting of every position of the final map instead of average pooling.
        self.gdconv = ConvBNAct(feature_chans, feature_chans, (f, t), groups=feature_chans, act=False, padding=0)
        self.embedding = ConvBNAct(feature_chans, embed_dim, 1, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed a batch of spectrogram chunks.

        Args:
            x: (B, C, F, T) standardised spectrogram chunks with (F, T) == ``input_size``.

        Returns:
            (B, D) embeddings, D = ``embed_dim``.
        """
        check_fixed_input(x, "MobileFaceNet", self.in_chans, self.input_size, "chunks")
        return self.embedding(self.gdconv(self.features(x))).flatten(1)


@register_backbone("mobilefacenet_net1")
def mobilefacenet_net1(
    in_chans: int = 1,
    embed_dim: int = 128,
    input_size: Sequence[int] = (1024, 32),
    width: float = 1.0,
) -> MobileFaceNet:
    """S1 network 1 (Table 1): 1024x32x1 STFT chunk, 64/128 channels, GDConv 32x1, ~1.0 M parameters."""
    return MobileFaceNet(in_chans, embed_dim, input_size, stem_chans=64, stages=NET1_STAGES, width=width)


@register_backbone("mobilefacenet_net2")
def mobilefacenet_net2(
    in_chans: int = 4,
    embed_dim: int = 128,
    input_size: Sequence[int] = (256, 32),
    width: float = 1.0,
    se_reduction: int = 4,
) -> MobileFaceNet:
    """S1 network 2 (Table 2): chunk folded to 256x32x4, 128/256 channels, SE after conv1, GDConv 8x1, ~3.5 M."""
    return MobileFaceNet(
        in_chans,
        embed_dim,
        input_size,
        stem_chans=128,
        stages=NET2_STAGES,
        width=width,
        se_reduction=se_reduction,
    )
