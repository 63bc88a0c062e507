"""S3's modified ResNet: Table 1's parameter count and feature-map sizes."""

from __future__ import annotations

import pytest
import torch

from soundsentry.backbones.resnet_s3 import ResNetS3, resnet_s3
from soundsentry.errors import ConfigError
from soundsentry.registry import BACKBONES


def _table1_parameters(embed_dim: int = 128, mels: int = 128) -> int:
    """Parameters of Table 1 counted by hand: conv weights (no bias), 2 per batch norm, linear with bias."""

    def conv(k: int, cin: int, cout: int) -> int:
        return k * k * cin * cout

    def bn(c: int) -> int:
        return 2 * c

    total = conv(7, 1, 16) + bn(16)
    prev = 16
    for c in (16, 32, 64, 128):
        for block in range(2):
            cin = prev if block == 0 else c
            total += conv(3, cin, c) + bn(c) + conv(3, c, c) + bn(c)
            if cin != c:  # 1x1 projection shortcut
                total += conv(1, cin, c) + bn(c)
        prev = c
    flat = 128 * (mels // 32)  # Table 1: 1 x 4 x 128 -> 512
    return total + flat * embed_dim + embed_dim


def test_parameter_count_matches_table1() -> None:
    model = resnet_s3()
    n = sum(p.numel() for p in model.parameters())
    assert n == _table1_parameters() == 766_192


def test_table1_feature_map_sizes() -> None:
    model = ResNetS3(input_size=(128, 313)).eval()
    x = torch.zeros(1, 1, 128, 313)
    sizes = []
    h = model.stem(x)
    sizes.append(tuple(h.shape[1:]))
    for stage in model.stages:
        h = stage(h)
        sizes.append(tuple(h.shape[1:]))
    # Table 1 as (C, F, T): 157x64x16, 79x32x16, 40x16x32, 20x8x64, 10x4x128 (T x F x C there).
    assert sizes == [(16, 64, 157), (16, 32, 79), (32, 16, 40), (64, 8, 20), (128, 4, 10)]
    assert model.embedding.in_features == 512
    with torch.no_grad():
        assert model(torch.randn(2, 1, 128, 313)).shape == (2, 128)


def test_any_clip_length_and_registry() -> None:
    model = BACKBONES.create("resnet_s3", input_size=[128, 63], embed_dim=32).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 1, 128, 63)).shape == (3, 32)
        assert model(torch.randn(1, 1, 128, 20)).shape == (1, 32)


def test_time_pooling_is_a_max() -> None:
    # A short, strong event anywhere in time must reach the embedding through the max over time.
    torch.manual_seed(0)
    model = ResNetS3(input_size=(32, 64), embed_dim=8).eval()
    x = torch.randn(1, 1, 32, 64)
    y = x.clone()
    y[..., 30:34] += 20.0
    with torch.no_grad():
        assert not torch.allclose(model(x), model(y))


def test_wrong_frequency_size_is_a_config_error() -> None:
    model = resnet_s3()
    with pytest.raises(ConfigError, match=r"expects input \(B, 1, 128, T\)"):
        model(torch.zeros(1, 1, 64, 313))
