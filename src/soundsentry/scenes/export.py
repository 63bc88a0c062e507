"""ONNX export with float16 weights, and a check of the exported model against PyTorch.

As TensorFlow Lite's float16 quantisation (what S5 submitted), the weights are *stored* in float16 and cast to
float32 when the graph runs, so the file is about ``2 x parameters`` bytes and any ONNX runtime executes it.
Needs the ``onnx``, ``onnxscript`` and ``onnxruntime`` packages (in the ``export`` and ``dev`` extras).
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from soundsentry.errors import ConfigError
from soundsentry.io import atomic_output


def _onnx():  # noqa: ANN202 - the onnx module
    try:
        import onnx
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ConfigError("ONNX export needs onnx, onnxscript, onnxruntime: pip install 'soundsentry[onnx]'") from err
    return onnx


def weights_to_float16(model_proto):  # noqa: ANN001, ANN201 - onnx.ModelProto
    """Store every float32 initializer as float16 followed by a Cast back to float32; returns the same proto."""
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    graph = model_proto.graph
    casts = []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        data = numpy_helper.to_array(init).astype(np.float16)
        name = init.name
        init.CopyFrom(numpy_helper.from_array(data, name=f"{name}__fp16"))
        casts.append(helper.make_node("Cast", [f"{name}__fp16"], [name], to=TensorProto.FLOAT, name=f"{name}__cast"))
    for node in reversed(casts):
        graph.node.insert(0, node)
    onnx.checker.check_model(model_proto)
    return model_proto


def export_onnx_fp16(model: nn.Module, example: torch.Tensor, path: str | os.PathLike[str]) -> Path:
    """Export ``model`` (eval mode, input like ``example: (B, C, F, T)``) to ``path`` with float16 weights.

    The batch axis is dynamic. The file is written through a temporary file.
    """
    onnx = _onnx()
    model = model.eval()
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: no onnxscript graph rewrites
        torch.onnx.export(
            model,
            (example,),
            buf,
            input_names=["features"],
            output_names=["logits"],
            dynamic_axes={"features": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
        )
    proto = weights_to_float16(onnx.load_from_string(buf.getvalue()))
    with atomic_output(path) as tmp:
        onnx.save(proto, str(tmp))
    return Path(path)


def verify_onnx(model: nn.Module, path: str | os.PathLike[str], x: torch.Tensor, atol: float = 1e-2) -> float:
    """Largest absolute difference between ONNX Runtime's and PyTorch's outputs on ``x``.

    The PyTorch reference runs with its weights rounded to float16 as well, so the comparison checks the export,
    not the rounding. The exporter folds batch norms into the convolutions before the weights are rounded, so the
    two round different numbers: the check is relative, ``diff / max(1, max |logit|)`` over ``atol`` raises.
    """
    try:
        import onnxruntime as ort
    except ImportError as err:  # pragma: no cover
        raise ConfigError("verifying an ONNX export needs onnxruntime: pip install 'soundsentry[onnx]'") from err
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"features": x.numpy().astype(np.float32)})[0]
    ref_model = _rounded_copy(model)
    with torch.no_grad():
        want = ref_model(x).numpy()
    diff = float(np.max(np.abs(got - want)))
    scale = max(1.0, float(np.max(np.abs(want))))
    if diff / scale > atol:
        raise ConfigError(
            f"{path}: ONNX output differs from PyTorch by {diff:.3g} ({diff / scale:.3g} of the largest logit "
            f"{scale:.3g}, > {atol}); the export is broken"
        )
    return diff


def _rounded_copy(model: nn.Module) -> nn.Module:
    """A float32 copy of ``model`` whose parameters and buffers are rounded through float16."""
    import copy

    ref = copy.deepcopy(model).eval()
    with torch.no_grad():
        for t in list(ref.parameters()) + list(ref.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().float())
    return ref
