"""Deployment sub-commands of the ``soundsentry`` CLI: ``export``, ``score-dir``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from soundsentry.deploy.batch import BatchSummary

COMMANDS = ("export", "export-onnx", "score-dir", "serve", "report", "watch")
DESCRIPTION = """\
  export    bundle a trained run into a detector folder (model, fitted scorers, thresholds) for deployment
  export-onnx
            add ONNX embedding networks to a detector, verified against PyTorch (pip install 'soundsentry[onnx]')
  score-dir score every recording of a folder with a detector; CSV of scores, decisions and errors
  report    one self-contained HTML report of a run (results, ROC, histograms, embedding map, config)
  serve     HTTP scoring service for a detector (FastAPI + uvicorn; pip install 'soundsentry[serve]')
  watch     score recordings as they appear in a folder, each once; JSON-lines log, alarms on stdout
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
        "export-onnx",
        help="add ONNX embedding networks to a detector folder",
        description="Export each unit's embedding network (standardiser + backbone; input chunks (N, C, F, T) with "
        "a dynamic batch) to onnx/<unit>.onnx inside the detector, check onnxruntime's output against PyTorch's "
        "(refused above --tolerance) and record the files and checksums in detector.json. Then score with "
        "--backend onnx. Needs the onnx extra: pip install 'soundsentry[onnx]'.",
    )
    p.add_argument("detector", type=Path, help="detector folder written by `soundsentry export`")
    p.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="largest accepted |ONNX - PyTorch| / max(1, max |embedding|) (default 1e-4)",
    )
    p.add_argument("--opset", type=int, default=18, help="ONNX opset version (default 18)")

    p = sub.add_parser(
        "score-dir",
        help="score a folder of recordings with a detector",
        description="Score every recording under DIR (WAV, FLAC, OGG, MP3 ...) with the detector and write a CSV "
        "(path, machine_type, section, anomaly_score, threshold, decision, error, quality). Machine type and section "
        "come from the folder's layout, or from --machine-type / --section for a plain folder. A file that cannot be "
        "judged (undecodable, truncated, NaN, shorter than the detector's minimum, below its band, silent, clipped) "
        "or scored gets decision=error, the problem in the quality column and a one-line reason; the batch goes on. "
        "Rows are written as they are scored; the same command again resumes an interrupted batch.",
    )
    p.add_argument("detector", type=Path, help="detector folder written by `soundsentry export`")
    p.add_argument("dir", type=Path, help="folder of recordings")
    p.add_argument("-o", "--out", type=Path, required=True, help="results CSV")
    p.add_argument("--machine-type", default=None, help="machine type of every file (plain folder)")
    p.add_argument("--section", default=None, help="section / machine ID of every file (default 00)")
    p.add_argument("--layout", default=None, help="layout name instead of auto-detection")
    p.add_argument(
        "--domain",
        choices=("source", "target"),
        default=None,
        help="domain of every file: its threshold decides (default: from DCASE 2021-2025 file names, else the "
        "detector's domain-unknown threshold)",
    )
    _add_backend(p)

    p = sub.add_parser(
        "serve",
        help="HTTP scoring service for a detector",
        description="Serve a detector over HTTP: GET /health, GET /info, POST /score?machine_type=T&section=S with "
        "a WAV/FLAC clip as a raw body or one or more multipart file parts. Errors: 401 missing/wrong token, 404 "
        "unknown machine, 413 upload or clip too large, 415 unsupported content type, 422 bad audio, 504 timeout. "
        "Needs the serve extra: pip install 'soundsentry[serve]'.",
    )
    p.add_argument("detector", type=Path, help="detector folder written by `soundsentry export`")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1, local only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="file holding the API token clients must send as 'Authorization: Bearer <token>' (default: no token)",
    )
    p.add_argument("--max-upload-mb", type=float, default=32.0, help="largest request body in MiB (default 32)")
    p.add_argument("--max-seconds", type=float, default=60.0, help="longest clip in seconds (default 60)")
    p.add_argument("--timeout", type=float, default=30.0, help="longest scoring time per request in s (default 30)")
    p.add_argument("--workers", type=int, default=2, help="scoring threads (default 2)")
    _add_backend(p)

    p = sub.add_parser(
        "report",
        help="HTML report of a run",
        description="Write one self-contained HTML file about a run: the results tables, ROC curves per machine type "
        "and section, test score histograms of normal vs anomalous clips per domain with the gamma threshold, a "
        "t-SNE embedding map per model and the resolved config and training summary. Images are embedded.",
    )
    p.add_argument("run_dir", type=Path, help="run folder (after `soundsentry run`)")
    p.add_argument("-o", "--out", type=Path, required=True, help="HTML file to write")
    p.add_argument("--scorer", default=None, help="scorer whose scores the figures show (default: the recipe's first)")
    p.add_argument(
        "--false-alarm-rate", type=float, default=0.1, help="the histograms' gamma threshold is the 1 - rate quantile"
    )
    p.add_argument("--no-embedding-map", action="store_true", help="skip the t-SNE maps (the slowest part)")
    _add_watch_parser(sub)


def _add_watch_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "watch",
        help="score recordings as they appear in a folder",
        description="Poll DIR (recursively) for new recordings and score each once, as score-dir does, when its "
        "size is the same at two polls. Each result is appended to a JSON-lines log (path, time, machine_type, "
        "section, score, threshold, decision, reason), which is also the state: a restart does not score a logged "
        "file again. Each anomaly is printed as one line on stdout. Ctrl-C stops.",
    )
    p.add_argument("detector", type=Path, help="detector folder written by `soundsentry export`")
    p.add_argument("dir", type=Path, help="folder the recordings are written to")
    p.add_argument("--log", type=Path, default=None, help="JSON-lines log (default DIR/.soundsentry-watch.jsonl)")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between polls (default 5)")
    p.add_argument("--once", action="store_true", help="score the files present now and exit")
    p.add_argument("--machine-type", default=None, help="machine type of every file (plain folder)")
    p.add_argument("--section", default=None, help="section / machine ID of every file (default 00)")
    p.add_argument("--layout", default=None, help="layout name instead of auto-detection")
    p.add_argument(
        "--domain", choices=("source", "target"), default=None, help="domain of every file, as for score-dir"
    )
    _add_backend(p)


def _print_batch_notes(summary: BatchSummary) -> None:
    """What score-dir kept from an interrupted run and which files it could not decode, on stderr."""
    skipped = summary.skipped
    if summary.n_resumed:
        print(
            f"resumed: {summary.n_resumed} clip(s) already in {summary.out} kept (delete it to score them again)",
            file=sys.stderr,
        )
    for path in skipped[:10]:
        print(f"skipped {path}: a format the loader cannot decode; convert it to WAV or FLAC", file=sys.stderr)
    if len(skipped) > 10:
        print(f"skipped {len(skipped) - 10} more file(s) of such formats (rows with decision=error)", file=sys.stderr)


def _add_backend(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=("torch", "onnx"),
        default="torch",
        help="run the embedding network with PyTorch or with onnxruntime (needs `soundsentry export-onnx` and "
        "pip install 'soundsentry[onnx]'; default torch)",
    )


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
    elif args.command == "export-onnx":
        from soundsentry.deploy.onnx_export import export_onnx

        for unit in export_onnx(args.detector, tolerance=args.tolerance, opset=args.opset):
            print(
                f"{unit.unit}: {args.detector / unit.path} (max |ONNX - PyTorch| = {unit.max_abs_diff:.2g}, "
                f"relative {unit.max_rel_diff:.2g})"
            )
    elif args.command == "score-dir":
        from soundsentry.deploy.batch import check_out, score_dir
        from soundsentry.deploy.detector import Detector

        check_out(args.out)  # before the detector loads and long before anything is scored
        detector = Detector(args.detector, backend=args.backend)
        _, summary = score_dir(
            detector,
            args.dir,
            args.out,
            machine_type=args.machine_type,
            section=args.section,
            layout=args.layout,
            domain=args.domain,
            resume=True,
        )
        _print_batch_notes(summary)
        print(
            f"scored {summary.n_clips - summary.n_errors} of {summary.n_clips} clips: {summary.n_anomalies} "
            f"anomalous, {summary.n_errors} not scored (see the error and quality columns) -> {summary.out}"
        )
    elif args.command == "serve":
        from soundsentry.deploy.detector import Detector
        from soundsentry.deploy.service import read_token_file, require_serve_extra, serve

        require_serve_extra()
        if args.max_upload_mb <= 0 or args.max_seconds <= 0 or args.timeout <= 0:
            raise ConfigError("--max-upload-mb, --max-seconds and --timeout must be positive")
        token = read_token_file(args.token_file) if args.token_file is not None else None
        detector = Detector(args.detector, backend=args.backend)
        serve(
            detector,
            host=args.host,
            port=args.port,
            token=token,
            max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
            max_seconds=args.max_seconds,
            timeout_s=args.timeout,
            workers=args.workers,
        )
    elif args.command == "watch":
        from soundsentry.deploy.detector import Detector
        from soundsentry.deploy.watch import watch

        detector = Detector(args.detector, backend=args.backend)
        summary = watch(
            detector,
            args.dir,
            args.log,
            interval=args.interval,
            once=args.once,
            machine_type=args.machine_type,
            section=args.section,
            layout=args.layout,
            domain=args.domain,
        )
        print(summary.line(), file=sys.stderr)
    elif args.command == "report":
        from soundsentry.deploy.report import write_report

        rate = float(args.false_alarm_rate)
        if not 0.0 < rate < 1.0:
            raise ConfigError(f"--false-alarm-rate is a fraction in (0, 1), e.g. 0.05; got {args.false_alarm_rate}")
        out = write_report(
            args.run_dir, args.out, scorer=args.scorer, percentile=1.0 - rate, embedding_map=not args.no_embedding_map
        )
        print(f"report -> {out}")
