"""Command-line options shared by several sub-commands (``soundsentry train / run / fit ...``)."""

from __future__ import annotations

import argparse


def add_set_option(parser: argparse.ArgumentParser, example: str = "--set train.epochs=3") -> None:
    """``--set KEY=VALUE`` (repeatable) into ``args.overrides``: recipe values overridden on the command line."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a recipe value, e.g. {example} (repeatable)",
    )
