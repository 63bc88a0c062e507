"""Learning-rate schedules: cosine annealing with warm restarts and a linear warm-up in every cycle (S4).

S4 trains with Adam (no weight decay) under "cosine warm restarts with warm-up, max lr 2e-4, T_up 2, T_0 10,
T_mult 2". No dependency of soundsentry offers that shape: torch's ``CosineAnnealingWarmRestarts`` has no warm-up,
and chaining it after ``LinearLR`` in ``SequentialLR`` warms up only once, where S4's schedule warms up at the
start of every cycle. timm's ``CosineLRScheduler`` also warms up only once. So it is a ``LambdaLR`` here.

Cycle i lasts ``T_i = T_0 * T_mult**i`` steps; at position ``t`` (0-based) within its cycle::

    lr = min_lr + (max_lr - min_lr) * t / T_up                                         if t < T_up
    lr = min_lr + (max_lr - min_lr) * (1 + cos(pi * (t - T_up) / (T_i - T_up))) / 2     otherwise

which is the widely used ``CosineAnnealingWarmUpRestarts`` formula the document's custom scheduler follows
(with ``min_lr`` the optimizer's base lr there, 0 by default). A step is whatever the caller steps on: S4 steps
once per epoch. Note that with ``min_lr = 0`` the first step of each cycle runs at lr 0, as in that formula.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from soundsentry.errors import ConfigError


def warm_restart_lr(step: int, max_lr: float, t_up: int, t_0: int, t_mult: int = 1, min_lr: float = 0.0) -> float:
    """The learning rate at ``step`` (0-based) of cosine warm restarts with a warm-up of ``t_up`` steps per cycle."""
    position, length = step, t_0
    while position >= length:
        position -= length
        length *= t_mult
    if position < t_up:
        return min_lr + (max_lr - min_lr) * position / t_up
    progress = (position - t_up) / (length - t_up)
    return min_lr + (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress)) / 2.0


def cosine_warm_restarts_with_warmup(
    optimizer: Optimizer,
    max_lr: float = 2e-4,
    t_up: int = 2,
    t_0: int = 10,
    t_mult: int = 2,
    min_lr: float = 0.0,
) -> LambdaLR:
    """A ``LambdaLR`` following :func:`warm_restart_lr`; defaults are S4's (2e-4, T_up 2, T_0 10, T_mult 2).

    Every parameter group of ``optimizer`` gets the same schedule: its lr is set to ``max_lr`` and the lambda
    scales it. Call ``scheduler.step()`` once per epoch (or per step, with ``t_*`` counted in steps).

    Args:
        optimizer: e.g. ``torch.optim.Adam(params, weight_decay=0)``; its own lr is overwritten.
        max_lr: peak lr of each cycle.
        t_up: warm-up steps at the start of each cycle, ``0 <= t_up < t_0``.
        t_0: length of the first cycle.
        t_mult: each cycle is ``t_mult`` times as long as the one before (integer >= 1).
        min_lr: lr at the start and end of each cycle.
    """
    if not (isinstance(t_0, int) and isinstance(t_up, int) and isinstance(t_mult, int)):
        raise ConfigError(f"t_0, t_up and t_mult must be integers, got {t_0!r}, {t_up!r} and {t_mult!r}")
    if t_0 < 1 or t_mult < 1 or not 0 <= t_up < t_0:
        raise ConfigError(
            f"need t_0 >= 1, t_mult >= 1 and 0 <= t_up < t_0, got t_0={t_0}, t_mult={t_mult}, t_up={t_up}"
        )
    if not 0 <= min_lr < max_lr:
        raise ConfigError(f"need 0 <= min_lr < max_lr, got min_lr={min_lr}, max_lr={max_lr}")
    for group in optimizer.param_groups:
        group["lr"] = max_lr
        group.pop("initial_lr", None)
    return LambdaLR(optimizer, lambda step: warm_restart_lr(step, max_lr, t_up, t_0, t_mult, min_lr) / max_lr)
