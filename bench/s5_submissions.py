"""S5 quality: the four submissions of the document's section 7 side by side on a generated scene set.

Generates the scene set (unless it exists), runs each demo recipe (``soundsentry scenes run``; a finished run is
reused) and prints one Markdown table: accuracy and log-loss without and with test-time augmentation, the
accuracy on the evaluation-only device, and the model size in float16 bytes against the 128 kB budget.

    .venv/bin/python bench/s5_submissions.py --work /tmp/s5bench
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from soundsentry.scenes.config import load_scene_recipe
from soundsentry.scenes.run import run_scene_recipe
from soundsentry.scenes.synth import SceneSynthConfig, synth_scenes

RECIPES = [
    "s5_asc_mobilenetv2_focal_demo",
    "s5_asc_mobilenetv2_arcface_demo",
    "s5_asc_cpresnet_focal_demo",
    "s5_asc_cpresnet_arcface_demo",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="folder for the data set and the runs")
    parser.add_argument("--scenes", type=int, default=10)
    parser.add_argument("--clips", type=int, default=4, help="clips per (scene, city, device)")
    parser.add_argument("--devices", default="a,b,c,s1,s2")
    parser.add_argument("--eval-only-devices", default="s2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recipes", nargs="*", default=RECIPES)
    args = parser.parse_args()

    data = args.work / "data"
    unseen = tuple(d for d in args.eval_only_devices.split(",") if d)
    if not (data / "meta.csv").is_file():
        config = SceneSynthConfig(
            n_scenes=args.scenes,
            clips_per_group=args.clips,
            devices=tuple(args.devices.split(",")),
            evaluate_devices_only=unseen,
            seed=args.seed,
        )
        synth_scenes(data, config)
    rows = []
    for name in args.recipes:
        run_dir = args.work / name
        start = time.perf_counter()
        summary = run_scene_recipe(load_scene_recipe(name), data, run_dir, log=lambda _msg: None)
        rows.append((name, summary, time.perf_counter() - start))

    print(
        f"S5 demo recipes on {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; scene set: {args.scenes} scenes, {args.clips} clips per (scene, city, "
        f"device), devices {args.devices} ({','.join(unseen) or 'none'} in evaluation only), seed {args.seed}\n"
    )
    dev = unseen[0] if unseen else None
    head = "| recipe | size (bytes) | acc | log-loss | acc TTA | log-loss TTA |"
    print(head + (f" acc {dev} (TTA) |" if dev else "") + " wall s |")
    print("|---|---:|---:|---:|---:|---:|" + ("---:|" if dev else "") + "---:|")
    for name, s, wall in rows:  # wall: the whole run (features, four stages, ONNX, reports); 0 when reused
        plain, tta = s["no_tta"], s["tta"]
        cells = [
            name,
            f"{s['size_bytes']:,}",
            f"{100 * plain['accuracy']:.2f} %",
            f"{plain['log_loss']:.3f}",
            f"{100 * tta['accuracy']:.2f} %",
            f"{tta['log_loss']:.3f}",
        ]
        if dev:
            cells.append(f"{100 * tta['per_device'].get(dev, float('nan')):.2f} %")
        cells.append(f"{wall:.0f}")
        print("| " + " | ".join(cells) + " |")
    print("\n" + json.dumps({name: s["size_bytes"] for name, s, _ in rows}))


if __name__ == "__main__":
    main()
