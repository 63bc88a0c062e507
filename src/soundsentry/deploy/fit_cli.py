"""The ``soundsentry fit`` sub-command: argument parsing and the one call into :mod:`soundsentry.deploy.fit`."""

from __future__ import annotations

import argparse
from pathlib import Path

from soundsentry.cli_args import add_set_option

COMMAND = "fit"
DESCRIPTION = (
    "  fit       one command from a folder of recordings (even a plain folder of one machine's normal clips) to a\n"
    "            calibrated detector: picks a method, holds out normals, trains, sets per-domain thresholds, exports\n"
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        COMMAND,
        help="build a calibrated detector from a folder of recordings",
        description="Prepare DATA (any layout `prepare` reads, or a plain folder of one machine's normal clips), pick "
        "a method that can learn from it and say why (default sentry_flagship: a log-mel and modulation patch bank "
        "that needs no classes; a classifier recipe only with --recipe and two or more classes), hold out a share of "
        "the normal clips of each machine, section and domain to calibrate the thresholds, train on the rest and "
        "export a detector to OUT (with the run folder in OUT/run). Prints the false-alarm rate measured on the "
        "held-out normals of each domain.",
    )
    p.add_argument("data", type=Path, help="folder of recordings")
    p.add_argument("-o", "--out", type=Path, required=True, help="detector folder to write")
    p.add_argument("--recipe", default=None, help="recipe name or file (default: sentry_flagship)")
    add_set_option(p, "--set train.accelerator=cpu")
    p.add_argument(
        "--holdout", type=float, default=0.2, help="share of normal clips held out for calibration (default 0.2)"
    )
    p.add_argument(
        "--false-alarm-rate",
        type=float,
        default=0.05,
        help="stated share of normal clips flagged anomalous; thresholds are the 1 - rate quantile (default 0.05)",
    )
    p.add_argument("--threshold", choices=("gamma", "quantile"), default="gamma", help="threshold rule (default gamma)")
    p.add_argument("--seed", type=int, default=0, help="seed of the held-out split (default 0)")
    p.add_argument("--layout", default=None, help="layout name instead of auto-detection")
    p.add_argument("--force", action="store_true", help="replace an existing detector folder")


def dispatch(args: argparse.Namespace) -> None:
    from soundsentry.deploy.fit import fit_detector, summary_lines

    result = fit_detector(
        args.data,
        args.out,
        recipe=args.recipe,
        overrides=args.overrides,
        holdout=args.holdout,
        false_alarm_rate=args.false_alarm_rate,
        seed=args.seed,
        threshold=args.threshold,
        layout=args.layout,
        force=args.force,
    )
    for line in summary_lines(result):
        print(line)
    print(f"detector -> {result.detector} (run folder: {result.run_dir})")
