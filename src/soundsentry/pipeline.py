"""The stage functions the CLI calls: data and evaluation stages (synth, prepare, reference, evaluate; defined in
:mod:`soundsentry.data_stages`), the component listing and the demo.

Training stages (train, extract, score, run) are in :mod:`soundsentry.stages`. The CLI only calls these.

Every stage reads and writes files (manifest, scores, tables), so stages can be rerun or swapped one at a time.
The layers: ``data_stages`` <- ``stages`` <- ``pipeline`` (the demo runs both), so nothing below imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from soundsentry.data_stages import (  # noqa: F401  (the private helpers stay importable from here)
    _gamma_thresholds,
    _load_manifest,
    _read_any_scores,
    evaluate,
    prepare,
    reference,
    synth,
)

if TYPE_CHECKING:
    from soundsentry.evaluation.official import EvaluationResult


def list_components() -> str:
    """Every registry with its registered names, one block per kind, for both tasks (machine sounds and S5's
    scenes: its ``logmel_hpss`` front-end and ``asc_mobilenetv2`` / ``cp_resnet`` backbones share the registries)."""
    import soundsentry.backbones  # noqa: F401  (registration side effects)
    import soundsentry.data.layouts  # noqa: F401
    import soundsentry.frontends  # noqa: F401
    import soundsentry.heads  # noqa: F401
    import soundsentry.scenes.features  # noqa: F401
    import soundsentry.scenes.models  # noqa: F401
    import soundsentry.scorers  # noqa: F401
    from soundsentry.baselines.autoencoder import AUTOENCODERS
    from soundsentry.config import available_recipes
    from soundsentry.registry import BACKBONES, FRONTENDS, HEADS, LAYOUTS, SCORERS

    registries = (LAYOUTS, FRONTENDS, BACKBONES, HEADS)
    lines = [f"{reg.kind}s: {', '.join(reg.available()) or '(none)'}" for reg in registries]
    lines.append(f"autoencoders: {', '.join(AUTOENCODERS.available())} (the backbone of train.phase: autoencoder)")
    lines.append(f"scorers: {', '.join(SCORERS.available())} (spec: name:key=value,..., e.g. knn_cosine:k=10)")
    lines.append(f"recipes: {', '.join(available_recipes())} (or a recipe YAML file)")
    return "\n".join(lines)


DEMO_RECIPES = ("sentry_flagship_demo", "dcase_ae_baseline_demo")
DEMO_REFERENCES = ("logmel_1nn", "logmel_patch_1nn")


def demo(
    out: Path, *, seed: int = 0, scale: float = 1.0, recipes: Sequence[str] = DEMO_RECIPES
) -> dict[str, EvaluationResult]:
    """The README's demo: generate the default set, score it with the reference detectors, then train, extract,
    score and evaluate each demo recipe, and print one table of every detector's official score and AUCs.

    Returns:
        ``{detector label: EvaluationResult}``.
    """
    from soundsentry import stages
    from soundsentry.config import available_recipes

    out = Path(out)
    data = out / "data"
    synth(data, seed=seed, scale=scale)
    manifest = out / "manifest.jsonl"
    prepare(data, manifest, verbose=False)
    table: dict[str, EvaluationResult] = {}
    for detector in DEMO_REFERENCES:
        scores = out / f"scores_{detector}.csv"
        reference(manifest, scores, detector=detector)
        table[f"reference {detector}"] = evaluate(manifest, scores, out_dir=out / f"results_{detector}", verbose=False)
    known = set(available_recipes())
    for recipe in recipes:
        if recipe not in known and not Path(recipe).is_file():
            print(f"(skipping {recipe}: not a packaged recipe or file)")
            continue
        for name, result in stages.run(recipe, data, out / "runs" / Path(recipe).stem).items():
            table[f"{Path(recipe).stem}, {name}"] = result
    print()
    print(demo_table(table))
    return table


def demo_table(results: dict[str, EvaluationResult]) -> str:
    """A Markdown table: official score (the rule of the results) and harmonic-mean AUC source / target, pAUC."""
    from soundsentry.evaluation.official import Metric

    lines = ["| detector | official score | AUC (source) | AUC (target) | pAUC |", "|---|---|---|---|---|"]
    for label, r in results.items():
        h = r.overall.harmonic
        cells = [f"{100 * h[m]:.1f} %" if m in h else "-" for m in (Metric.AUC_SOURCE, Metric.AUC_TARGET, Metric.PAUC)]
        lines.append(f"| {label} | {100 * r.official_score:.1f} % ({r.rule.value} rule) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = ["DEMO_RECIPES", "demo", "demo_table", "evaluate", "list_components", "prepare", "reference", "synth"]
