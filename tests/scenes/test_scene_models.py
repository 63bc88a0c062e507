"""S5 networks: documented parameter counts, the 128 kB size rule, backbone contract, float16 ONNX export."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from soundsentry.errors import ConfigError
from soundsentry.registry import BACKBONES
from soundsentry.scenes.models import (
    PAPER_PARAMS,
    SceneClassifier,
    check_size,
    count_parameters,
    cp_resnet_kernels,
    size_bytes,
)

# Relative tolerance on the documented counts (S5 section 5); see docs/scenes.md for the CP-ResNet difference.
TOLERANCE = {"asc_mobilenetv2": 0.01, "cp_resnet": 0.06}


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS))
def test_parameter_count_and_size(name: str) -> None:
    model = SceneClassifier(BACKBONES.create(name), num_classes=10)
    n = count_parameters(model)
    assert abs(n / PAPER_PARAMS[name] - 1) < TOLERANCE[name]
    assert size_bytes(model) <= 2 * n <= 131_072
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    assert size_bytes(model) == 2 * n == check_size(model)
    with torch.no_grad():
        model.top[2].weight.zero_()  # zeros do not count
    assert size_bytes(model) == 2 * (n - model.top[2].weight.numel())


def test_over_budget_fails_loudly() -> None:
    big = SceneClassifier(BACKBONES.create("cp_resnet", width=32), num_classes=10)
    with pytest.raises(ConfigError, match=r"over the 131072-byte budget by \d+"):
        check_size(big)


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS))
def test_backbone_contract_and_gradients(name: str) -> None:
    body = BACKBONES.create(name)
    model = SceneClassifier(body, num_classes=4)
    x = torch.rand(3, 3, 128, 431)  # S5's 10 s input
    emb = body(x)
    assert emb.shape == (3, body.embed_dim)
    logits = model(torch.rand(2, 3, 128, 22))  # short clips still reach the classifier
    assert logits.shape == (2, 4)
    model(x).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    leaky = [m for m in model.modules() if isinstance(m, torch.nn.LeakyReLU)]
    assert leaky and all(m.negative_slope == 0.01 for m in leaky)
    assert not any(isinstance(m, torch.nn.ReLU | torch.nn.ReLU6 | torch.nn.PReLU) for m in model.modules())


def test_cp_resnet_receptive_field_rule() -> None:
    assert cp_resnet_kernels(4) == [[(3, 1), (3, 3), (3, 3), (1, 1)], [(1, 1)] * 4, [(1, 1)] * 4]
    k7 = cp_resnet_kernels(7)  # a larger rho keeps more 3x3 kernels
    assert sum(a + b for s in k7 for a, b in s) > sum(a + b for s in cp_resnet_kernels(4) for a, b in s)


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS))
def test_onnx_float16_export_matches_pytorch(name: str, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from soundsentry.scenes.export import export_onnx_fp16, verify_onnx

    torch.manual_seed(0)
    model = SceneClassifier(BACKBONES.create(name), num_classes=10).eval()
    path = export_onnx_fp16(model, torch.rand(2, 3, 128, 44), tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    weights = [i for i in proto.graph.initializer if i.dims and i.data_type == onnx.TensorProto.FLOAT16]
    # the exporter folds batch norms into the convolutions, so a few parameters disappear
    assert sum(int(torch.tensor(list(i.dims)).prod()) for i in weights) > 0.9 * count_parameters(model)
    assert not any(i.data_type == onnx.TensorProto.FLOAT for i in proto.graph.initializer)
    assert path.stat().st_size < 2 * count_parameters(model) + 20_000  # float16 storage, not float32
    assert verify_onnx(model, path, torch.rand(5, 3, 128, 44)) < 1e-2  # a batch size other than the example's
    with torch.no_grad():
        model.top[2].bias.add_(1.0)  # a changed model no longer matches the file
    with pytest.raises(ConfigError, match="ONNX output differs"):
        verify_onnx(model, path, torch.rand(2, 3, 128, 44))
