"""The stage functions the CLI calls: data and evaluation stages (synth, prepare, reference, evaluate; defined in
:mod:`soundsentry.data_stages`), the component listing and the demo.

Training stages (train, extract, score, run) are in :mod:`soundsentry.stages`. The CLI only calls these.

Every stage reads and writes files (manifest, scores, tables), so stages can be rerun or swapped one at a time.
The layers: ``data_stages`` <- ``stages`` <- ``pipeline`` (the demo runs both), so nothing below imports this module.
"""

from __future__ import annotations

from pathlib import Path

from soundsentry.data_stages import (  # noqa: F401  (the private helpers stay importable from here)
    _gamma_thresholds,
    _load_manifest,
    _read_any_scores,
    evaluate,
    prepare,
    reference,
    synth,
)


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
    from soundsentry.config import available_recipes
    from soundsentry.registry import BACKBONES, FRONTENDS, HEADS, LAYOUTS, SCORERS

    lines = [f"{reg.kind}s: {', '.join(reg.available()) or '(none)'}" for reg in (LAYOUTS, FRONTENDS, BACKBONES, HEADS)]
    lines.append(f"scorers: {', '.join(SCORERS.available())} (spec: name:key=value,..., e.g. knn_cosine:k=10)")
    lines.append(f"recipes: {', '.join(available_recipes())} (or a recipe YAML file)")
    return "\n".join(lines)


def demo(out: Path, *, seed: int = 0, scale: float = 1.0, recipe: str = "s1_arcface_mfn_demo"):
    """The README's demo: generate the default set, score it with the reference detector, then train, extract,
    score and evaluate the demo-scale S1 recipe, and print both official scores."""
    from soundsentry import stages

    out = Path(out)
    data = out / "data"
    synth(data, seed=seed, scale=scale)
    manifest = out / "manifest.jsonl"
    prepare(data, manifest, verbose=False)
    reference(manifest, out / "scores_logmel_1nn.csv", detector="logmel_1nn")
    ref = evaluate(manifest, out / "scores_logmel_1nn.csv", out_dir=out / "results_reference", verbose=False)
    results = stages.run(recipe, data, out / "run")
    print(f"\nofficial score ({ref.rule.value} rule): reference logmel_1nn {100 * ref.official_score:.2f} %")
    for name, result in results.items():
        print(f"official score ({result.rule.value} rule): {recipe} {name} {100 * result.official_score:.2f} %")
    return results


__all__ = ["demo", "evaluate", "list_components", "prepare", "reference", "synth"]
