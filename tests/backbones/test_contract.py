"""Contract every registered backbone keeps: (B, C, F, T) -> (B, embed_dim), gradients reach every parameter."""

from __future__ import annotations

import pytest
import torch

import soundsentry.backbones  # noqa: F401  (registers the backbones)
from soundsentry.registry import BACKBONES

# Keyword arguments that keep a backbone small enough for a fast CPU test; unlisted ones use their defaults,
# plus input_size=TINY_SIZE when they accept it.
TINY_KWARGS: dict[str, dict] = {
    "mobilefacenet_net1": {"width": 0.25},
    "mobilefacenet_net2": {"width": 0.25},
}
TINY_SIZE = (32, 16)


def _build(name: str) -> tuple[torch.nn.Module, tuple[int, int, int]]:
    params = BACKBONES.parameters(name)
    kwargs = dict(TINY_KWARGS.get(name, {}))
    if "input_size" in params:
        kwargs.setdefault("input_size", TINY_SIZE)
    model = BACKBONES.create(name, **kwargs)
    in_chans = kwargs.get("in_chans", params.get("in_chans", 1))
    F, T = kwargs.get("input_size", TINY_SIZE)
    return model, (in_chans, F, T)


@pytest.mark.parametrize("name", BACKBONES.available())
def test_backbone_contract(name: str) -> None:
    torch.manual_seed(0)
    model, (C, F, T) = _build(name)
    assert isinstance(model, torch.nn.Module)
    assert isinstance(model.embed_dim, int) and model.embed_dim > 0

    model.train()
    out = model(torch.randn(3, C, F, T))
    assert out.shape == (3, model.embed_dim)
    # A random projection: sum(out) or sum(out**2) are constant through a final batch norm in train mode.
    (out * torch.randn_like(out)).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())]
    assert not missing, f"no gradient reaches {missing}"

    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, C, F, T)).shape == (2, model.embed_dim)
