"""Deployment speed: ``score-dir`` clips/s and latency per clip with the PyTorch and the ONNX backend (CPU).

Scores a generated plain folder (noise clips of the detector's clip length, 16-bit WAV) with
:func:`soundsentry.deploy.score_dir` for each backend, after one warm-up pass, and prints a Markdown table. The
detector needs its ONNX files for the onnx row (``soundsentry export-onnx DETECTOR``; the row is skipped
otherwise).

    .venv/bin/soundsentry export RUN -o /tmp/det && .venv/bin/soundsentry export-onnx /tmp/det
    .venv/bin/python bench/deploy_speed.py --detector /tmp/det --clips 100
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from soundsentry.data.audio import write_audio
from soundsentry.deploy import Detector, score_dir


def make_clips(folder: Path, n: int, seconds: float, rate: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        write_audio(
            folder / f"clip{i:04d}.wav", (0.1 * rng.standard_normal(int(seconds * rate))).astype(np.float32), rate
        )


def time_backend(detector: Detector, folder: Path, machine_type: str, section: str, repeat: int) -> float:
    """Best wall time over ``repeat`` passes of score-dir (after a warm-up pass)."""
    out = folder.parent / f"{detector.backend}.csv"
    score_dir(detector, folder, out, machine_type=machine_type, section=section, progress=False)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        _, summary = score_dir(detector, folder, out, machine_type=machine_type, section=section, progress=False)
        best = min(best, time.perf_counter() - start)
        if summary.n_errors:
            raise SystemExit(f"{summary.n_errors} clips failed to score; see {out}")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", type=Path, required=True, help="detector folder (with onnx/ for the onnx row)")
    parser.add_argument("--clips", type=int, default=100, help="clips in the generated folder (default 100)")
    parser.add_argument("--seconds", type=float, default=None, help="clip length (default: the recipe's, or 10 s)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per backend; the best is reported")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    rows = []
    torch_detector = Detector(args.detector)
    machine_type, section = sorted(torch_detector.groups)[0]
    seconds = args.seconds or torch_detector.recipe.features.clip_seconds or 10.0
    with tempfile.TemporaryDirectory(prefix="deploy-speed-") as tmp:
        folder = Path(tmp) / "clips"
        make_clips(folder, args.clips, seconds, torch_detector.sample_rate)
        detectors = [torch_detector]
        if "onnx" in torch_detector.meta:
            detectors.append(Detector(args.detector, backend="onnx"))
        for detector in detectors:
            elapsed = time_backend(detector, folder, machine_type, section, args.repeat)
            rows.append((detector.backend, args.clips, elapsed))
    print(
        f"score-dir on {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; {args.clips} clips of {seconds:g} s; recipe "
        f"{torch_detector.recipe.name}; best of {args.repeat}\n"
    )
    print("| backend | clips | seconds | clips/s | ms per clip |")
    print("|---|---:|---:|---:|---:|")
    for backend, n, elapsed in rows:
        print(f"| {backend} | {n} | {elapsed:.2f} | {n / elapsed:.1f} | {1000 * elapsed / n:.1f} |")


if __name__ == "__main__":
    main()
