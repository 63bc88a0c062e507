"""The modified ResNet of the S3 system (Asai, DCASE 2021 Task 2, Table 1; the architecture of Wilkinghoff's
sub-cluster AdaCos paper).

Table 1, written as ``(T x F x C)`` for a 10 s clip (313 frames x 128 mels)::

    Input                                   313 x 128
    Conv2D 7x7, stride 2                    157 x 64 x 16
    Residual block (3x3, 3x3) x 2           79 x 32 x 16
    Residual block (3x3, 3x3) x 2           40 x 16 x 32
    Residual block (3x3, 3x3) x 2           20 x 8 x 64
    Residual block (3x3, 3x3) x 2           10 x 4 x 128
    MaxPool2D 10x1                          1 x 4 x 128
    Flatten                                 512
    Linear                                  128

Sec. 2.2: leaky ReLU activations and a batch norm after every convolution. Our tensors are ``(B, C, F, T)``
(frequency before time), the table's are time first.

Choices where the table is silent:

* The residual convolutions have stride 1 (as listed) yet each stage halves both axes (157 -> 79 -> 40 -> 20 -> 10):
  every stage starts with a 3x3 max-pool of stride 2 and padding 1, which gives exactly those sizes.
* A block whose channel count changes (16 -> 32 -> 64 -> 128) has a 1x1 convolution + batch norm shortcut.
* The leaky ReLU slope is 0.1 (not in the document).
* The 10x1 max-pool covers the whole remaining time axis; it is taken over however many frames remain, so a
  shorter clip (the demo's 63 frames) works with the same network.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from soundsentry.errors import ConfigError
from soundsentry.registry import register_backbone

STAGE_CHANNELS: tuple[int, ...] = (16, 32, 64, 128)  # Table 1
BLOCKS_PER_STAGE = 2  # Table 1: "(3x3, 3x3) x 2"
LEAKY_SLOPE = 0.1


def _pooled(size: int) -> int:
    # Output length of a 3x3 max-pool (stride 2, padding 1) and of the 7x7 stride-2 conv (padding 3).
    return (size - 1) // 2 + 1


class ResidualBlock(nn.Module):
    """conv3x3-BN-leaky ReLU-conv3x3-BN plus the shortcut, then leaky ReLU; stride 1 (Table 1)."""

    def __init__(self, in_chans: int, out_chans: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_chans, out_chans, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_chans),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(out_chans, out_chans, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_chans),
        )
        self.shortcut: nn.Module = (
            nn.Identity()
            if in_chans == out_chans
            else nn.Sequential(nn.Conv2d(in_chans, out_chans, 1, bias=False), nn.BatchNorm2d(out_chans))
        )
        self.act = nn.LeakyReLU(LEAKY_SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class ResNetS3(nn.Module):
    """Table 1 network: ``(B, C, F, T)`` log-mel clip -> ``(B, embed_dim)``.

    Args:
        in_chans: input channels C.
        embed_dim: embedding size D (128 in Table 1).
        input_size: (F, T) of the input; F fixes the width of the flattened features (4 x 128 = 512 for 128
            mels), T is checked by the training pipeline against the chunk width but any T >= 1 runs.
        channels: output channels of the four residual stages.

    Attributes:
        stages: the four residual stages; ``stages[-1]`` is the *last residual block* that step 2 of S3 fine-tunes.
    """

    def __init__(
        self,
        in_chans: int = 1,
        embed_dim: int = 128,
        input_size: Sequence[int] = (128, 313),
        channels: Sequence[int] = STAGE_CHANNELS,
    ) -> None:
        super().__init__()
        if len(input_size) != 2 or min(input_size) < 1:
            raise ConfigError(f"input_size must be (F, T) with positive sizes, got {tuple(input_size)}")
        if len(channels) < 1 or min(channels) < 1:
            raise ConfigError(f"channels must be positive stage widths, got {tuple(channels)}")
        self.in_chans = in_chans
        self.embed_dim = embed_dim
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, channels[0], 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.LeakyReLU(LEAKY_SLOPE),
        )
        f = _pooled(self.input_size[0])
        stages: list[nn.Module] = []
        prev = channels[0]
        for out in channels:
            blocks = [ResidualBlock(prev if i == 0 else out, out) for i in range(BLOCKS_PER_STAGE)]
            stages.append(nn.Sequential(nn.MaxPool2d(3, stride=2, padding=1), *blocks))
            prev = out
            f = _pooled(f)
        self.stages = nn.Sequential(*stages)
        self.feature_bins = f
        self.embedding = nn.Linear(prev * f, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed a batch of log-mel clips.

        Args:
            x: (B, C, F, T) standardised log-mel spectrograms, F = ``input_size[0]``.

        Returns:
            (B, D) embeddings.
        """
        if x.dim() != 4 or x.shape[1] != self.in_chans or x.shape[2] != self.input_size[0]:
            raise ConfigError(
                f"ResNetS3 expects input (B, {self.in_chans}, {self.input_size[0]}, T), got {tuple(x.shape)}; "
                "set in_chans and input_size=(F, T) to match the front-end"
            )
        h = self.stages(self.stem(x))  # (B, 128, F / 32, T / 32)
        h = h.amax(dim=3)  # Table 1's max-pool over the remaining time axis
        return self.embedding(h.flatten(1))


@register_backbone("resnet_s3")
def resnet_s3(
    in_chans: int = 1,
    embed_dim: int = 128,
    input_size: Sequence[int] = (128, 313),
) -> ResNetS3:
    """S3's modified ResNet (Table 1): 16/32/64/128 channels, 766,192 parameters at 128 mels."""
    return ResNetS3(in_chans, embed_dim, input_size)
