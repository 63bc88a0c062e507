"""Cosine warm restarts with per-cycle warm-up, checked at key steps against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from soundsentry.errors import ConfigError
from soundsentry.schedules import cosine_warm_restarts_with_warmup, warm_restart_lr

# S4: max lr 2e-4, T_up 2, T_0 10, T_mult 2 -> cycles [0, 10), [10, 30), [30, 70).
HAND = {
    0: 0.0,  # start of cycle 1
    1: 1e-4,  # half-way through the warm-up
    2: 2e-4,  # peak
    6: 1e-4,  # cosine half-way: (6 - 2) / (10 - 2) = 1/2
    9: 1e-4 * (1 + math.cos(math.pi * 7 / 8)),
    10: 0.0,  # restart
    11: 1e-4,
    12: 2e-4,
    21: 1e-4,  # (21 - 10 - 2) / (20 - 2) = 1/2
    30: 0.0,  # second restart, cycle of 40
    32: 2e-4,
    51: 1e-4,  # (51 - 30 - 2) / 38 = 1/2
}


def _run(steps: int) -> list[float]:
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1.0, weight_decay=0.0)
    sched = cosine_warm_restarts_with_warmup(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_key_steps_match_hand_values() -> None:
    lrs = _run(60)
    for step, expected in HAND.items():
        assert lrs[step] == pytest.approx(expected, abs=1e-12), step
        assert warm_restart_lr(step, 2e-4, 2, 10, 2) == pytest.approx(expected, abs=1e-12)


def test_shape_of_each_cycle() -> None:
    lrs = _run(70)
    for start, length in ((0, 10), (10, 20), (30, 40)):
        cycle = lrs[start : start + length]
        assert cycle[0] == 0.0 and max(cycle) == pytest.approx(2e-4)
        assert cycle.index(max(cycle)) == 2
        decay = cycle[2:]
        assert all(a > b for a, b in zip(decay, decay[1:], strict=False))


def test_min_lr_and_t_mult_one() -> None:
    assert warm_restart_lr(0, 1.0, 2, 4, 1, min_lr=0.5) == 0.5
    assert warm_restart_lr(3, 1.0, 2, 4, 1, min_lr=0.5) == pytest.approx(0.75)  # (3 - 2) / (4 - 2) = 1/2
    assert warm_restart_lr(8, 1.0, 2, 4, 1) == 0.0  # third cycle of equal length
    assert warm_restart_lr(5, 1.0, 0, 10, 1) == pytest.approx(0.5)  # no warm-up: plain cosine


def test_errors() -> None:
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    with pytest.raises(ConfigError, match="0 <= t_up < t_0"):
        cosine_warm_restarts_with_warmup(opt, t_up=10, t_0=10)
    with pytest.raises(ConfigError, match="min_lr < max_lr"):
        cosine_warm_restarts_with_warmup(opt, max_lr=1e-4, min_lr=1e-3)
    with pytest.raises(ConfigError, match="must be integers"):
        cosine_warm_restarts_with_warmup(opt, t_0=10.0)
