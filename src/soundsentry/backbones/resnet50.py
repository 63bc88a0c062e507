"""ResNet-50 backbones of the S4 system (classification-based ASD on DCASE 2020, log-mel 128 x T input).

S4 uses ResNet-50 "following the torchvision resnet source code" and two embedding variants:

* ``resnet50``, for plain softmax cross-entropy: torchvision's ResNet-50 (v1.5: stride on the 3x3 conv of the
  bottleneck) with one input channel; bottleneck stages of 3, 4, 6, 3 blocks; global average pooling gives the
  2048-d embedding. Any (F, T) of at least 32 x 32 works.
* ``resnet50_ir``, for the margin losses: "the BN-Conv-BN-PReLU-Conv-BN unit of the ArcFace paper and, for
  feature extraction, BN-Dropout-FC-BN instead of global pooling". Stages of 3, 4, 14, 3 IR units (the 50-layer
  "LResNet50E-IR" of ArcFace: 2 x 24 convolutions, stem and FC), widths 64, 128, 256, 512; the embedding is
  ``BN2d -> Dropout -> flatten -> Linear -> BN1d`` (ArcFace's output option E). The FC layer sees the whole final
  feature map, so the model is built for one ``input_size`` and accepts only that size.

Choices the document leaves open (all keyword arguments):

* Both use torchvision's stem (conv 7x7 / 2, BN, activation, max-pool 3x3 / 2) and stage strides 1, 2, 2, 2:
  a total stride of 32, so a 10 s DCASE 2020 clip (128 mels x 313 frames at hop 512) ends as a 512 x 4 x 10 map.
  The IR variant uses PReLU in the stem as ArcFace does; the bottleneck variant keeps torchvision's ReLU.
* In an IR unit the stride sits on the second convolution, as in ArcFace's improved residual unit; a projection
  shortcut (conv 1x1 with the stride, BN) is used where the shape changes.
* ``embed_dim = 2048``: the document discusses its features as 2048-dimensional for both variants.
* Dropout 0.4 before the FC layer: the value of ArcFace's reference implementation of option E.

Parameter counts at the defaults (one input channel): ``resnet50`` 23,501,760 (torchvision's 25,557,032 minus
the 1000-class FC and the two missing input channels of conv1); ``resnet50_ir`` with ``input_size=(128, 313)``
72,690,624, of which 41,945,088 are the 20480 -> 2048 FC layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from soundsentry.backbones.layers import make_divisible
from soundsentry.errors import ConfigError
from soundsentry.registry import register_backbone

BOTTLENECK_DEPTHS: tuple[int, ...] = (3, 4, 6, 3)  # torchvision resnet50
IR_DEPTHS: tuple[int, ...] = (3, 4, 14, 3)  # ArcFace LResNet50E-IR
STAGE_CHANNELS: tuple[int, ...] = (64, 128, 256, 512)
STAGE_STRIDES: tuple[int, ...] = (1, 2, 2, 2)
DCASE2020_INPUT: tuple[int, int] = (128, 313)  # 128 mels x (1 + 160000 // 512) frames of a 10 s clip


def _halved(size: int) -> int:
    # Output length of the stride-2 layers used here (conv 7x7 pad 3, conv 3x3 pad 1, max-pool 3x3 pad 1).
    return (size - 1) // 2 + 1


def _shortcut(in_chans: int, out_chans: int, stride: int) -> nn.Module:
    if stride == 1 and in_chans == out_chans:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(in_chans, out_chans, 1, stride, bias=False), nn.BatchNorm2d(out_chans))


class Bottleneck(nn.Module):
    """torchvision's ResNet-50 bottleneck: conv1x1-BN-ReLU, conv3x3 (stride)-BN-ReLU, conv1x1 (x4)-BN, add, ReLU."""

    expansion = 4

    def __init__(self, in_chans: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out = width * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(in_chans, width, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, out, 1, bias=False),
            nn.BatchNorm2d(out),
        )
        self.shortcut = _shortcut(in_chans, out, stride)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class IRUnit(nn.Module):
    """ArcFace's improved residual unit: BN-Conv3x3-BN-PReLU-Conv3x3 (stride)-BN, plus the shortcut, no final act."""

    expansion = 1

    def __init__(self, in_chans: int, width: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_chans),
            nn.Conv2d(in_chans, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.PReLU(width),
            nn.Conv2d(width, width, 3, stride, 1, bias=False),
            nn.BatchNorm2d(width),
        )
        self.shortcut = _shortcut(in_chans, width, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class ResNet50(nn.Module):
    """ResNet-50 trunk with either global average pooling or ArcFace's BN-Dropout-FC-BN embedding.

    Args:
        unit: ``"bottleneck"`` (torchvision, depths 3-4-6-3, pooled) or ``"ir"`` (ArcFace IR, depths 3-4-14-3,
            BN-Dropout-FC-BN embedding).
        in_chans: input channels C.
        embed_dim: embedding size D of the IR variant; the bottleneck variant's D is ``8 * 256 * width`` (2048).
        input_size: (F, T) the IR variant is built for (fixes the FC layer); unused by the bottleneck variant.
        dropout: dropout probability of the IR embedding.
        width: multiplier for every stage width (rounded to multiples of 8); 1.0 is ResNet-50.
    """

    def __init__(
        self,
        unit: str = "bottleneck",
        in_chans: int = 1,
        embed_dim: int = 2048,
        input_size: Sequence[int] = DCASE2020_INPUT,
        dropout: float = 0.4,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        if unit not in ("bottleneck", "ir"):
            raise ConfigError(f"unit must be 'bottleneck' or 'ir', got {unit!r}")
        if len(input_size) != 2 or min(input_size) < 1:
            raise ConfigError(f"input_size must be (F, T) with positive sizes, got {tuple(input_size)}")
        if width <= 0 or embed_dim < 1 or not 0.0 <= dropout < 1.0:
            raise ConfigError(
                f"need width > 0, embed_dim >= 1 and 0 <= dropout < 1, got {width}, {embed_dim} and {dropout}"
            )
        self.unit = unit
        self.in_chans = in_chans
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.input_size_fixed = unit == "ir"  # the bottleneck variant pools globally: any (F, T) fits
        block: type[Bottleneck] | type[IRUnit] = Bottleneck if unit == "bottleneck" else IRUnit
        depths = BOTTLENECK_DEPTHS if unit == "bottleneck" else IR_DEPTHS

        stem = make_divisible(64 * width)
        act: nn.Module = nn.ReLU(inplace=True) if unit == "bottleneck" else nn.PReLU(stem)
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, stem, 7, 2, 3, bias=False),
            nn.BatchNorm2d(stem),
            act,
            nn.MaxPool2d(3, 2, 1),
        )
        stages: list[nn.Module] = []
        chans = stem
        f, t = (_halved(_halved(s)) for s in self.input_size)
        for depth, base, stride in zip(depths, STAGE_CHANNELS, STAGE_STRIDES, strict=True):
            stage_width = make_divisible(base * width)
            blocks = []
            for i in range(depth):
                blocks.append(block(chans, stage_width, stride if i == 0 else 1))
                chans = stage_width * block.expansion
            stages.append(nn.Sequential(*blocks))
            if stride == 2:
                f, t = _halved(f), _halved(t)
        self.stages = nn.Sequential(*stages)
        self.feature_chans = chans
        self.feature_size = (f, t)

        if unit == "bottleneck":
            self.embed_dim = chans
            self.embedding: nn.Module = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        else:
            self.embed_dim = embed_dim
            self.embedding = nn.Sequential(
                nn.BatchNorm2d(chans),
                nn.Dropout(dropout),
                nn.Flatten(1),
                nn.Linear(chans * f * t, embed_dim),
                nn.BatchNorm1d(embed_dim),
            )
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's initialisation: He (fan-out) for convolutions, BN weight 1 / bias 0.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed a batch of log-mel spectrograms.

        Args:
            x: (B, C, F, T) standardised log-mel; (F, T) == ``input_size`` for the IR variant.

        Returns:
            (B, D) embeddings, D = ``embed_dim``.
        """
        fixed = self.unit == "ir"
        if x.dim() != 4 or x.shape[1] != self.in_chans or (fixed and tuple(x.shape[2:]) != self.input_size):
            size = f"{self.input_size[0]}, {self.input_size[1]}" if fixed else "F, T"
            raise ConfigError(
                f"ResNet50 ({self.unit}) expects input (B, {self.in_chans}, {size}), got {tuple(x.shape)}; "
                "set in_chans" + (" and input_size=(F, T)" if fixed else "") + " to match the front-end's output"
            )
        return self.embedding(self.stages(self.stem(x)))


@register_backbone("resnet50")
def resnet50(in_chans: int = 1, width: float = 1.0) -> ResNet50:
    """S4 with plain softmax: torchvision ResNet-50 bottlenecks, global pooling, 2048-d, 23.5 M parameters."""
    return ResNet50("bottleneck", in_chans=in_chans, width=width)


@register_backbone("resnet50_ir")
def resnet50_ir(
    in_chans: int = 1,
    embed_dim: int = 2048,
    input_size: Sequence[int] = DCASE2020_INPUT,
    dropout: float = 0.4,
    width: float = 1.0,
) -> ResNet50:
    """S4 with margin losses: ArcFace IR units (3-4-14-3) and a BN-Dropout-FC-BN embedding (72.7 M at 128x313)."""
    return ResNet50("ir", in_chans=in_chans, embed_dim=embed_dim, input_size=input_size, dropout=dropout, width=width)
