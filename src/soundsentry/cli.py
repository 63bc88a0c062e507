"""The ``soundsentry`` command line. Each sub-command calls one function of :mod:`soundsentry.pipeline`.

User mistakes (bad audio, unknown layouts, bad options) print one line and exit with status 2; only
programming errors show a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from soundsentry import __version__
from soundsentry.errors import SoundSentryError

DESCRIPTION = """\
soundsentry learns what a machine sounds like from normal recordings and flags anomalous ones.

Stages (files between them):
  synth     generate the embedded benchmark data set (DCASE 2022-2024 layout, no download)
  prepare   parse a data folder (DCASE 2020-2024, MIMII, plain folder) into a validated manifest
  reference score a manifest with a simple reference detector (mean log-mel + 1-NN, or RMS energy)
  evaluate  AUC / pAUC per machine type, section and domain, the official DCASE score, official CSVs
  list      list registered components (layouts, front-ends, backbones, heads, scorers)
  demo      synth -> prepare -> reference -> evaluate on the default generated set
"""


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="generate the benchmark data set",
        description="Write a generated DCASE 2022-2024-layout data set: several machine types, two or more "
        "sections, a source and a target domain, anomalies of random severity. Deterministic by seed.",
    )
    p.add_argument("out", type=Path, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every clip count (default 1.0)")
    p.add_argument("--seconds", type=float, default=None, help="clip length in seconds (default: the generator's)")
    p.add_argument("--force", action="store_true", help="overwrite a folder generated with other parameters")


def _add_prepare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prepare",
        help="parse a data folder into a manifest",
        description="Detect the layout of ROOT (or take --layout), parse every file name into clip records "
        "(machine type, section/ID, domain, split, label, attributes) and write a manifest (.jsonl or .csv). "
        "Prints a summary table; files that match no convention are reported.",
    )
    p.add_argument("root", type=Path, help="data folder")
    p.add_argument("-o", "--out", type=Path, required=True, help="manifest file to write (.jsonl or .csv)")
    p.add_argument("--layout", default=None, help="layout name instead of auto-detection (see `soundsentry list`)")
    g = p.add_argument_group("folder labelled by CSV files (implies --layout folder)")
    g.add_argument("--labels-csv", action="append", help="CSV file or glob relative to ROOT (filename,label columns)")
    g.add_argument("--normal-labels", help="comma-separated labels that mean normal, e.g. ON,FAN")
    g.add_argument("--anomaly-labels", help="comma-separated labels that mean anomalous, e.g. 'BLADE FAULT,TAPPING'")
    g.add_argument("--machine-type", help="machine type for a plain folder (default: the folder name)")


def _add_reference(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reference",
        help="score a manifest with a reference detector",
        description="Score every clip of a manifest with a detector that needs no training: 'logmel_1nn' "
        "(mean log-mel over time, 1-NN Euclidean distance to the training clips of the same machine type and "
        "section) or 'rms' (clip RMS energy). Training clips get out-of-fold scores (for decision thresholds).",
    )
    p.add_argument("manifest", type=Path, help="manifest written by `soundsentry prepare`")
    p.add_argument("-o", "--out", type=Path, required=True, help="scores file to write (CSV: path,anomaly_score)")
    p.add_argument("--detector", default="logmel_1nn", choices=["logmel_1nn", "rms"])
    p.add_argument("--sample-rate", type=int, default=16000, help="resample clips to this rate (default 16000)")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate anomaly scores like the official DCASE evaluators",
        description="Join a scores file (CSV path,anomaly_score, or a folder of official anomaly_score_*.csv) "
        "with a manifest and compute AUC and pAUC (max_fpr 0.1) per machine type, section and domain, plus the "
        "official score of the chosen year's rules. Writes results.csv, results.md and the official CSVs.",
    )
    p.add_argument("manifest", type=Path, help="manifest written by `soundsentry prepare`")
    p.add_argument("scores", type=Path, help="scores CSV, or a folder of official anomaly_score_*.csv files")
    p.add_argument("-o", "--out", type=Path, default=None, help="folder for tables and official CSVs")
    p.add_argument(
        "--rule", default=None, choices=["2020", "2021", "2022"], help="official rule (default: from the layout)"
    )
    p.add_argument("--max-fpr", type=float, default=0.1, help="pAUC false-positive limit (default 0.1)")
    p.add_argument(
        "--threshold-percentile",
        type=float,
        default=0.9,
        help="decision threshold: this percentile of a gamma fit to the training scores (default 0.9)",
    )


def _add_list(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("list", help="list registered components", description="Print every registry and its names.")


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the demo on the generated data set",
        description="Generate the default data set, prepare it, score it with the reference detector, evaluate "
        "and print the results table. Everything goes under --out.",
    )
    p.add_argument("--out", type=Path, default=Path("demo"), help="working folder (default ./demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=float, default=1.0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="soundsentry", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"soundsentry {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_synth, _add_prepare, _add_reference, _add_evaluate, _add_list, _add_demo):
        add(sub)
    return parser


def _dispatch(args: argparse.Namespace) -> None:
    from soundsentry import pipeline

    if args.command == "synth":
        pipeline.synth(args.out, seed=args.seed, scale=args.scale, seconds=args.seconds, force=args.force)
    elif args.command == "prepare":
        options = {
            "labels_csv": args.labels_csv,
            "normal_labels": args.normal_labels.split(",") if args.normal_labels else None,
            "anomaly_labels": args.anomaly_labels.split(",") if args.anomaly_labels else None,
            "machine_type": args.machine_type,
        }
        options = {k: v for k, v in options.items() if v is not None}
        layout = args.layout or ("folder" if options else None)
        pipeline.prepare(args.root, args.out, layout=layout, **options)
    elif args.command == "reference":
        pipeline.reference(args.manifest, args.out, detector=args.detector, sample_rate=args.sample_rate)
    elif args.command == "evaluate":
        pipeline.evaluate(
            args.manifest,
            args.scores,
            out_dir=args.out,
            rule=args.rule,
            max_fpr=args.max_fpr,
            threshold_percentile=args.threshold_percentile,
        )
    elif args.command == "list":
        print(pipeline.list_components())
    elif args.command == "demo":
        pipeline.demo(args.out, seed=args.seed, scale=args.scale)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"warning: {message}", file=sys.stderr if file is None else file)


def main(argv: Sequence[str] | None = None) -> int:
    warnings.showwarning = _one_line_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        _dispatch(args)
    except SoundSentryError as err:
        print(f"soundsentry {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"soundsentry {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
