"""``soundsentry export-onnx DETECTOR``: the bundle's embedding networks as ONNX, verified against PyTorch.

Each unit's standardiser + backbone becomes ``onnx/<unit>.onnx`` inside the bundle: input ``chunks`` (N, C, F, T)
float32 with a dynamic batch N, output ``embeddings`` (N, D). The export step runs the ONNX model with
onnxruntime (CPU provider) on random chunks of two batch sizes and refuses, leaving the bundle unchanged, when the
largest difference to PyTorch, relative to ``max(1, max |embedding|)``, exceeds the tolerance. ``detector.json``
then gains an ``onnx`` entry per unit (file, opset, the measured differences) and the files' checksums, written
atomically, so ``Detector(path, backend="onnx")`` loads them.

The front-end (STFT / log-mel, chunking) stays in PyTorch: torch's exporter does translate it (opset 18 STFT; the
chunk values agree to ~1e-3 dB), but it runs in a fraction of the time of the network and keeping one
implementation avoids a second source of front-end drift.

Needs the ``onnx`` extra (``onnx``, ``onnxscript``, ``onnxruntime``); the torch backend does not.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from soundsentry.deploy.bundle import BUNDLE_FILE, _sha256, read_bundle_meta
from soundsentry.errors import ConfigError, DataError
from soundsentry.io import atomic_write_text

ONNX_DIR = "onnx"
DEFAULT_TOLERANCE = 1e-4
INSTALL_HINT = "ONNX export and the onnx backend need onnx, onnxscript and onnxruntime: pip install 'soundsentry[onnx]'"


def require_onnx(*, export: bool = False) -> None:
    """Raise a one-line :class:`ConfigError` with the install command when the ``onnx`` extra is missing."""
    names = ("onnxruntime", "onnx", "onnxscript") if export else ("onnxruntime",)
    for name in names:
        try:
            __import__(name)
        except ImportError:
            raise ConfigError(f"{INSTALL_HINT} (missing: {name})") from None


class _ExportGraph(nn.Module):
    """Standardiser + backbone with the statistics as constants: the graph torch.export traces.

    The training module's standardiser checks ``count > 0`` in ``forward``, a data-dependent branch the exporter
    cannot trace; the check is done here once, before export.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.backbone = model.backbone
        standardizer = model.standardizer
        if isinstance(standardizer, nn.Identity):
            mean, std = torch.zeros(()), torch.ones(())
        else:
            if not standardizer.fitted:
                raise DataError("the model's standardiser is not fitted; the bundle is damaged, export it again")
            mean, std = standardizer.mean.detach().float(), standardizer.std.detach().float()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, chunks: Tensor) -> Tensor:
        return self.backbone((chunks - self.mean) / self.std)


@dataclass(frozen=True)
class OnnxUnit:
    """One exported network: its file (relative to the bundle), opset and the verified difference to PyTorch.

    ``max_rel_diff`` is ``max_abs_diff / max(1, max |PyTorch embedding|)``: absolute for embeddings of unit scale,
    relative for large ones; the tolerance applies to it.
    """

    unit: str
    path: str
    opset: int
    max_abs_diff: float
    max_rel_diff: float


def _export_unit(model: nn.Module, shape: tuple[int, int, int], out: Path, opset: int) -> None:
    graph = _ExportGraph(model).eval()
    example = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # exporter chatter (torchvision ops it skips, deprecations)
        torch.onnx.export(
            graph,
            (example,),
            str(out),
            input_names=["chunks"],
            output_names=["embeddings"],
            dynamic_shapes=({0: batch},),
            opset_version=opset,
            dynamo=True,
            external_data=False,
            verbose=False,
        )


def _verify(model: nn.Module, shape: tuple[int, int, int], path: Path) -> tuple[float, float]:
    """``(max |ONNX - PyTorch|, max |PyTorch|)`` on random chunks, batch sizes 1 and 5.

    The chunks are drawn as ``mean + std * N(0, 1)`` with the standardiser's statistics, so the backbone sees
    inputs on the scale of real features (plain N(0, 1) chunks divided by a near-constant bin's tiny std would
    blow up to ~1e8 and compare float rounding, not the graphs).
    """
    import onnxruntime as ort

    graph = _ExportGraph(model)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(1)
    diff, scale = 0.0, 0.0
    for n in (1, 5):
        chunks = graph.mean + graph.std * torch.randn(n, *shape, generator=generator)
        with torch.no_grad():
            expected = model(chunks).numpy()
        got = session.run(["embeddings"], {"chunks": chunks.numpy()})[0]
        if got.shape != expected.shape:
            raise DataError(f"{path}: ONNX output shape {got.shape} differs from PyTorch's {expected.shape}")
        diff = max(diff, float(np.max(np.abs(got - expected))))
        scale = max(scale, float(np.max(np.abs(expected))))
    return diff, scale


def export_onnx(
    bundle: str | os.PathLike[str], *, tolerance: float = DEFAULT_TOLERANCE, opset: int = 18
) -> list[OnnxUnit]:
    """Add ``onnx/<unit>.onnx`` for every unit of a detector bundle, verified against PyTorch.

    Args:
        bundle: detector folder written by :func:`~soundsentry.deploy.export_detector` (checked on load).
        tolerance: largest accepted difference between ONNX and PyTorch embeddings, relative to
            ``max(1, max |embedding|)`` (see :class:`OnnxUnit`).
        opset: ONNX opset version.

    Returns:
        The exported units, with the measured differences.

    Raises:
        DataError: a unit's ONNX output differs by more than ``tolerance`` (the bundle is left unchanged).
    """
    from soundsentry.training.trainer import load_embedding_model

    require_onnx(export=True)
    if not tolerance > 0:
        raise ConfigError(f"tolerance must be positive, got {tolerance}")
    folder = Path(bundle)
    meta = read_bundle_meta(folder)
    staging = Path(tempfile.mkdtemp(prefix=".onnx.", dir=folder))
    try:
        units = []
        for unit, rel in sorted(meta["units"].items()):
            model, info = load_embedding_model(folder / rel)
            shape = tuple(int(v) for v in info["chunk_shape"])
            target = staging / f"{unit}.onnx"
            _export_unit(model, shape, target, opset)  # type: ignore[arg-type]
            diff, scale = _verify(model, shape, target)  # type: ignore[arg-type]
            # float32 rounding grows with the embeddings' magnitude (un-normalised embeddings reach 1e9)
            relative = diff / max(1.0, scale)
            if not relative <= tolerance:
                raise DataError(
                    f"unit {unit!r}: ONNX embeddings differ from PyTorch by up to {diff:.3g} (relative {relative:.3g} "
                    f"of max |embedding| {scale:.3g}), above the tolerance {tolerance:g}; the bundle is unchanged "
                    "(use the torch backend, or pass --tolerance)"
                )
            units.append(OnnxUnit(unit, f"{ONNX_DIR}/{unit}.onnx", opset, diff, relative))
        (folder / ONNX_DIR).mkdir(exist_ok=True)
        for u in units:
            os.replace(staging / Path(u.path).name, folder / u.path)
        meta["onnx"] = {
            u.unit: {"path": u.path, "opset": u.opset, "max_abs_diff": u.max_abs_diff, "max_rel_diff": u.max_rel_diff}
            for u in units
        }
        files = dict(meta["files"])
        files.update({u.path: _sha256(folder / u.path) for u in units})
        meta["files"] = dict(sorted(files.items()))
        atomic_write_text(folder / BUNDLE_FILE, json.dumps(meta, indent=2) + "\n")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return units


__all__ = ["DEFAULT_TOLERANCE", "ONNX_DIR", "OnnxUnit", "export_onnx", "require_onnx"]
