"""Which process of a multi-process (DDP) training run this is.

With ``train.strategy: ddp`` Lightning starts one process per device by running the same command again with
``LOCAL_RANK`` set (``torchrun`` and SLURM set ``RANK`` / ``SLURM_PROCID``). Every process trains; only the
launching process (global rank 0) prints, writes the run's summary files and goes on to extract, score and
evaluate, so a distributed ``soundsentry run`` produces one set of outputs.
"""

from __future__ import annotations

import os

# The variables Lightning's rank_zero_only reads, in its order.
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def global_rank() -> int:
    """This process's global rank: 0 in a single-process run and in the process that launched the others."""
    for key in RANK_VARIABLES:
        value = os.environ.get(key)
        if value is not None and value.strip().lstrip("-").isdigit():
            return int(value)
    return 0


def is_global_zero() -> bool:
    """True in the process that prints and writes (see the module docstring)."""
    return global_rank() == 0
