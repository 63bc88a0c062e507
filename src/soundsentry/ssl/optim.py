"""S2 pre-training optimiser: LARS (You et al., 2017) with 10 warm-up epochs and a cosine decay to 0.002.

The document: "LARS optimizer, with a learning rate of 0.8, weight decay of 1e-4 and a batch size of 1024 for 100
epochs. In addition, 10 warmup epochs were used and the learning rate followed a cosine decay schedule starting
from 0 and finishing at 0.002."

LARS is ``pytorch_optimizer.LARS`` (kept up to date, torch only, no torchvision). Per weight tensor ``w`` with
gradient ``g`` it uses the paper's local rate ``eta * ||w|| / (||g|| + beta * ||w||)`` on ``g + beta * w``, then
momentum, then the global rate; tensors with one dimension or fewer (biases, batch-norm scales and shifts, PReLU
slopes) get neither the adaptation nor the weight decay, plain momentum SGD instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from pytorch_optimizer import LARS

from soundsentry.errors import ConfigError


def build_lars(
    params: Iterable[torch.nn.Parameter] | Iterable[dict],
    lr: float = 0.8,
    weight_decay: float = 1e-4,
    momentum: float = 0.9,
    trust_coefficient: float = 1e-3,
) -> torch.optim.Optimizer:
    """LARS with the document's settings (lr 0.8, weight decay 1e-4); momentum 0.9 and trust coefficient
    ``eta = 0.001`` are LARS's and VICReg's values (the document does not give them).

    ``lr`` is the peak rate; :func:`warmup_cosine_scheduler` scales it per step.
    """
    if lr <= 0:
        raise ConfigError(f"LARS learning rate must be positive, got {lr}")
    if weight_decay < 0 or not 0 <= momentum < 1 or trust_coefficient <= 0:
        raise ConfigError(
            f"LARS needs weight_decay >= 0, 0 <= momentum < 1 and trust_coefficient > 0, got {weight_decay}, "
            f"{momentum}, {trust_coefficient}"
        )
    return LARS(params, lr=lr, weight_decay=weight_decay, momentum=momentum, trust_coefficient=trust_coefficient)


def warmup_cosine_lr(
    step: int, total_steps: int, warmup_steps: int, base_lr: float = 0.8, end_lr: float = 0.002
) -> float:
    """Learning rate at optimiser step ``step`` (0-based).

    Linear warm-up from 0 to ``base_lr`` over ``warmup_steps`` steps, then a half cosine from ``base_lr`` down to
    ``end_lr`` reached at ``total_steps``; constant ``end_lr`` afterwards. With ``S`` optimiser steps per epoch the
    document's run is ``total_steps = 100 * S``, ``warmup_steps = 10 * S``.
    """
    if total_steps < 1 or not 0 <= warmup_steps <= total_steps:
        raise ConfigError(
            f"need total_steps >= 1 and 0 <= warmup_steps <= total_steps, got {total_steps} and {warmup_steps}"
        )
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    decay_steps = total_steps - warmup_steps
    if decay_steps == 0:
        return end_lr
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    q = 0.5 * (1.0 + math.cos(math.pi * progress))
    return end_lr + (base_lr - end_lr) * q


def warmup_cosine_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int, end_lr: float = 0.002
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step ``LambdaLR`` following :func:`warmup_cosine_lr`, peaking at each group's initial ``lr``.

    Step it after every optimiser step (Lightning: ``interval="step"``). ``end_lr`` is absolute, so groups with
    another peak rate end at the same 0.002.
    """
    warmup_cosine_lr(0, total_steps, warmup_steps)  # validate now, not at the first step

    def factor(base_lr: float) -> Callable[[int], float]:
        if base_lr <= 0:
            raise ConfigError(f"every parameter group needs a positive peak lr for the schedule, got {base_lr}")
        return lambda step: warmup_cosine_lr(step, total_steps, warmup_steps, base_lr, end_lr) / base_lr

    return torch.optim.lr_scheduler.LambdaLR(optimizer, [factor(g["lr"]) for g in optimizer.param_groups])
