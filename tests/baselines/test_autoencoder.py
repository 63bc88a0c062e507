"""The baseline network: layer widths and parameter count worked out by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from soundsentry.baselines import AUTOENCODERS, DenseAutoencoder
from soundsentry.errors import ConfigError


def test_layer_widths_are_the_baselines() -> None:
    net = DenseAutoencoder()
    enc = [(m.in_features, m.out_features) for m in net.encoder if isinstance(m, nn.Linear)]
    dec = [(m.in_features, m.out_features) for m in net.decoder if isinstance(m, nn.Linear)]
    assert enc == [(640, 128), (128, 128), (128, 128), (128, 128), (128, 8)]
    assert dec == [(8, 128), (128, 128), (128, 128), (128, 128), (128, 640)]
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm1d)]
    assert len(norms) == 9  # after every linear layer but the output
    assert all(m.momentum == 0.01 and m.eps == 1e-3 for m in norms)
    assert isinstance(net.encoder[-1], nn.ReLU)  # the code is rectified too
    assert isinstance(net.decoder[-1], nn.Linear)


def test_parameter_count_by_hand() -> None:
    def linear(i: int, o: int) -> int:
        return i * o + o

    bn = 2 * 128  # weight and bias
    encoder = linear(640, 128) + bn + 3 * (linear(128, 128) + bn) + linear(128, 8) + 2 * 8
    decoder = linear(8, 128) + bn + 3 * (linear(128, 128) + bn) + linear(128, 640)
    assert encoder + decoder == 267_928
    net = AUTOENCODERS.create("dcase2023_ae")
    assert sum(p.numel() for p in net.parameters()) == encoder + decoder


def test_forward_shapes_and_bad_input() -> None:
    net = DenseAutoencoder(input_dim=20, hidden=6, bottleneck=3, depth=2).eval()
    recon, code = net(torch.randn(5, 20))
    assert recon.shape == (5, 20) and code.shape == (5, 3)
    with pytest.raises(ConfigError, match=r"\(B, 20\)"):
        net(torch.randn(5, 21))
    with pytest.raises(ConfigError, match="bottleneck"):
        DenseAutoencoder(bottleneck=0)
