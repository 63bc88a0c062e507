"""Deployment speed: ``score-dir`` and the HTTP service, clips/s and latency per clip, PyTorch vs ONNX backend.

Scores a generated plain folder (noise clips of the detector's clip length, 16-bit WAV) with
:func:`soundsentry.deploy.score_dir` for each backend, after one warm-up pass; then starts the service (uvicorn on
127.0.0.1, a free port) for each backend and times one request at a time (latency) and ``--concurrency`` clients
at once (throughput), one clip per request as a raw WAV body. Prints Markdown tables. The detector needs its ONNX
files for the onnx rows (``soundsentry export-onnx DETECTOR``; the rows are skipped otherwise).

    .venv/bin/soundsentry export RUN -o /tmp/det && .venv/bin/soundsentry export-onnx /tmp/det
    .venv/bin/python bench/deploy_speed.py --detector /tmp/det --clips 100
"""

from __future__ import annotations

import argparse
import platform
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
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


def time_service(detector: Detector, folder: Path, machine_type: str, section: str, concurrency: int) -> tuple:
    """(median latency s of sequential requests, clips/s with ``concurrency`` clients) against a real uvicorn."""
    import httpx
    import uvicorn

    from soundsentry.deploy.service import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(create_app(detector), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    bodies = [p.read_bytes() for p in sorted(folder.glob("*.wav"))]
    url = f"http://127.0.0.1:{port}/score"
    params = {"machine_type": machine_type, "section": section}

    def post(body: bytes) -> float:
        start = time.perf_counter()
        r = httpx.post(url, params=params, content=body, headers={"content-type": "audio/wav"}, timeout=120)
        if r.status_code != 200:
            raise SystemExit(f"service answered {r.status_code}: {r.text}")
        return time.perf_counter() - start

    try:
        post(bodies[0])  # warm-up
        latency = float(np.median([post(b) for b in bodies]))
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(post, bodies))
        throughput = len(bodies) / (time.perf_counter() - start)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
    return latency, throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", type=Path, required=True, help="detector folder (with onnx/ for the onnx row)")
    parser.add_argument("--clips", type=int, default=100, help="clips in the generated folder (default 100)")
    parser.add_argument("--seconds", type=float, default=None, help="clip length (default: the recipe's, or 10 s)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per backend; the best is reported")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients for the service throughput")
    parser.add_argument("--no-service", action="store_true", help="time score-dir only")
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
        service_rows = []
        for detector in detectors:
            elapsed = time_backend(detector, folder, machine_type, section, args.repeat)
            rows.append((detector.backend, args.clips, elapsed))
            if not args.no_service:
                latency, throughput = time_service(detector, folder, machine_type, section, args.concurrency)
                service_rows.append((detector.backend, latency, throughput))
    print(
        f"score-dir on {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; {args.clips} clips of {seconds:g} s; recipe "
        f"{torch_detector.recipe.name}; best of {args.repeat}\n"
    )
    print("| backend | clips | seconds | clips/s | ms per clip |")
    print("|---|---:|---:|---:|---:|")
    for backend, n, elapsed in rows:
        print(f"| {backend} | {n} | {elapsed:.2f} | {n / elapsed:.1f} | {1000 * elapsed / n:.1f} |")
    if service_rows:
        print(f"\nservice (uvicorn, 127.0.0.1), one clip per request; throughput with {args.concurrency} clients\n")
        print("| backend | median latency ms | clips/s |")
        print("|---|---:|---:|")
        for backend, latency, throughput in service_rows:
            print(f"| {backend} | {1000 * latency:.1f} | {throughput:.1f} |")


if __name__ == "__main__":
    main()
