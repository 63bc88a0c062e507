"""``soundsentry scenes run``: a scene recipe end to end on a data folder.

Run folder::

    recipe.yaml                 the resolved recipe (a rerun with another recipe in the same folder is refused)
    features/features.npz       cached features (originals, augmented copies, evaluation waveforms)
    stage<k>_<kind>/            best.pt, last.pt, done.json per stage (resumable)
    model.pt                    the final classifier (body + top) with its class list
    model.onnx                  float16 ONNX export (inference.export_onnx), verified against PyTorch
    report/no_tta/, report/tta/ metrics.json, per_class.csv, devices.csv, confusion.csv, confusion.png
    summary.json                accuracy and log-loss with and without TTA, size in bytes, the submitted mode
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from soundsentry.errors import ConfigError
from soundsentry.io import atomic_output, atomic_write_text
from soundsentry.registry import BACKBONES
from soundsentry.scenes.augment import temporal_shuffle
from soundsentry.scenes.config import SceneRecipe, dump_scene_recipe, resolve_device
from soundsentry.scenes.models import SceneClassifier, check_size
from soundsentry.scenes.prepare import SceneData, build_frontend, prepare_scene_data, to_tensor, tta_features
from soundsentry.scenes.report import format_summary, softmax, tta_probabilities, write_scene_report
from soundsentry.scenes.train import SceneModel, predict_logits, run_stage


def _without_device(recipe: dict[str, Any]) -> dict[str, Any]:
    # Where it runs is no part of what a run is: a run started on a GPU resumes on a CPU and back.
    return {**recipe, "train": {k: v for k, v in recipe.get("train", {}).items() if k != "device"}}


def _check_run_dir(recipe: SceneRecipe, run_dir: Path) -> None:
    saved = run_dir / "recipe.yaml"
    if saved.is_file():
        if _without_device(yaml.safe_load(saved.read_text(encoding="utf-8"))) != _without_device(recipe.to_dict()):
            raise ConfigError(
                f"{run_dir} holds a run of another recipe (see {saved}); choose a new --run-dir or delete the folder"
            )
    else:
        dump_scene_recipe(recipe, saved)


def _onnx_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))


def holdout_indices(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices of a seeded ``fraction`` of each class's clips (at least one, never all of a class), sorted."""
    rng = np.random.default_rng([seed, 7919])
    picked = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        n = min(max(1, round(fraction * members.size)), members.size - 1)
        picked.extend(rng.permutation(members)[:n].tolist())
    return np.sort(np.array(picked, dtype=int))


def stage_inputs(
    data: SceneData, balanced: bool, augment: bool, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Training features and ids of a stage: the balanced subset or all clips, with or without augmented copies,
    without the clips in ``exclude`` (the held-out selection clips)."""
    idx = data.balanced if balanced else np.arange(len(data.train))
    if exclude is not None and exclude.size:
        idx = idx[~np.isin(idx, exclude)]
    copies = data.x_train[:, idx] if augment else data.x_train[:1, idx]
    x = copies.reshape((-1,) + copies.shape[2:])
    y = np.tile(data.y_train[idx], copies.shape[0])
    return x, y


def evaluate_model(model: SceneModel, recipe: SceneRecipe, data: SceneData, out_dir: Path) -> dict[str, Any]:
    """Reports without and with test-time augmentation; returns their accuracy and log-loss."""
    device = resolve_device(recipe.train.device)
    devices = [c.device or "unknown" for c in data.evaluate]
    logits = predict_logits(model, to_tensor(data.x_eval, device)).cpu().numpy()
    results = {"no_tta": write_scene_report(out_dir / "no_tta", softmax(logits), data.y_eval, data.classes, devices)}
    copies = tta_features(recipe, build_frontend(recipe), data.wave_eval, data.sample_rate, recipe.inference.tta_copies)
    rng = np.random.default_rng([recipe.seed, 104729])
    copy_logits = []
    for x in copies:
        xt = to_tensor(x, device)
        if recipe.augment.temporal_shuffle:
            xt = temporal_shuffle(xt, rng)
        copy_logits.append(predict_logits(model, xt).cpu().numpy())
    prob = tta_probabilities(np.stack(copy_logits))
    results["tta"] = write_scene_report(out_dir / "tta", prob, data.y_eval, data.classes, devices)
    return results


def run_scene_recipe(
    recipe: SceneRecipe, data_root: str | Path, run_dir: str | Path, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Prepare, train every stage, check the size budget, export and report; returns the summary.

    Raises:
        ConfigError: the model is over ``train.budget_bytes`` (checked before and after training), or the run
            folder holds another recipe.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _check_run_dir(recipe, run_dir)
    torch.manual_seed(recipe.seed)
    body = BACKBONES.create(recipe.backbone.name, **recipe.backbone.kwargs)
    budget = recipe.train.budget_bytes
    data = prepare_scene_data(recipe, data_root, run_dir / "features")
    device = resolve_device(recipe.train.device)
    model = SceneModel(SceneClassifier(body, len(data.classes), recipe.train.hidden).to(device))
    check_size(model.classifier, budget)
    log(
        f"{recipe.name}: {len(data.train)} training clips ({len(data.balanced)} balanced), "
        f"{len(data.evaluate)} evaluation clips, {len(data.classes)} scenes, features {data.x_eval.shape[1:]}, "
        f"on {device}"
    )
    eval_x, eval_y = to_tensor(data.x_eval, device), torch.as_tensor(data.y_eval, device=device)
    held = None
    select_x, select_y = eval_x, eval_y
    if recipe.train.select_on == "holdout":
        held = holdout_indices(data.y_train, recipe.train.holdout_fraction, recipe.seed)
        select_x = to_tensor(data.x_train[0, held], device)
        select_y = torch.as_tensor(data.y_train[held], device=device)
        log(f"best epochs chosen on {held.size} held-out training clips (train.select_on: holdout)")
    else:
        log("best epochs chosen on the evaluation split (train.select_on: evaluate): the accuracy is optimistic")
    stages = []
    for i, stage in enumerate(recipe.stages, start=1):
        x, y = stage_inputs(data, stage.balanced, stage.augment, exclude=held)
        info = run_stage(
            model,
            stage,
            i,
            recipe,
            to_tensor(x, device),
            torch.as_tensor(y, device=device),
            select_x,
            select_y,
            run_dir / f"stage{i}_{stage.kind}",
            log,
        )
        stages.append(info)
    size = check_size(model.classifier, budget)
    with atomic_output(run_dir / "model.pt") as tmp:
        torch.save(
            {"state_dict": model.classifier.state_dict(), "classes": data.classes, "recipe": recipe.to_dict()}, tmp
        )
    if recipe.inference.export_onnx and not _onnx_available():
        log("ONNX export skipped: onnx / onnxruntime are not installed (pip install 'soundsentry[onnx]')")
    elif recipe.inference.export_onnx:
        from soundsentry.scenes.export import export_onnx_fp16, verify_onnx

        example = eval_x[:2].cpu()
        path = export_onnx_fp16(model.classifier.cpu(), example, run_dir / "model.onnx")
        diff = verify_onnx(model.classifier, path, eval_x[:8].cpu())
        log(f"ONNX float16 export -> {path} (max |ONNX - PyTorch| = {diff:.2e})")
        model.classifier.to(device)
    results = evaluate_model(model, recipe, data, run_dir / "report")
    summary = {
        "recipe": recipe.name,
        "size_bytes": size,
        "budget_bytes": budget,
        "submitted": "tta" if recipe.inference.tta else "no_tta",
        "selected_on": recipe.train.select_on,
        "stages": stages,
        **{
            mode: {"accuracy": r.accuracy, "log_loss": r.log_loss, "per_device": r.per_device}
            for mode, r in results.items()
        },
    }
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    log(format_summary(recipe.name, results, size))
    return summary
