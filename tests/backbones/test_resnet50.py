"""S4 ResNet-50 backbones: IR unit layout, parameter counts against hand formulas, shapes, gradients, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from soundsentry.backbones.resnet50 import IR_DEPTHS, Bottleneck, IRUnit, ResNet50, resnet50, resnet50_ir
from soundsentry.errors import ConfigError
from soundsentry.registry import BACKBONES


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _bn(c: int) -> int:
    return 2 * c


def _ir_unit_params(cin: int, cout: int, stride: int) -> int:
    """BN(cin), conv3x3 cin->cout, BN, PReLU(cout), conv3x3 cout->cout, BN, [conv1x1 + BN shortcut]."""
    body = _bn(cin) + 9 * cin * cout + _bn(cout) + cout + 9 * cout * cout + _bn(cout)
    shortcut = cin * cout + _bn(cout) if stride != 1 or cin != cout else 0
    return body + shortcut


def test_ir_unit_layer_order_and_shapes() -> None:
    unit = IRUnit(16, 32, stride=2)
    kinds = [type(m) for m in unit.body]
    assert kinds == [nn.BatchNorm2d, nn.Conv2d, nn.BatchNorm2d, nn.PReLU, nn.Conv2d, nn.BatchNorm2d]
    first, second = unit.body[1], unit.body[4]
    assert first.kernel_size == second.kernel_size == (3, 3)
    assert first.stride == (1, 1) and second.stride == (2, 2)  # the stride sits on the second conv
    assert unit.body[0].num_features == 16 and unit.body[5].num_features == 32
    assert unit(torch.randn(2, 16, 10, 7)).shape == (2, 32, 5, 4)
    same = IRUnit(8, 8, stride=1)
    assert isinstance(same.shortcut, nn.Identity)
    assert same(torch.randn(2, 8, 6, 5)).shape == (2, 8, 6, 5)


def test_ir_unit_computes_its_formula() -> None:
    torch.manual_seed(0)
    unit = IRUnit(4, 4).eval()
    x = torch.randn(2, 4, 5, 5)
    bn0, c1, bn1, act, c2, bn2 = unit.body
    expected = bn2(c2(act(bn1(c1(bn0(x)))))) + x  # identity shortcut, no activation after the sum
    torch.testing.assert_close(unit(x), expected)


def test_parameter_counts() -> None:
    with torch.device("meta"):
        plain = resnet50()
        ir = resnet50_ir()
    # torchvision's resnet50 has 25,557,032 parameters; minus its 2048 -> 1000 FC and 2 of conv1's 3 input channels.
    assert _count(plain) == 25_557_032 - (2048 * 1000 + 1000) - 2 * 64 * 7 * 7 == 23_501_760
    # IR variant from the layer formulas: stem, 3-4-14-3 IR units, BN-Dropout-FC-BN embedding on a 512 x 4 x 10 map.
    expected = 7 * 7 * 64 + _bn(64) + 64
    cin = 64
    for depth, cout, stride in zip(IR_DEPTHS, (64, 128, 256, 512), (1, 2, 2, 2), strict=True):
        for i in range(depth):
            expected += _ir_unit_params(cin, cout, stride if i == 0 else 1)
            cin = cout
    assert ir.feature_size == (4, 10)
    expected += _bn(512) + (512 * 4 * 10 * 2048 + 2048) + _bn(2048)
    assert _count(ir) == expected == 72_690_624
    blocks = [m for m in ir.modules() if isinstance(m, IRUnit)]
    assert len(blocks) == sum(IR_DEPTHS) == 24  # 48 convolutions + stem + FC = 50 layers
    assert len([m for m in plain.modules() if isinstance(m, Bottleneck)]) == 16


def test_ir_embedding_is_bn_dropout_fc_bn() -> None:
    model = resnet50_ir(input_size=(32, 16), width=0.25, embed_dim=24, dropout=0.3)
    kinds = [type(m) for m in model.embedding]
    assert kinds == [nn.BatchNorm2d, nn.Dropout, nn.Flatten, nn.Linear, nn.BatchNorm1d]
    assert model.embedding[1].p == 0.3
    assert model.embedding[3].in_features == model.feature_chans * 1 * 1 and model.embed_dim == 24
    assert not any(isinstance(m, nn.AdaptiveAvgPool2d) for m in model.modules())


@pytest.mark.parametrize(
    ("factory", "kwargs", "size", "dim"),
    [
        (resnet50, {"width": 0.25}, (64, 40), 512),
        (resnet50, {"width": 0.25}, (40, 33), 512),  # pooled: any input size
        (resnet50_ir, {"width": 0.25, "input_size": (64, 40), "embed_dim": 32}, (64, 40), 32),
    ],
)
def test_output_shapes_and_gradients(factory, kwargs: dict, size: tuple[int, int], dim: int) -> None:
    torch.manual_seed(0)
    model = factory(**kwargs).train()
    out = model(torch.randn(3, 1, *size))
    assert out.shape == (3, dim) == (3, model.embed_dim)
    (out * torch.randn_like(out)).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing
    model.eval()
    with torch.no_grad():
        a = model(torch.randn(2, 1, *size))
        assert a.shape == (2, dim) and torch.isfinite(a).all()


def test_ir_feature_size_follows_stride_32() -> None:
    with torch.device("meta"):
        model = resnet50_ir(input_size=(128, 64))
    assert model.feature_size == (4, 2)
    assert model.embedding[3].in_features == 512 * 4 * 2


def test_registry_and_errors() -> None:
    assert {"resnet50", "resnet50_ir"} <= set(BACKBONES.available())
    model = BACKBONES.create("resnet50_ir", input_size=(32, 16), width=0.25)
    assert isinstance(model, ResNet50) and model.unit == "ir"
    with pytest.raises(ConfigError, match=r"expects input \(B, 1, 32, 16\), got \(2, 1, 32, 20\).*input_size"):
        model(torch.randn(2, 1, 32, 20))
    with pytest.raises(ConfigError, match=r"expects input \(B, 1, F, T\), got \(2, 3, 32, 32\)"):
        resnet50(width=0.25)(torch.randn(2, 3, 32, 32))
    with pytest.raises(ConfigError, match="unit must be"):
        ResNet50("basic")
    with pytest.raises(ConfigError, match="dropout"):
        resnet50_ir(dropout=1.0)
