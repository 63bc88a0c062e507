"""S2 MobileNetV2 encoder: Table 1's channels, shapes and a parameter count derived layer by layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from soundsentry.backbones.mobilenetv2 import MobileNetV2Encoder
from soundsentry.errors import ConfigError
from soundsentry.registry import BACKBONES

# Table 1 after the width multiplier 0.5: (t, c, n, s) per bottleneck row.
TABLE1 = [(1, 8, 1, 1), (6, 16, 2, 2), (6, 16, 3, 2), (6, 32, 4, 2), (6, 48, 3, 1), (6, 80, 3, 2), (6, 160, 1, 1)]


def table1_parameter_count(in_chans: int = 1, head: str = "conv") -> int:
    """Trainable parameters of Table 1 counted by hand, independently of the module.

    conv k x k (no bias) ``cin * cout * k_h * k_w``; depthwise 3x3 ``c * 9``; batch norm ``2 * c``.
    A t = 6 bottleneck cin -> cout: expand ``6 cin^2 + 12 cin``, depthwise ``54 cin + 12 cin``, project
    ``6 cin cout + 2 cout``; t = 1 has no expansion. Stem 1 -> 16: 144 + 32 = 176. Bottlenecks: 480,032 in total
    (8: 320; 16: 1,808 + 4,352; 16: 3 x 4,352; 32: 5,920 + 3 x 14,848; 48: 17,952 + 2 x 31,488; 80: 40,768 +
    2 x 83,200; 160: 121,760). Conv 1x1 160 -> 320: 51,840. Conv 4x2 320 -> 320: 819,200 + 640 = 819,840.
    Output conv 1x1 320 -> 320 with bias: 102,720. Sum: 1,454,432 for one input channel.
    """
    total = in_chans * 16 * 9 + 2 * 16
    cin = 16
    for t, c, n, _ in TABLE1:
        for _ in range(n):
            hidden = cin * t
            expand = cin * hidden + 2 * hidden if t != 1 else 0
            total += expand + hidden * 9 + 2 * hidden + hidden * c + 2 * c
            cin = c
    total += 160 * 320 + 2 * 320
    if head == "conv":
        total += 320 * 320 * 4 * 2 + 2 * 320
    return total + 320 * 320 + 320


def test_hand_count_is_the_documented_figure() -> None:
    assert table1_parameter_count() == 1_454_432
    assert table1_parameter_count(in_chans=3) == 1_454_432 + 288
    assert table1_parameter_count(head="avg") == 634_592


@pytest.mark.parametrize(("in_chans", "head"), [(1, "conv"), (3, "conv"), (1, "avg")])
def test_parameter_count_matches_table1(in_chans: int, head: str) -> None:
    model = BACKBONES.create("mobilenetv2_s2", in_chans=in_chans, head=head)
    assert sum(p.numel() for p in model.parameters()) == table1_parameter_count(in_chans, head)


def test_table1_shapes_at_document_size() -> None:
    model = BACKBONES.create("mobilenetv2_s2").eval()
    assert model.embed_dim == 320 and model.feature_size == (4, 2)
    convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d)]
    assert convs[0].out_channels == 16 and convs[0].stride == (2, 2)  # conv2d 3x3, c 16, s 2
    blocks = [m for m in model.features if type(m).__name__ == "InvertedResidualReLU6"]
    outs = [b.block[-2].out_channels for b in blocks]
    assert outs == [c for _, c, n, _ in TABLE1 for _ in range(n)]
    assert len(blocks[0].block) == 3  # t = 1: depthwise + projection only
    assert model.pool[0].kernel_size == (4, 2) and model.pool[0].out_channels == 320  # conv2d 4x2
    # Spatial sizes row by row: 128x64 -> 64x32 (stem) -> ... -> 4x2 before the conv 4x2.
    x = torch.randn(2, 1, 128, 64)
    sizes = []
    with torch.no_grad():
        for layer in model.features:
            x = layer(x)
            sizes.append(tuple(x.shape[1:]))
        assert sizes[0] == (16, 64, 32) and sizes[1] == (8, 64, 32) and sizes[3] == (16, 32, 16)
        assert sizes[-1] == (320, 4, 2)
        assert model.pool(x).shape == (2, 320, 1, 1)
        out = model(torch.randn(2, 1, 128, 64))
    assert out.shape == (2, 320) and torch.isfinite(out).all()
    assert sum(isinstance(m, nn.ReLU6) for m in model.modules()) > 0
    assert not any(isinstance(m, nn.PReLU) for m in model.modules())


def test_three_identical_channels_equal_one_channel_with_summed_kernel() -> None:
    torch.manual_seed(0)
    three = MobileNetV2Encoder(in_chans=3, input_size=(32, 16)).eval()
    one = MobileNetV2Encoder(in_chans=1, input_size=(32, 16)).eval()
    state = dict(three.state_dict())
    state["features.0.0.weight"] = state["features.0.0.weight"].sum(dim=1, keepdim=True)
    one.load_state_dict(state)
    x = torch.randn(2, 1, 32, 16)
    with torch.no_grad():
        torch.testing.assert_close(one(x), three(x.expand(-1, 3, -1, -1)), rtol=1e-4, atol=1e-5)


def test_small_input_and_shortcut() -> None:
    model = MobileNetV2Encoder(input_size=(32, 16), embed_dim=16)
    assert model.feature_size == (1, 1)
    assert model(torch.randn(3, 1, 32, 16)).shape == (3, 16)
    blocks = [m for m in model.features if type(m).__name__ == "InvertedResidualReLU6"]
    assert [b.use_shortcut for b in blocks[:3]] == [False, False, True]


def test_wrong_input_and_bad_options_name_the_fix() -> None:
    model = MobileNetV2Encoder(input_size=(32, 16)).eval()
    with pytest.raises(ConfigError, match=r"expects input \(B, 1, 32, 16\).*input_size"):
        model(torch.randn(2, 1, 32, 8))
    with pytest.raises(ConfigError, match="head must be one of conv, avg"):
        MobileNetV2Encoder(head="max")
    with pytest.raises(ConfigError, match="valid keywords"):
        BACKBONES.create("mobilenetv2_s2", width_mult=0.5)
