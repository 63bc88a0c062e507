"""The ``model.pt`` format: what a trained unit leaves for extraction, scoring and export, and how it is read back.

A ``model.pt`` is a ``torch.save`` dict::

    format             MODEL_FORMAT (1)
    unit               machine type, or "all"
    classes            the class map (a class's index is its position)
    chunk_shape        [C, F, W] of the network input
    recipe             the resolved recipe (``Recipe.to_dict()``)
    checkpoint         the Lightning checkpoint the weights came from, relative to the unit folder
    state_dict         standardiser + backbone (:class:`~soundsentry.training.module.EmbeddingModel`)
    head_state_dict    the classification head ({} when there is none, e.g. after pre-training only)

S2's pre-training adds ``expander_state_dict`` (:mod:`soundsentry.training.pretrain`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from soundsentry.config import ComponentSpec, Recipe, recipe_from_dict
from soundsentry.errors import DataError
from soundsentry.io import atomic_output
from soundsentry.training.features import check_backbone_input
from soundsentry.training.module import EmbeddingModel

MODEL_FILE = "model.pt"
MODEL_FORMAT = 1


def build_embedding_model(recipe: Recipe, shape: tuple[int, int, int]) -> EmbeddingModel:
    """An untrained standardiser + backbone for chunks of ``shape`` = (C, F, W); checks the backbone fits them."""
    import soundsentry.backbones  # noqa: F401  (registration)
    from soundsentry.frontends import Standardizer
    from soundsentry.registry import BACKBONES

    backbone = BACKBONES.create(recipe.backbone.name, **recipe.backbone.kwargs)
    check_backbone_input(recipe, shape, backbone)
    mode = recipe.features.standardize
    standardizer = None if mode == "none" else Standardizer(per_bin=mode == "per_bin")
    return EmbeddingModel(backbone, standardizer)


def build_head(spec: ComponentSpec, embed_dim: int, num_classes: int) -> torch.nn.Module:
    """The recipe's head for ``embed_dim``-wide embeddings and ``num_classes`` classes."""
    import soundsentry.heads  # noqa: F401  (registration)
    from soundsentry.registry import HEADS

    return HEADS.create(spec.name, embed_dim=embed_dim, num_classes=num_classes, **spec.kwargs)


def model_meta(unit: str, classes: list[str], shape: tuple[int, int, int], recipe: Recipe, checkpoint: str) -> dict:
    """Every ``model.pt`` entry but the weights."""
    return {
        "format": MODEL_FORMAT,
        "unit": unit,
        "classes": classes,
        "chunk_shape": list(shape),
        "recipe": recipe.to_dict(),
        "checkpoint": checkpoint,
    }


def _cpu_state(module: torch.nn.Module | None) -> dict[str, torch.Tensor]:
    return {} if module is None else {k: v.detach().cpu() for k, v in module.state_dict().items()}


def save_model(
    path: Path,
    model: torch.nn.Module,
    head: torch.nn.Module | None,
    meta: dict[str, Any],
    **extra: torch.nn.Module,
) -> None:
    """Write ``path`` atomically: ``meta`` (:func:`model_meta`), the model's and the head's weights, and the weights
    of every ``extra`` module under ``<name>_state_dict`` (the pre-training's expander)."""
    payload = {
        **meta,
        "state_dict": _cpu_state(model),
        "head_state_dict": _cpu_state(head),
        **{f"{name}_state_dict": _cpu_state(module) for name, module in extra.items()},
    }
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)


def _load_payload(path: str | os.PathLike[str]) -> Any:
    """``torch.load`` of a ``model.pt``; a truncated or damaged file is one :class:`DataError` line naming it."""
    import pickle
    import zipfile

    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, pickle.UnpicklingError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(
            f"{path} is damaged or incomplete ({reason}); delete it and rerun `soundsentry train` with the same "
            "options (the unit is rebuilt from its last.ckpt)"
        ) from None


def read_model_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The payload of a ``model.pt``, checked to be one."""
    payload = _load_payload(path)
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise DataError(f"{path}: not a soundsentry model file (format {MODEL_FORMAT}); retrain with `train`")
    return payload


def load_head(path: str | os.PathLike[str], embed_dim: int) -> tuple[torch.nn.Module, list[str]] | None:
    """The trained classification head of a ``model.pt`` (eval mode) for ``embed_dim``-wide embeddings and its
    class map; None if the head has no ``logits``."""
    payload = read_model_file(path)
    recipe = recipe_from_dict(payload["recipe"], str(path))
    state = payload["head_state_dict"]
    if not state:  # no trained head (a flatten patch bank, or pre-training only)
        return None
    head = build_head(recipe.head, embed_dim, len(payload["classes"]))
    head.load_state_dict(state)
    if not hasattr(head, "logits"):
        return None
    return head.eval(), list(payload["classes"])


def load_embedding_model(path: str | os.PathLike[str]) -> tuple[EmbeddingModel, dict[str, Any]]:
    """The trained standardiser + backbone of a ``model.pt`` (in eval mode) and the file's metadata."""
    payload = read_model_file(path)
    recipe = recipe_from_dict(payload["recipe"], str(path))
    model = build_embedding_model(recipe, tuple(payload["chunk_shape"]))  # type: ignore[arg-type]
    model.load_state_dict(payload["state_dict"])
    meta = {k: v for k, v in payload.items() if k not in ("state_dict", "head_state_dict")}
    return model.eval(), meta
