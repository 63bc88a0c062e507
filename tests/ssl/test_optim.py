"""LARS against a hand computation of You et al.'s update; the warm-up + cosine schedule at its key points."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from soundsentry.errors import ConfigError
from soundsentry.ssl import build_lars, warmup_cosine_lr, warmup_cosine_scheduler

LR, WD, MOMENTUM, ETA = 0.8, 1e-4, 0.9, 1e-3


def lars_reference(w: np.ndarray, grads: list[np.ndarray], adapt: bool) -> np.ndarray:
    """You et al. (2017), Algorithm 1, with the global rate applied after momentum.

    Weight tensors: local rate ``eta ||w|| / (||g|| + beta ||w||)`` times ``g + beta w``; biases and norm parameters
    (``adapt=False``): plain momentum SGD on ``g``, no weight decay.
    """
    buf = np.zeros_like(w)
    for g in grads:
        if adapt:
            trust = ETA * np.linalg.norm(w) / (np.linalg.norm(g) + WD * np.linalg.norm(w))
            d = trust * (g + WD * w)
        else:
            d = g
        buf = MOMENTUM * buf + d
        w = w - LR * buf
    return w


def test_lars_two_steps_match_hand_computation() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).double()
    start = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    grads = {n: [np.random.default_rng(i).normal(size=p.shape) for i in (1, 2)] for n, p in model.named_parameters()}
    optimizer = build_lars(model.parameters())
    for step in range(2):
        for n, p in model.named_parameters():
            p.grad = torch.from_numpy(grads[n][step].copy())
        optimizer.step()
    for n, p in model.named_parameters():
        expected = lars_reference(start[n], grads[n], adapt=p.ndim > 1)
        np.testing.assert_allclose(p.detach().numpy(), expected, rtol=1e-10, atol=1e-12, err_msg=n)
    # Only the Linear weight is a 2-D tensor: it alone is adapted and decayed.
    assert [n for n, p in model.named_parameters() if p.ndim > 1] == ["0.weight"]


def test_lars_defaults_are_the_documents() -> None:
    group = build_lars([nn.Parameter(torch.zeros(2, 2))]).param_groups[0]
    assert (group["lr"], group["weight_decay"], group["momentum"], group["trust_coefficient"]) == (LR, WD, 0.9, ETA)
    with pytest.raises(ConfigError, match="learning rate must be positive"):
        build_lars([nn.Parameter(torch.zeros(2))], lr=0.0)


def test_schedule_key_points() -> None:
    # 100 epochs of 10 steps, 10 warm-up epochs: peak 0.8 at step 100, 0.002 at step 1000.
    def lr(step: int) -> float:
        return warmup_cosine_lr(step, total_steps=1000, warmup_steps=100, base_lr=0.8, end_lr=0.002)

    assert lr(0) == 0.0  # "starting from 0"
    assert lr(50) == pytest.approx(0.4)
    assert lr(100) == pytest.approx(0.8)
    assert lr(550) == pytest.approx((0.8 + 0.002) / 2)  # half-way through the cosine
    assert lr(325) == pytest.approx(0.002 + 0.798 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert lr(1000) == pytest.approx(0.002) and lr(5000) == pytest.approx(0.002)
    decay = [lr(s) for s in range(100, 1001)]
    assert all(a >= b for a, b in zip(decay, decay[1:], strict=False))


def test_scheduler_follows_the_function_per_group() -> None:
    a, b = nn.Parameter(torch.zeros(2, 2)), nn.Parameter(torch.zeros(2))
    optimizer = build_lars([{"params": [a]}, {"params": [b], "lr": 0.4}])
    scheduler = warmup_cosine_scheduler(optimizer, total_steps=20, warmup_steps=4)
    seen = []
    for _ in range(22):
        seen.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    for step, (lr_a, lr_b) in enumerate(seen):
        assert lr_a == pytest.approx(warmup_cosine_lr(step, 20, 4, 0.8, 0.002))
        assert lr_b == pytest.approx(warmup_cosine_lr(step, 20, 4, 0.4, 0.002))
    assert seen[0] == [0.0, 0.0] and seen[4] == pytest.approx([0.8, 0.4]) and seen[20] == pytest.approx([0.002] * 2)


def test_schedule_errors() -> None:
    with pytest.raises(ConfigError, match="warmup_steps <= total_steps"):
        warmup_cosine_lr(0, total_steps=10, warmup_steps=20)
    with pytest.raises(ConfigError, match="total_steps >= 1"):
        warmup_cosine_scheduler(build_lars([nn.Parameter(torch.zeros(2, 2))]), total_steps=0, warmup_steps=0)
