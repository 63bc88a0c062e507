"""S5's two low-complexity networks, split into a body (registered backbone) and a replaceable top.

Both bodies follow the backbone contract ``forward(x: (B, C, F, T)) -> (B, D)`` with ``.embed_dim = D``; the
classifier adds S5 Table 1's layers 10-12 (Dense 64, BatchNormalization, Dense n_classes; the softmax of layer 13 is
left to the loss / inference). The "last three layers" that the workflow cuts and re-adds are that top.

Table 1 (reduced MobileNetV2, 47,939 parameters in the document's count)::

    1  Input 128 x 431 x 3              8  BatchNormalization
    2  Conv 3x3, strides 2x2            9  Dropout 10 %
    3  Inverted residual, to 25        10  Dense 64
    4  Inverted residual, to 32        11  BatchNormalization
    5  Inverted residual, to 38        12  Dense 10
    6  Conv 1x1, to 56                 13  Softmax
    7  AvgPool2D 2x2

Table 1 names no flattening; a Dense layer on the flattened 2x2-pooled map would alone exceed the budget, so the
pooled map is averaged over frequency and time before layer 8 (a Keras ``Dense`` on a 4-D tensor also acts on the
channel axis only). Unstated details take MobileNetV2's values: 32 stem channels, expansion factor 6, stride 2 in
each inverted residual block. Activations are Leaky ReLU with slope 0.01 (S5 section 5.1).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from soundsentry.errors import ConfigError
from soundsentry.registry import register_backbone

LEAKY_SLOPE = 0.01
PAPER_PARAMS = {"asc_mobilenetv2": 47_939, "cp_resnet": 58_266}


def conv_bn(cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    """Convolution without bias, batch norm, Leaky ReLU (0.01) unless ``act=False``."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.LeakyReLU(LEAKY_SLOPE))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 bottleneck with Leaky ReLU: 1x1 expand, 3x3 depthwise (stride), linear 1x1 projection."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.shortcut = stride == 1 and cin == cout
        self.block = nn.Sequential(
            conv_bn(cin, hidden), conv_bn(hidden, hidden, 3, stride, groups=hidden), conv_bn(hidden, cout, act=False)
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        return x + out if self.shortcut else out


class PooledOutput(nn.Module):
    """Table 1 layers 7-9: AvgPool2D 2x2 (ceil mode, so short inputs keep a frame), mean over (F, T), BN, dropout."""

    def __init__(self, channels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(2, ceil_mode=True)
        self.bn = nn.BatchNorm1d(channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.bn(self.pool(x).mean(dim=(2, 3))))


class ReducedMobileNetV2(nn.Module):
    """S5 Table 1 layers 1-9: ``x: (B, in_chans, F, T) -> (B, 56)``.

    Args:
        in_chans: input channels (S5: 3, log-mel + harmonic + percussive).
        stem: channels of the first 3x3 / 2 convolution.
        blocks: output channels of the three inverted residual blocks (Table 1: 25, 32, 38).
        expansion: expansion factor of the blocks.
        strides: stride of each block.
        out_chans: channels of the final 1x1 convolution (Table 1: 56).
        dropout: dropout rate of layer 9 (10 %).
    """

    def __init__(
        self,
        in_chans: int = 3,
        stem: int = 32,
        blocks: Sequence[int] = (25, 32, 38),
        expansion: int = 6,
        strides: Sequence[int] = (2, 2, 2),
        out_chans: int = 56,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if len(blocks) != len(strides):
            raise ConfigError(f"blocks and strides need one entry per block, got {len(blocks)} and {len(strides)}")
        layers: list[nn.Module] = [conv_bn(in_chans, stem, 3, 2)]
        cin = stem
        for cout, s in zip(blocks, strides, strict=True):
            layers.append(InvertedResidual(cin, cout, s, expansion))
            cin = cout
        layers.append(conv_bn(cin, out_chans, 1))
        self.features = nn.Sequential(*layers)
        self.output = PooledOutput(out_chans, dropout)
        self.embed_dim = out_chans

    def forward(self, x: Tensor) -> Tensor:
        """``x: (B, C, F, T) -> (B, 56)``."""
        return self.output(self.features(x))


def cp_resnet_kernels(rho: int) -> list[list[tuple[int, int]]]:
    """Kernel sizes (k1, k2) of the 3 x 4 basic blocks of CP-ResNet for receptive-field regularisation ``rho``.

    Koutini et al.'s rule: a 3x3 kernel where the receptive field still grows within the budget ``rho``, 1x1 after
    it. With ``rho = 4`` only stage 1 has 3x3 kernels: ``[(3, 1), (3, 3), (3, 3), (1, 1)]``.
    """
    e = rho - 7

    def k(big: bool) -> int:
        return 3 if big else 1

    stage1 = [(3, 1)] + [(k(-e <= a), k(-e <= b)) for a, b in ((6, 5), (4, 3), (2, 1))]
    stage2 = [(k(-e <= 0), k(e > 0))] + [(k(e > a), k(e > b)) for a, b in ((1, 2), (3, 4), (5, 6))]
    stage3 = [(k(e > a), k(e > b)) for a, b in ((7, 8), (9, 10), (11, 12), (13, 14))]
    return [stage1, stage2, stage3]


class BasicBlock(nn.Module):
    """Two convolutions (kernels k1, k2) with batch norm and Leaky ReLU, plus a 1x1 shortcut when channels change."""

    def __init__(self, cin: int, cout: int, k1: int, k2: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(cin, cout, k1), conv_bn(cout, cout, k2, act=False))
        self.shortcut = conv_bn(cin, cout, 1, act=False) if cin != cout else nn.Identity()
        self.act = nn.LeakyReLU(LEAKY_SLOPE)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class CPResNet(nn.Module):
    """Receptive-field regularised ResNet (Koutini et al.) with S5's reduction: ``(B, C, F, T) -> (B, 4 * width)``.

    Input block: 5x5 / 2 convolution, BN, Leaky ReLU; three stages of four basic blocks with ``width``, ``2 width``
    and ``4 width`` channels; 2x2 max-pooling after blocks 1, 2 and 4 of stage 1 (the CP-JKU configuration); then
    S5 Table 1 layers 7-9 (pooling, BN, dropout) as for the MobileNetV2.

    Args:
        in_chans: input channels.
        rho: receptive-field regularisation (S5: 4), see :func:`cp_resnet_kernels`.
        width: channels of the first stage (S5: 16).
        dropout: dropout rate.
    """

    def __init__(self, in_chans: int = 3, rho: int = 4, width: int = 16, dropout: float = 0.1) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(in_chans, width, 5, 2)]
        self.stage_of: list[int] = [0]  # per entry of ``features``: 0 input block, 1-3 the stages
        cin = width
        for s, kernels in enumerate(cp_resnet_kernels(rho)):
            cout = width * 2**s
            for b, (k1, k2) in enumerate(kernels):
                layers.append(BasicBlock(cin, cout, k1, k2))
                cin = cout
                self.stage_of.append(s + 1)
                if s == 0 and b + 1 in (1, 2, 4):
                    layers.append(nn.MaxPool2d(2, ceil_mode=True))
                    self.stage_of.append(s + 1)
        self.features = nn.Sequential(*layers)
        self.output = PooledOutput(cin, dropout)
        self.embed_dim = cin

    def forward(self, x: Tensor) -> Tensor:
        """``x: (B, C, F, T) -> (B, 4 * width)``."""
        return self.output(self.features(x))


@register_backbone("asc_mobilenetv2")
def asc_mobilenetv2(in_chans: int = 3, expansion: int = 6, dropout: float = 0.1) -> ReducedMobileNetV2:
    """S5's reduced MobileNetV2 body (Table 1 layers 1-9)."""
    return ReducedMobileNetV2(in_chans=in_chans, expansion=expansion, dropout=dropout)


@register_backbone("cp_resnet")
def cp_resnet(in_chans: int = 3, rho: int = 4, width: int = 16, dropout: float = 0.1) -> CPResNet:
    """S5's CP-ResNet body (rho = 4, 16 channels)."""
    return CPResNet(in_chans=in_chans, rho=rho, width=width, dropout=dropout)


def classifier_top(embed_dim: int, num_classes: int, hidden: int = 64) -> nn.Sequential:
    """Table 1 layers 10-12: Dense ``hidden``, BatchNormalization, Dense ``num_classes`` (logits)."""
    return nn.Sequential(nn.Linear(embed_dim, hidden), nn.BatchNorm1d(hidden), nn.Linear(hidden, num_classes))


def arcface_neck(embed_dim: int, emb: int = 64) -> nn.Sequential:
    """S5 section 6: "a batch normalization and a fully connected layer on top of the network body"."""
    return nn.Sequential(nn.BatchNorm1d(embed_dim), nn.Linear(embed_dim, emb))


class SceneClassifier(nn.Module):
    """Body plus classification top: ``x: (B, C, F, T) -> (B, num_classes)`` logits (softmax outside)."""

    def __init__(self, body: nn.Module, num_classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.body = body
        self.top = classifier_top(body.embed_dim, num_classes, hidden)
        self.num_classes = num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.top(self.body(x))


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (batch-norm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters())


def cp_resnet_breakdown(model: SceneClassifier) -> dict[str, int]:
    """Trainable parameters of a CP-ResNet classifier per part (docs/scenes.md compares them with S5's 58,266)."""
    body = model.body
    if not isinstance(body, CPResNet):
        raise ConfigError(f"cp_resnet_breakdown needs a cp_resnet body, got {type(body).__name__}")
    names = ["input conv + BN", "stage 1", "stage 2", "stage 3"]
    out = dict.fromkeys(names, 0)
    for stage, layer in zip(body.stage_of, body.features, strict=True):
        out[names[stage]] += count_parameters(layer)
    out["layer 8 (BN)"] = count_parameters(body.output)
    out["layers 10-12 (Dense 64, BN, Dense C)"] = count_parameters(model.top)
    return out


def size_bytes(model: nn.Module, bytes_per_param: int = 2) -> int:
    """DCASE 2021 Task 1A model size: non-zero parameters times bytes per parameter (float16: 2)."""
    return bytes_per_param * sum(int(torch.count_nonzero(p.detach())) for p in model.parameters())


def check_size(model: nn.Module, budget_bytes: int = 131_072, bytes_per_param: int = 2) -> int:
    """The model's size in bytes; over ``budget_bytes`` (128 kB) is a ConfigError that says by how much."""
    size = size_bytes(model, bytes_per_param)
    if size > budget_bytes:
        raise ConfigError(
            f"model is {size} bytes ({size // bytes_per_param} non-zero parameters x {bytes_per_param} bytes), over "
            f"the {budget_bytes}-byte budget by {size - budget_bytes}; use a smaller backbone or fewer channels"
        )
    return size
