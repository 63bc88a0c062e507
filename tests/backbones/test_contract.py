"""Contract every registered backbone keeps: (B, C, F, T) -> (B, embed_dim), gradients reach every parameter.

The contract is checked at several input sizes, including square ones whose final feature map is larger than 1 x 1
(a whole-map kernel such as GDConv or S2's conv 4x2 must not be given "same" padding there).
"""

from __future__ import annotations

import pytest
import torch

import soundsentry.backbones  # noqa: F401  (registers the backbones)
import soundsentry.scenes.models  # noqa: F401  (registers S5's asc_mobilenetv2 and cp_resnet)
from soundsentry.registry import BACKBONES

# Keyword arguments that keep a backbone small enough for a fast CPU test; unlisted ones use their defaults,
# plus input_size=(F, T) when they accept it.
TINY_KWARGS: dict[str, dict] = {
    "mobilefacenet_net1": {"width": 0.25},
    "mobilefacenet_net2": {"width": 0.25},
    "resnet50": {"width": 0.25},
    "resnet50_ir": {"width": 0.25},
}
# (F, T): the original tiny size (1 x 1 final map for the total-stride-32 networks); square sizes that end in a
# 2 x 2 and 3 x 3 map; sizes that are not multiples of the total stride.
INPUT_SIZES: tuple[tuple[int, int], ...] = ((32, 16), (64, 64), (96, 96), (40, 72), (72, 40))
# Backbones that read waveform segments (B, 1, 1, N) from the "waveform" front-end, not (C, F, T) spectrogram
# chunks: no (F, T) above is a valid input for them. tests/backbones/test_dual_branch.py runs this same contract
# over several segment lengths N instead.
WAVEFORM_BACKBONES: frozenset[str] = frozenset({"dual_branch"})
SPECTROGRAM_BACKBONES: list[str] = [n for n in BACKBONES.available() if n not in WAVEFORM_BACKBONES]


def _build(name: str, size: tuple[int, int]) -> tuple[torch.nn.Module, tuple[int, int, int]]:
    params = BACKBONES.parameters(name)
    kwargs = dict(TINY_KWARGS.get(name, {}))
    if "input_size" in params:
        kwargs["input_size"] = size
    model = BACKBONES.create(name, **kwargs)
    in_chans = kwargs.get("in_chans", params.get("in_chans", 1))
    return model, (in_chans, *size)


def test_every_registered_backbone_is_covered() -> None:
    names = set(BACKBONES.available())
    assert {"mobilefacenet_net1", "mobilenetv2_s2", "resnet_s3", "asc_mobilenetv2", "cp_resnet"} <= names
    assert names >= WAVEFORM_BACKBONES  # an exclusion above never hides a renamed backbone


@pytest.mark.parametrize("size", INPUT_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", SPECTROGRAM_BACKBONES)
def test_backbone_contract(name: str, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model, (C, F, T) = _build(name, size)
    assert isinstance(model, torch.nn.Module)
    assert isinstance(model.embed_dim, int) and model.embed_dim > 0

    model.train()
    out = model(torch.randn(3, C, F, T))
    assert out.shape == (3, model.embed_dim)
    if not any(p.requires_grad for p in model.parameters()):  # nothing to train (flatten): no gradient to reach
        assert getattr(BACKBONES.get(name), "needs_training", True) is False, f"{name} has no trainable parameter"
        return
    # A random projection: sum(out) or sum(out**2) are constant through a final batch norm in train mode.
    (out * torch.randn_like(out)).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())]
    assert not missing, f"no gradient reaches {missing}"

    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, C, F, T)).shape == (2, model.embed_dim)


@pytest.mark.parametrize("size", [(64, 64), (96, 96)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_whole_map_kernels_have_no_padding(size: tuple[int, int]) -> None:
    """The issue's case: mobilefacenet_net1(input_size=(64, 64)) gave 1152-d instead of 128-d."""
    net1 = BACKBONES.create("mobilefacenet_net1", input_size=size, width=0.25)
    s2 = BACKBONES.create("mobilenetv2_s2", input_size=size)
    assert net1.gdconv[0].padding == (0, 0) and net1.gdconv[0].kernel_size == net1.feature_size
    assert s2.pool[0].padding == (0, 0) and s2.pool[0].kernel_size == s2.feature_size
