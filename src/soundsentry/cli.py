"""The ``soundsentry`` command line. Each sub-command calls one function of :mod:`soundsentry.pipeline`.

User mistakes (bad audio, unknown layouts, bad options) print one line and exit with status 2; only
programming errors show a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from soundsentry import __version__
from soundsentry.cli_args import add_set_option
from soundsentry.deploy import cli as deploy_cli
from soundsentry.deploy import fit_cli
from soundsentry.distributed import is_global_zero
from soundsentry.errors import SoundSentryError
from soundsentry.scenes import cli as scenes_cli

DESCRIPTION = """\
soundsentry learns what a machine sounds like from normal recordings and flags anomalous ones.

Stages (files between them):
  synth     generate the embedded benchmark data set (DCASE 2022-2024 layout, no download)
  prepare   parse a data folder (DCASE 2020-2024, MIMII, plain folder) into a validated manifest
  reference score a manifest with a simple reference detector (mean log-mel + 1-NN, or RMS energy)
  train     train a recipe's embedding network(s) on a manifest's normal training clips
  extract   embed every clip of a trained run (chunk embeddings and clip means)
  score     fit one or more scorers per machine type and section on the embeddings; no retraining
  evaluate  AUC / pAUC per machine type, section and domain, the official DCASE score, official CSVs
  fuse      fuse several runs' scores files (z-normalised on training scores, then mean or min)
  run       prepare -> train -> extract -> score -> evaluate for one recipe
  list      list registered components and packaged recipes
  demo      the generated set, the reference detectors and the flagship recipe, end to end
"""
DESCRIPTION += fit_cli.DESCRIPTION + deploy_cli.DESCRIPTION


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
    p.add_argument("--sections", type=int, default=None, help="sections (units) per machine type (default 2)")
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
        "section), 'logmel_patch_1nn' (every window of 5 log-mel frames against the training windows of its group, "
        "nearest-window distance averaged over the clip) or 'rms' (clip RMS energy). Training clips get out-of-fold "
        "scores (for decision thresholds).",
    )
    p.add_argument("manifest", type=Path, help="manifest written by `soundsentry prepare`")
    p.add_argument("-o", "--out", type=Path, required=True, help="scores file to write (CSV: path,anomaly_score)")
    p.add_argument("--detector", default="logmel_1nn", choices=["logmel_1nn", "logmel_patch_1nn", "rms"])
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


def _add_recipe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", help="recipe YAML file or packaged recipe name (see `soundsentry list`)")
    add_set_option(p, "--set train.epochs=3 --set backbone.width=0.5")
    p.add_argument("--no-resume", action="store_true", help="train from scratch instead of resuming the run folder")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a recipe on a manifest",
        description="Train the recipe's embedding network(s) on the normal training clips of MANIFEST (one model per "
        "machine type or one for all, as the recipe says). Checkpoints go to RUN/models; rerunning resumes from the "
        "last checkpoint. The resolved recipe is saved as RUN/config.yaml.",
    )
    _add_recipe_args(p)
    p.add_argument("--manifest", type=Path, required=True, help="manifest written by `soundsentry prepare`")
    p.add_argument("--run-dir", type=Path, required=True, help="run folder")


def _add_extract(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract",
        help="embed every clip of a trained run",
        description="Write RUN/embeddings.npz: chunk embeddings and clip embeddings (mean over chunks) of every "
        "training and test clip of the run's manifest.",
    )
    p.add_argument("run_dir", type=Path, help="run folder written by `soundsentry train`")


def _add_score(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        help="score a run's embeddings with one or more back-ends",
        description="Fit each scorer per (machine type, section) on the training clip embeddings and write "
        "RUN/scores/<spec>.csv for every clip (training clips out of fold). Back-ends change without retraining.",
    )
    p.add_argument("run_dir", type=Path, help="run folder with embeddings.npz")
    p.add_argument(
        "--scorer",
        dest="scorers",
        action="append",
        default=[],
        metavar="SPEC",
        help="scorer spec name:key=value,... e.g. knn_cosine:k=10 (repeatable; default: the recipe's)",
    )


def _add_fuse(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fuse",
        help="fuse the scores files of several runs",
        description="Z-normalise each scores file per (machine type, section) with the mean and std of its "
        "training-clip scores (out of fold, as `soundsentry score` writes them), then write the mean or the minimum "
        "over the files as one scores file for `soundsentry evaluate`.",
    )
    p.add_argument("scores", type=Path, nargs="+", help="scores files (path,anomaly_score) of runs on MANIFEST")
    p.add_argument("--manifest", type=Path, required=True, help="manifest the runs were scored on")
    p.add_argument("-o", "--out", type=Path, required=True, help="fused scores file to write")
    p.add_argument("--method", default="mean", choices=["mean", "min"], help="mean (default) or min of z-scores")


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run every stage of a recipe",
        description="prepare DATA -> train -> extract -> score (every scorer of the recipe) -> evaluate; prints the "
        "results table. Rerunning resumes training from the last checkpoint.",
    )
    _add_recipe_args(p)
    p.add_argument("--data", type=Path, required=True, help="data folder (any supported layout)")
    p.add_argument("--run-dir", type=Path, default=None, help="run folder (default runs/<recipe name>)")
    p.add_argument("--layout", default=None, help="layout name instead of auto-detection")


def _add_list(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("list", help="list registered components", description="Print every registry and its names.")


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the demo on the generated data set",
        description="Generate the default data set, score it with the reference detectors (mean log-mel 1-NN and "
        "log-mel window 1-NN), then train, extract, score and evaluate each demo recipe (the flagship and the official "
        "DCASE AE baseline by default; --recipe replaces them) and print one table of every detector. Everything goes "
        "under --out.",
    )
    p.add_argument("--out", type=Path, default=Path("demo"), help="working folder (default ./demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument(
        "--recipe",
        action="append",
        dest="recipes",
        help="a recipe to run; repeat for several (default: sentry_flagship_demo and dcase_ae_baseline_demo)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="soundsentry", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"soundsentry {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (
        _add_synth,
        _add_prepare,
        _add_reference,
        _add_train,
        _add_extract,
        _add_score,
        _add_evaluate,
        _add_fuse,
        _add_run,
        _add_list,
        _add_demo,
    ):
        add(sub)
    fit_cli.add_parser(sub)
    deploy_cli.add_parsers(sub)
    scenes_cli.add_parser(sub)
    return parser


def _dispatch(args: argparse.Namespace) -> None:
    from soundsentry import pipeline

    if args.command == "synth":
        pipeline.synth(
            args.out, seed=args.seed, scale=args.scale, seconds=args.seconds, sections=args.sections, force=args.force
        )
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
    elif args.command == "train":
        from soundsentry import stages
        from soundsentry.config import load_recipe

        recipe = load_recipe(args.recipe, args.overrides)
        stages.train(recipe, args.manifest, args.run_dir, resume=not args.no_resume)
    elif args.command == "extract":
        from soundsentry import stages

        stages.extract(args.run_dir)
    elif args.command == "score":
        from soundsentry import stages

        stages.score(args.run_dir, args.scorers or None)
    elif args.command == "fuse":
        from soundsentry.fusion import fuse

        fuse(args.scores, args.manifest, args.out, method=args.method)
    elif args.command == "run":
        from soundsentry import stages

        run_dir = args.run_dir or Path("runs") / Path(args.recipe).stem
        stages.run(args.recipe, args.data, run_dir, args.overrides, resume=not args.no_resume, layout=args.layout)
    elif args.command == "list":
        print(pipeline.list_components())
    elif args.command == "demo":
        recipes = args.recipes or pipeline.DEMO_RECIPES
        pipeline.demo(args.out, seed=args.seed, scale=args.scale, recipes=recipes)
    elif args.command == fit_cli.COMMAND:
        fit_cli.dispatch(args)
    elif args.command in deploy_cli.COMMANDS:
        deploy_cli.dispatch(args)
    elif args.command == scenes_cli.COMMAND:
        scenes_cli.dispatch(args)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"warning: {message}", file=sys.stderr if file is None else file)


def main(argv: Sequence[str] | None = None) -> int:
    warnings.showwarning = _one_line_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if not is_global_zero():  # a DDP worker process re-running this command: the launching process reports
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the worker process
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
