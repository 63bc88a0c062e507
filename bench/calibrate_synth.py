"""Calibrate the generated benchmark: the two reference detectors must not solve it.

Generates a set (timed), prepares it, scores it with the toolkit's reference detectors and evaluates with the
official DCASE 2022-2024 rule (the same stages as ``soundsentry synth | prepare | reference | evaluate``):

* ``rms``: the clip's RMS energy; must sit near chance (AUC ~0.5);
* ``logmel_1nn``: mean log-mel (128 mels, n_fft 1024, hop 512, dB), Euclidean 1-NN to the training clips of the
  same type and section; must be clearly imperfect, especially in the target domain.

Prints a markdown table per machine type (arithmetic mean over sections) and overall, plus the generation time::

    .venv/bin/python bench/calibrate_synth.py --out /tmp/synth --seed 0
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from soundsentry import pipeline
from soundsentry.data.synth import DEFAULT_SECONDS, generate
from soundsentry.evaluation import Metric

COLUMNS = (Metric.AUC_SOURCE, Metric.AUC_TARGET, Metric.PAUC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="working folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    args = parser.parse_args()

    start = time.perf_counter()
    summary = generate(args.out / "data", seed=args.seed, scale=args.scale, seconds=args.seconds, force=True)
    gen_s = time.perf_counter() - start
    manifest = args.out / "manifest.jsonl"
    pipeline.prepare(args.out / "data", manifest, verbose=False)

    results = {}
    for detector in ("rms", "logmel_1nn"):
        scores = args.out / f"scores_{detector}.csv"
        pipeline.reference(manifest, scores, detector=detector)
        results[detector] = pipeline.evaluate(manifest, scores, verbose=False)

    head = " | ".join(f"{d} {m.value}" for d in results for m in COLUMNS)
    print(f"| machine type | {head} |")
    print("|---" * (1 + len(results) * len(COLUMNS)) + "|")
    types = [s.machine_type for s in results["rms"].per_type]
    for i, machine in enumerate([*types, None]):
        cells = []
        for result in results.values():
            summ = result.per_type[i] if machine is not None else result.overall
            cells += [f"{100 * summ.arithmetic[m]:.1f}" for m in COLUMNS]
        print(f"| {machine or '**all (arithmetic mean)**'} | {' | '.join(cells)} |")
    official = ", ".join(f"{d} {100 * r.official_score:.1f} %" for d, r in results.items())
    print(f"\nofficial score (hmean, 2022-2024 rule): {official}")
    print(
        f"generated {summary.n_files} clips of {args.seconds} s in {gen_s:.1f} s (seed {args.seed}, scale {args.scale})"
    )


if __name__ == "__main__":
    main()
