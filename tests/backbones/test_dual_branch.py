"""The dual_branch backbone (spectrum + log-mel branches over waveform segments) and the waveform front-end.

The backbone contract of test_contract.py (``(B, C, F, T) -> (B, embed_dim)``, gradients reach every parameter) is
run here over waveform segment lengths N, the only inputs this backbone accepts (it is excluded there by name).
"""

from __future__ import annotations

import math

import pytest
import torch
import yaml

import soundsentry.backbones  # noqa: F401  (registers the backbones)
import soundsentry.frontends  # noqa: F401  (registers the front-ends)
from soundsentry.backbones.dual_branch import SPECTROGRAM_CHANNELS, SPECTRUM_CONVS, DualBranch
from soundsentry.backbones.layers import make_divisible
from soundsentry.config import recipe_from_dict
from soundsentry.errors import ConfigError
from soundsentry.frontends import MagnitudeSpectrum
from soundsentry.heads import ArcFace
from soundsentry.registry import BACKBONES, FRONTENDS
from soundsentry.training.features import build_feature_pipeline, check_backbone_input, chunk_shape

# A small spectrogram (32 mels, 256 / 128) and width keep every case fast on CPU.
TINY = {"width": 0.25, "n_mels": 32, "n_fft": 256, "hop_length": 128, "embed_dim": 32}
# Segment lengths: 0.25 s, a length with factors 2 x 2003 (the spectrum's convolutions pad to one output), 0.5 s.
LENGTHS = (4000, 4006, 8000)


def _tiny(n: int, **kwargs) -> DualBranch:
    return BACKBONES.create("dual_branch", input_size=n, **{**TINY, **kwargs})


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("branches", ["both", "spectrum", "logmel"])
def test_waveform_contract(branches: str, n: int) -> None:
    torch.manual_seed(0)
    model = _tiny(n, branches=branches)
    assert model.embed_dim == 32 and model.input_size == (1, n) and model.in_chans == 1
    assert (model.spectrum is not None) == (branches != "logmel")
    assert (model.spectrogram is not None) == (branches != "spectrum")

    model.train()
    out = model(torch.randn(3, 1, 1, n))
    assert out.shape == (3, 32)
    # A random projection: sum(out) or sum(out**2) are constant through a final batch norm in train mode.
    (out * torch.randn_like(out)).sum().backward()
    missing = [k for k, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())]
    assert not missing, f"no gradient reaches {missing}"

    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 1, n)).shape == (2, 32)


def test_branches_split_the_embedding_spectrum_first() -> None:
    torch.manual_seed(0)
    both = _tiny(4000, embed_dim=33).eval()
    x = torch.randn(2, 1, 1, 4000)
    with torch.no_grad():
        out = both(x)
        assert torch.equal(out[:, :16], both.spectrum(x.reshape(2, -1)))
        assert torch.equal(out[:, 16:], both.spectrogram(x.reshape(2, -1)))
    assert out.shape == (2, 33)


def test_linear_spectrogram_option() -> None:
    model = _tiny(4000, spectrogram="linear", spectrum_log=True)
    assert model.spectrogram.bin_norm.num_features == 1 + 256 // 2
    assert model(torch.randn(2, 1, 1, 4000)).shape == (2, 32)


def test_deterministic_on_cpu() -> None:
    x = torch.randn(4, 1, 1, 4000, generator=torch.Generator().manual_seed(1))
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = _tiny(4000)
        model.train()
        out = model(x)
        out.square().sum().backward()
        outs.append((out.detach(), model.spectrum.convs[0].conv.weight.grad.clone()))
        model.eval()
        with torch.no_grad():
            assert torch.equal(model(x), model(x))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


def _expected_parameters(n: int, embed_dim: int, width: float, n_mels: int) -> int:
    """Parameter count worked out layer by layer from the architecture description (weights + batch-norm affine)."""
    c = make_divisible(128 * width)
    length, spectrum = n // 2, 0
    c_in = 1
    for kernel, stride in SPECTRUM_CONVS:
        spectrum += c_in * c * kernel
        length, c_in = math.ceil(length / stride), c
    spectrum += c * length * c + 2 * c + 3 * (c * c + 2 * c) + c * (embed_dim // 2)

    chans = [make_divisible(k * width) for k in SPECTROGRAM_CHANNELS]
    gram = 2 * n_mels + chans[0] * 49 + 2 * chans[0]
    c_in = chans[0]
    for i, k in enumerate(chans):
        shortcut = c_in * k if (i > 0 or c_in != k) else 0
        gram += 2 * c_in + 9 * c_in * k + 2 * k + 9 * k * k + shortcut  # first unit
        gram += 2 * k + 9 * k * k + 2 * k + 9 * k * k  # second unit
        c_in = k
    f = n_mels
    for _ in range(5):
        f = math.ceil(f / 2)
    gram += 2 * c_in * f + c_in * f * (embed_dim - embed_dim // 2)
    return spectrum + gram


@pytest.mark.parametrize("width", [1.0, 0.5])
def test_parameter_count(width: float) -> None:
    model = BACKBONES.create("dual_branch", width=width)  # 2 s at 16 kHz, 128 mels, 256-d: the defaults
    count = sum(p.numel() for p in model.parameters())
    assert count == _expected_parameters(32000, 256, width, 128)
    # The figures stated in the report: 2.21 M at width 1 (1.44 M spectrum, 0.77 M log-mel), 0.58 M at width 0.5.
    assert count == {1.0: 2_209_488, 0.5: 582_376}[width]


@pytest.mark.parametrize("n", [30, 1009, 4000, 4006, 32000])
def test_magnitude_spectrum_matches_rfft(n: int) -> None:
    x = torch.randn(3, n, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    expected = torch.fft.rfft(x).abs()[:, : n // 2] / math.sqrt(n)
    got = MagnitudeSpectrum(n)(x.float()).double()
    assert got.shape == (3, n // 2)
    assert torch.allclose(got, expected, rtol=0, atol=1e-5 * float(expected.max()))


def test_errors_name_the_fix() -> None:
    model = _tiny(4000)
    with pytest.raises(ConfigError, match=r"\(B, 1, 1, 4000\).*chunk_width"):
        model(torch.randn(2, 1, 1, 3999))
    with pytest.raises(ConfigError, match="branches must be one of both, spectrum, logmel"):
        _tiny(4000, branches="mel")
    with pytest.raises(ConfigError, match="segment length in samples"):
        _tiny((32, 16))  # a spectrogram chunk size, as the spectrogram backbones take
    with pytest.raises(ConfigError, match="small prime factors"):
        _tiny(2 * 4099)  # factors 2 x 4099: a DFT matrix side above the limit


def test_waveform_frontend_chunks_are_segments() -> None:
    frontend = FRONTENDS.create("waveform", sample_rate=16000)
    assert (frontend.sample_rate, frontend.out_channels, frontend.n_bins) == (16000, 1, 1)
    wave = torch.randn(2, 32000)
    assert torch.equal(frontend(wave), wave[:, None, None, :])

    draft = {
        "name": "dual_branch_probe",
        "frontend": {"name": "waveform"},
        "features": {"sample_rate": 16000, "clip_seconds": 2.0, "chunk_width": 8000, "standardize": "none"},
        "backbone": {"name": "dual_branch", "sample_rate": 16000, "input_size": 8000, **TINY},
        "head": {"name": "arcface"},
    }
    recipe = recipe_from_dict(yaml.safe_load(yaml.safe_dump(draft)))
    pipeline = build_feature_pipeline(recipe)
    chunks = pipeline(wave)
    assert chunks.shape == (2, 4, 1, 1, 8000)
    assert torch.equal(chunks[1, 2, 0, 0], wave[1, 16000:24000])
    shape = chunk_shape(pipeline, recipe.features)
    assert shape == (1, 1, 8000)
    backbone = BACKBONES.create(recipe.backbone.name, **recipe.backbone.kwargs)
    check_backbone_input(recipe, shape, backbone)  # input_size (1, N) is the chunks' (F, W)
    with pytest.raises(ConfigError, match="input_size=\\[1, 8000\\]"):
        check_backbone_input(recipe, shape, _tiny(4000))
    assert backbone(chunks.flatten(0, 1)).shape == (8, 32)


@pytest.mark.parametrize("branches", ["both", "spectrum", "logmel"])
def test_arcface_on_two_tones_reduces_the_loss(branches: str) -> None:
    """A few optimiser steps separate two classes of noisy sine waves (500 Hz vs 1500 Hz, random phase), with
    each branch alone too."""
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(4000) / 16000
    freqs = torch.tensor([500.0, 1500.0]).repeat_interleave(8)
    phase = 2 * math.pi * torch.rand(16, 1, generator=gen)
    wave = torch.sin(2 * math.pi * freqs[:, None] * t + phase) + 0.1 * torch.randn(16, 4000, generator=gen)
    x, y = wave[:, None, None, :], torch.arange(2).repeat_interleave(8)

    torch.manual_seed(0)
    model = _tiny(4000, branches=branches)
    head = ArcFace(32, 2)
    optimizer = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=1e-3)
    losses = []
    for _ in range(16):
        optimizer.zero_grad()
        loss = head(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach().item())
    assert losses[-1] < 0.25 * losses[0], losses


@pytest.mark.slow
def test_exports_to_onnx_and_matches(tmp_path) -> None:
    """The whole network (DFT as matrix products, the log-mel's STFT) exports and onnxruntime agrees with torch."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from soundsentry.deploy.onnx_export import DEFAULT_TOLERANCE, _export_unit, _verify
    from soundsentry.training.module import EmbeddingModel

    torch.manual_seed(0)
    model = EmbeddingModel(_tiny(4000), None)
    with torch.no_grad():  # move the batch-norm statistics away from their initial (0, 1)
        model.train()(torch.randn(8, 1, 1, 4000))
    model.eval()
    path = tmp_path / "dual_branch.onnx"
    _export_unit(model, (1, 1, 4000), path, 18)
    diff, scale = _verify(model, (1, 1, 4000), path)
    assert diff / max(1.0, scale) <= DEFAULT_TOLERANCE
