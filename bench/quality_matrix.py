"""Quality matrix: every detector side by side on the same generated sets, two generator seeds each.

Each row is a detector; each set is ``soundsentry synth`` with one configuration and one seed. A row runs through
the CLI, exactly as a user would (``reference``, ``run``, ``score``, ``evaluate``), so what is measured is what
ships. Finished steps are reused (a run folder with its scores is not retrained), so the matrix can be filled in
over several invocations. Figures: official score under the 2022-2024 and the 2021 rules, AUC source / target
and pAUC (harmonic means over sections), per set, then the mean over seeds, and each row's wall time.

    .venv/bin/python bench/quality_matrix.py --work /tmp/qm --configs default --seeds 0 1 \
        --rows reference patch s1 s1_chunks
    .venv/bin/python bench/quality_matrix.py --work /tmp/qm --configs long --seeds 0 1 --rows reference patch

Rows (``--rows``; default all): see :data:`ROWS`. A row of a recipe trains it once per set and then scores the
same embeddings with several back-ends (``score`` stage, no retraining). ``flagship_ablation`` fills a second
table: the flagship with one design choice off at a time (a ``--set`` of the recipe or another back-end).

    .venv/bin/python bench/quality_matrix.py --work /tmp/qm --configs default --seeds 0 1 --rows flagship_ablation
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BIN = Path(sys.executable).parent / "soundsentry"
#: synth options of each data configuration.
CONFIGS = {"default": [], "long": ["--seconds", "10", "--sections", "4"]}


@dataclass(frozen=True)
class Row:
    """One detector: a reference detector, or a recipe trained once and scored with ``scorers``."""

    name: str
    reference: str | None = None
    recipe: str | None = None
    scorers: tuple[str, ...] = ()
    sets: tuple[str, ...] = field(default_factory=tuple)  # --set overrides of the recipe
    variant: str = ""  # with ``sets``: the run folder's suffix (another run of the same recipe)
    table: str = "main"  # which printed table the row belongs to ("main" or "ablation")

    @property
    def run_name(self) -> str:
        """The run folder: the recipe's name, plus the variant when ``--set`` overrides make it another run."""
        if self.sets and not self.variant:
            raise ValueError(f"row {self.name!r}: --set overrides need a variant (its own run folder)")
        return f"{self.recipe}__{self.variant}" if self.sets else str(self.recipe)


#: The flagship's first back-end (``sentry_flagship``'s ``score.scorers[0]``).
FLAGSHIP = (
    "chunks:inner=knn;k=1;metric=euclidean,pool=mean,normalise=domain,calibrate=extrapolate,shrink=4,blocks=2560,"
    "standardise=none/source"
)
#: The flagship's back-end on a learned run's chunk embeddings (cosine for margin-trained embeddings): one bank per
#: domain, each domain's scores z-normalised on leave-out training scores extrapolated to the full bank.
DOMAIN_CHUNKS = "chunks:inner=knn_cosine;k=1,pool=mean,normalise=domain,calibrate=extrapolate"


def _ablation(name: str, scorer: str = FLAGSHIP, sets: tuple[str, ...] = (), variant: str = "") -> Row:
    """A row of the flagship's ablation table: the flagship demo with another back-end or ``--set`` overrides."""
    return Row(name, recipe="sentry_flagship_demo", scorers=(scorer,), sets=sets, variant=variant, table="ablation")


ROWS = {
    "reference": [Row("reference logmel_1nn", reference="logmel_1nn")],
    "patch": [Row("reference logmel_patch_1nn", reference="logmel_patch_1nn")],
    "ae": [Row("dcase_ae_baseline", recipe="dcase_ae_baseline_demo", scorers=("ae_mse", "selective_mahalanobis"))],
    "s1": [
        Row(
            "S1 demo",
            recipe="s1_arcface_mfn_demo",
            scorers=(
                "knn_cosine:k=10",
                "mahalanobis",
                "chunks:inner=knn_cosine;k=1,pool=mean",
                "chunks:inner=kmeans_knn;n_centres=16,pool=mean",
                DOMAIN_CHUNKS,
            ),
        )
    ],
    "s2": [
        Row(
            "S2 demo",
            recipe="s2_vicreg_mobilenetv2_demo",
            scorers=("knn:k=1", "chunks:inner=knn;k=1,pool=mean", DOMAIN_CHUNKS),
        )
    ],
    "s3": [
        Row(
            "S3 demo",
            recipe="s3_scadacos_resnet_demo",
            scorers=(
                "domain_aware:source=gmm;init=centres;covariance_type=diag;rule=best_component,target=ocsvm",
                "chunks:inner=kmeans_knn;n_centres=16,pool=mean",
                DOMAIN_CHUNKS,
            ),
        )
    ],
    "s4": [
        Row(
            "S4 demo",
            recipe="s4_demo_arcface_integrated",
            scorers=("softmax_id", "chunks:inner=knn_cosine;k=1,pool=mean", DOMAIN_CHUNKS),
        )
    ],
    "flagship": [Row("flagship demo", recipe="sentry_flagship_demo")],
    # the flagship's first back-end only (the 10 s set: each back-end scores 1344 clips of 153 windows, 5 folds)
    "flagship_main": [Row("flagship demo", recipe="sentry_flagship_demo", scorers=(FLAGSHIP,))],
    # the flagship with one design choice off at a time (second table)
    "flagship_ablation": [
        _ablation("flagship (every choice on)"),
        _ablation(
            "- modulation part (log-mel windows only)",
            FLAGSHIP.replace(",blocks=2560,standardise=none/source", ""),
            sets=(
                "frontend={name: logmel, n_fft: 4096, hop_length: 1024, n_mels: 512, power: 2.0, scale: db}",
                "backbone.input_size=[512, 5]",
            ),
            variant="no_modulation",
        ),
        _ablation(
            "- standardised modulation part (its columns as they are)", FLAGSHIP.replace(",standardise=none/source", "")
        ),
        _ablation("- shrunk target scale (each domain's own)", FLAGSHIP.replace(",shrink=4", "")),
        _ablation(
            "- fine front-end (the AE baseline's 1024-point STFT, hop 512, 128 mels)",
            FLAGSHIP.replace("blocks=2560", "blocks=640"),
            sets=(
                "frontend.parts.0.n_fft=1024",
                "frontend.parts.0.hop_length=512",
                "frontend.parts.0.n_mels=128",
                "frontend.parts.1.frame_hop=512",
                "backbone.input_size=[288, 5]",
            ),
            variant="ae_frontend",
        ),
        _ablation(
            "- context (1 frame per window instead of 5)",
            FLAGSHIP.replace("blocks=2560", "blocks=512"),
            sets=("features.chunk_width=1", "backbone.input_size=[672, 1]"),
            variant="one_frame",
        ),
        _ablation("- extrapolated scale (leave-one-out scale)", FLAGSHIP.replace(",calibrate=extrapolate", "")),
        _ablation(
            "- per-domain banks (one bank, one distance over the whole window)",
            "chunks:inner=knn;k=1;metric=euclidean,pool=mean",
        ),
        _ablation(
            "- mean pooling (the clip's 90th percentile window)", FLAGSHIP.replace("pool=mean", "pool=quantile,q=0.9")
        ),
        _ablation("- Euclidean distance (cosine)", FLAGSHIP.replace("knn;k=1;metric=euclidean", "knn_cosine;k=1")),
    ],
}


def _run(cmd: list[str], log: Path) -> None:
    with open(log, "a", encoding="utf-8") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}; see {log}")


def _dataset(work: Path, config: str, seed: int, log: Path) -> Path:
    root = work / f"{config}_seed{seed}"
    if not (root / "manifest.jsonl").is_file():
        _run([str(BIN), "synth", str(root / "data"), "--seed", str(seed), *CONFIGS[config]], log)
        _run([str(BIN), "prepare", str(root / "data"), "-o", str(root / "manifest.jsonl")], log)
    return root


def _evaluate(manifest: Path, scores: Path) -> dict[str, float]:
    from soundsentry.data.manifest import read_manifest
    from soundsentry.evaluation.official import evaluate
    from soundsentry.evaluation.scores_io import read_scores

    clips = read_manifest(manifest)
    by_path = read_scores(scores)
    values = np.array([by_path.get(c.path, np.nan) for c in clips], dtype=float)
    r22, r21 = evaluate(clips, values, rule="2022"), evaluate(clips, values, rule="2021")
    h = {m.name: 100 * v for m, v in r22.overall.harmonic.items()}
    return {
        "official_2022": 100 * r22.official_score,
        "official_2021": 100 * r21.official_score,
        "auc_source": h["AUC_SOURCE"],
        "auc_target": h["AUC_TARGET"],
        "pauc": h["PAUC"],
    }


def _row_scores(row: Row, root: Path, log: Path) -> list[tuple[str, Path]]:
    """(label, scores file) of each back-end of ``row`` on the set in ``root``."""
    manifest = root / "manifest.jsonl"
    if row.reference:
        out = root / f"scores_{row.reference}.csv"
        if not out.is_file():
            _run([str(BIN), "reference", str(manifest), "-o", str(out), "--detector", row.reference], log)
        return [(row.name, out)]
    run_dir = root / "runs" / row.run_name
    sets = [a for s in row.sets for a in ("--set", s)]
    if not (run_dir / "embeddings.npz").is_file() and row.scorers:  # train and extract; only the row's back-ends score
        _run([str(BIN), "train", str(row.recipe), "--manifest", str(manifest), "--run-dir", str(run_dir), *sets], log)
        _run([str(BIN), "extract", str(run_dir)], log)
    elif not (run_dir / "embeddings.npz").is_file():  # the recipe's own back-ends, as `run` scores them
        _run([str(BIN), "run", str(row.recipe), "--data", str(root / "data"), "--run-dir", str(run_dir), *sets], log)
    from soundsentry.stages import scores_file_name

    out = []
    specs = list(row.scorers)
    missing = [s for s in specs if not (run_dir / "scores" / scores_file_name(s)).is_file()]
    if missing:
        _run([str(BIN), "score", str(run_dir), *[a for s in missing for a in ("--scorer", s)]], log)
    if not specs:  # the recipe's own scorers, as `run` wrote them
        return [(f"{row.name}, {p.stem}", p) for p in sorted((run_dir / "scores").glob("*.csv"))]
    return [(f"{row.name}, {s}", run_dir / "scores" / scores_file_name(s)) for s in specs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="folder for the sets, runs and results")
    parser.add_argument("--configs", nargs="+", default=["default"], choices=sorted(CONFIGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="generator seeds")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    log = args.work / "log.txt"
    results_file = args.work / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    for config in args.configs:
        for seed in args.seeds:
            root = _dataset(args.work, config, seed, log)
            for key in args.rows:
                for row in ROWS[key]:
                    start = time.perf_counter()
                    pairs = _row_scores(row, root, log)
                    seconds = time.perf_counter() - start
                    for label, path in pairs:
                        table = config if row.table == "main" else f"{config} {row.table}"
                        entry = results.setdefault(table, {}).setdefault(label, {})
                        entry[str(seed)] = {**_evaluate(root / "manifest.jsonl", path), "seconds": seconds}
                    results_file.write_text(json.dumps(results, indent=1))
    cols = ("official_2022", "official_2021", "auc_source", "auc_target", "pauc")
    print(f"machine: {platform.processor() or platform.machine()}, {platform.python_version()}")
    for table, rows in results.items():
        config = table.split()[0]
        print(f"\n### {table} (synth {' '.join(CONFIGS[config]) or 'defaults'}), mean over seeds (per-seed range)\n")
        print("| detector | seeds | " + " | ".join(cols) + " | wall s (last row run) |")
        print("|---" * (len(cols) + 3) + "|")
        for label, per_seed in rows.items():
            cells = []
            for col in cols:
                values = [v[col] for v in per_seed.values()]
                cells.append(f"{np.mean(values):.1f} ({min(values):.1f}-{max(values):.1f})")
            wall = max(v["seconds"] for v in per_seed.values())
            print(f"| {label} | {','.join(per_seed)} | " + " | ".join(cells) + f" | {wall:.0f} |")


if __name__ == "__main__":
    main()
