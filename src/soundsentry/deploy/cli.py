"""Deployment sub-commands of the ``soundsentry`` CLI: ``export``, ``score-dir``."""

from __future__ import annotations

import argparse
from pathlib import Path

COMMANDS = ("export", "score-dir")
DESCRIPTION = """\
  export    bundle a trained run into a detector folder (model, fitted scorers, thresholds) for deployment
  score-dir score every recording of a folder with a detector; CSV of scores, decisions and errors
"""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="bundle a run into a deployable detector folder",
        description="Bundle what inference needs (front-end settings and standardisation, the embedding network, "
        "the training embeddings each scorer is fitted on, per-group decision thresholds with their expected "
        "false-alarm rate, versions and checksums) into one folder that loads on a CPU-only machine without the "
        "training data. The run must be trained and extracted.",
    )
    p.add_argument("run_dir", type=Path, help="run folder (after `soundsentry run`, or train + extract)")
    p.add_argument("-o", "--out", type=Path, required=True, help="detector folder to write")
    p.add_argument("--scorer", default=None, help="scorer spec (default: the recipe's first scorer)")
    p.add_argument(
        "--threshold",
        choices=("gamma", "quantile"),
        default="gamma",
        help="gamma: gamma fit to the training clips' out-of-fold scores (DCASE baselines); quantile: their "
        "empirical quantile (default gamma)",
    )
    p.add_argument(
        "--false-alarm-rate",
        type=float,
        default=0.1,
        help="expected share of normal clips flagged anomalous; the threshold is the 1 - rate quantile (default 0.1)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing detector folder")

    p = sub.add_parser(
        "score-dir",
        help="score a folder of recordings with a detector",
        description="Score every audio file under DIR with the detector and write a CSV (path, machine_type, "
        "section, anomaly_score, threshold, decision, error). Machine type and section come from the folder's "
        "layout, or from --machine-type / --section for a plain folder. A file that cannot be scored gets "
        "decision=error and a one-line reason; the batch goes on.",
    )
    p.add_argument("detector", type=Path, help="detector folder written by `soundsentry export`")
    p.add_argument("dir", type=Path, help="folder of recordings")
    p.add_argument("-o", "--out", type=Path, required=True, help="results CSV")
    p.add_argument("--machine-type", default=None, help="machine type of every file (plain folder)")
    p.add_argument("--section", default=None, help="section / machine ID of every file (default 00)")
    p.add_argument("--layout", default=None, help="layout name instead of auto-detection")


def dispatch(args: argparse.Namespace) -> None:
    from soundsentry.errors import ConfigError

    if args.command == "export":
        from soundsentry.deploy.bundle import export_detector

        rate = float(args.false_alarm_rate)
        if not 0.0 < rate < 1.0:
            raise ConfigError(f"--false-alarm-rate is a fraction in (0, 1), e.g. 0.05; got {args.false_alarm_rate}")
        out = export_detector(
            args.run_dir, args.out, scorer=args.scorer, method=args.threshold, percentile=1.0 - rate, force=args.force
        )
        print(f"detector -> {out}")
    elif args.command == "score-dir":
        from soundsentry.deploy.batch import score_dir
        from soundsentry.deploy.detector import Detector

        detector = Detector(args.detector)
        _, summary = score_dir(
            detector, args.dir, args.out, machine_type=args.machine_type, section=args.section, layout=args.layout
        )
        print(
            f"scored {summary.n_clips - summary.n_errors} of {summary.n_clips} clips: {summary.n_anomalies} "
            f"anomalous, {summary.n_errors} not scored (see the error column) -> {summary.out}"
        )
