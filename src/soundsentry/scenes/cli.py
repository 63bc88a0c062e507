"""The ``soundsentry scenes`` command group: ``synth`` and ``run`` for acoustic scene classification (S5)."""

from __future__ import annotations

import argparse
from pathlib import Path

from soundsentry.cli_args import add_set_option

COMMAND = "scenes"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``soundsentry scenes {synth,run}``; the parsed arguments carry ``scenes_func``."""
    p = sub.add_parser(
        COMMAND,
        help="acoustic scene classification (S5): generated data, four-stage ArcFace training, report",
        description="Acoustic scene classification under a 128 kB model budget (DCASE 2021 Task 1A, recipe S5).",
    )
    p.set_defaults(scenes_func=lambda args: p.print_help())
    scenes = p.add_subparsers(dest="scenes_command", metavar="SUBCOMMAND")

    s = scenes.add_parser(
        "synth",
        help="generate a stand-in scene set in the TAU 2020 Mobile layout",
        description="Write scenes x cities x devices clips with a device-dependent colouring (so the device shift is "
        "real), meta.csv and evaluation_setup/fold1_{train,evaluate}.csv. Deterministic by seed.",
    )
    s.add_argument("out", type=Path, help="output folder")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--scenes", type=int, default=4, help="scene classes, at most 10 (default 4)")
    s.add_argument("--clips", type=int, default=4, help="clips per (scene, city, device) (default 4)")
    s.add_argument("--seconds", type=float, default=1.0, help="clip length in seconds (default 1; TAU: 10)")
    s.add_argument("--devices", default="a,b,c,s1", help="comma-separated devices (default a,b,c,s1)")
    s.add_argument("--eval-only-devices", default="", help="devices only in the evaluation split, e.g. s2")
    s.set_defaults(scenes_func=_synth)

    r = scenes.add_parser(
        "run",
        help="train a scene recipe's stages and write its report",
        description="Parse DATA (TAU 2020 Mobile layout or <class>/<file>.wav), compute the features, train every "
        "stage of RECIPE (resumable), check the 128 kB budget, export to ONNX (float16) and report accuracy, "
        "log-loss, per-class and device-wise accuracy and the confusion matrix, with and without TTA.",
    )
    r.add_argument("recipe", help="recipe YAML or packaged name, e.g. s5_asc_mobilenetv2_arcface_demo")
    r.add_argument("--data", type=Path, required=True, help="data folder")
    r.add_argument("--run-dir", type=Path, default=None, help="output folder (default runs/<recipe name>)")
    add_set_option(r, "--set stages.0.epochs=2 --set inference.tta=false")
    r.set_defaults(scenes_func=_run)


def _synth(args: argparse.Namespace) -> None:
    from soundsentry.scenes.synth import SceneSynthConfig, synth_scenes

    config = SceneSynthConfig(
        n_scenes=args.scenes,
        clips_per_group=args.clips,
        seconds=args.seconds,
        devices=tuple(d for d in args.devices.split(",") if d),
        evaluate_devices_only=tuple(d for d in args.eval_only_devices.split(",") if d),
        seed=args.seed,
    )
    print(f"scene set -> {synth_scenes(args.out, config)}")


def _run(args: argparse.Namespace) -> None:
    from soundsentry.scenes.config import load_scene_recipe
    from soundsentry.scenes.run import run_scene_recipe

    recipe = load_scene_recipe(args.recipe, args.overrides)
    run_scene_recipe(recipe, args.data, args.run_dir or Path("runs") / recipe.name)


def dispatch(args: argparse.Namespace) -> None:
    """Run the parsed ``scenes`` sub-command."""
    args.scenes_func(args)
