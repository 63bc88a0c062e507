"""Standardizer: streaming statistics against numpy, state dict round trip, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soundsentry.errors import ConfigError, DataError
from soundsentry.frontends import Standardizer


@pytest.fixture(scope="module")
def batches() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    # large offset relative to spread: a naive sum-of-squares in float32 would lose the variance
    return [
        1e4 + torch.randn(b, 2, 5, t, generator=g) * torch.arange(1.0, 6.0).reshape(5, 1)
        for b, t in [(3, 7), (1, 11), (4, 2)]
    ]


def _concat(batches: list[torch.Tensor]) -> np.ndarray:
    # (C, F, all frames) in float64
    return np.concatenate([b.double().numpy().transpose(1, 2, 0, 3).reshape(2, 5, -1) for b in batches], axis=-1)


def test_per_bin_matches_numpy(batches: list[torch.Tensor]) -> None:
    std = Standardizer(per_bin=True).fit(iter(batches))
    data = _concat(batches)
    np.testing.assert_allclose(std.mean.squeeze(-1).numpy(), data.mean(axis=-1), rtol=1e-6)
    np.testing.assert_allclose(std.std.squeeze(-1).numpy(), data.std(axis=-1), rtol=1e-5)
    assert std.mean.shape == (2, 5, 1) and int(std.count) == data.shape[-1]
    out = std(batches[0])
    expected = (batches[0].double().numpy() - data.mean(axis=-1)[..., None]) / data.std(axis=-1)[..., None]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-3, atol=1e-3)


def test_global_matches_numpy(batches: list[torch.Tensor]) -> None:
    std = Standardizer(per_bin=False).fit(batches)
    data = _concat(batches)
    assert std.mean.shape == ()
    np.testing.assert_allclose(std.mean.item(), data.mean(), rtol=1e-6)
    np.testing.assert_allclose(std.std.item(), data.std(), rtol=1e-5)


def test_chunked_features_and_numpy_batches() -> None:
    x = np.random.default_rng(0).normal(size=(2, 3, 1, 4, 8)).astype(np.float32)  # (B, n, C, F, W)
    std = Standardizer().fit([x[:1], x[1:]])
    flat = x.transpose(2, 3, 0, 1, 4).reshape(1, 4, -1)
    np.testing.assert_allclose(std.mean.squeeze(-1).numpy(), flat.mean(-1), rtol=1e-5, atol=1e-6)
    assert std(torch.from_numpy(x)).shape == x.shape


def test_state_dict_round_trip(batches: list[torch.Tensor]) -> None:
    fitted = Standardizer().fit(batches)
    model = torch.nn.Sequential(fitted)
    state = model.state_dict()
    assert {"0.mean", "0.std", "0.count"} <= set(state)
    restored = torch.nn.Sequential(Standardizer())
    restored.load_state_dict(state)
    torch.testing.assert_close(restored(batches[1]), fitted(batches[1]))


def test_unfitted_and_mismatch_errors(batches: list[torch.Tensor]) -> None:
    with pytest.raises(ConfigError, match="not fitted.*fit"):
        Standardizer()(batches[0])
    with pytest.raises(DataError, match="no feature frames"):
        Standardizer().fit([])
    with pytest.raises(DataError, match="disagree"):
        Standardizer().fit([torch.zeros(1, 1, 4, 3), torch.zeros(1, 1, 5, 3)])
    with pytest.raises(DataError, match="refit"):
        Standardizer().fit(batches)(torch.zeros(1, 1, 64, 3))


def test_constant_bin_does_not_divide_by_zero() -> None:
    std = Standardizer().fit(torch.ones(2, 1, 3, 4))
    assert torch.isfinite(std(torch.ones(1, 1, 3, 4))).all()


def test_moves_with_module(device: str, batches: list[torch.Tensor]) -> None:
    std = Standardizer().fit(batches).to(device)
    assert std(batches[0].to(device)).device.type == torch.device(device).type
