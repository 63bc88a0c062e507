"""Scene-classification metrics and report files: accuracy, log-loss, per-class and device-wise accuracy, confusion.

Inputs are class probabilities (softmax already applied; with test-time augmentation the softmax comes *after*
averaging the copies' logits, S5 section 4). Files are written atomically:

* ``metrics.json``: accuracy, log-loss, per-class and per-device accuracy.
* ``per_class.csv``, ``devices.csv`` (device x class accuracy table, as S5 Table 4).
* ``confusion.csv`` (counts) and ``confusion.png`` (row-normalised percentages, as S5 Table 3).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from soundsentry.errors import DataError
from soundsentry.io import atomic_output, atomic_write_text

LOG_LOSS_EPS = 1e-15  # probabilities are clipped to [eps, 1 - eps], as scikit-learn's log_loss did


@dataclass
class SceneMetrics:
    """Classification results on one split.

    Attributes:
        accuracy: share of clips whose most probable class is right.
        log_loss: mean of ``-log p(true class)``.
        per_class: accuracy per scene (recall).
        per_device: accuracy per recording device.
        confusion: ``[true][predicted]`` counts, classes in ``classes`` order.
        classes: scene labels.
    """

    accuracy: float
    log_loss: float
    per_class: dict[str, float]
    per_device: dict[str, float]
    confusion: list[list[int]]
    classes: list[str]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, K)`` logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def tta_probabilities(copy_logits: np.ndarray) -> np.ndarray:
    """S5 TTA: ``(copies, N, K)`` logits averaged over the copies, then softmax."""
    return softmax(copy_logits.mean(axis=0))


def scene_metrics(prob: np.ndarray, y: np.ndarray, classes: Sequence[str], devices: Sequence[str]) -> SceneMetrics:
    """Metrics of probabilities ``prob: (N, K)`` for true ids ``y: (N,)`` recorded on ``devices``."""
    if prob.ndim != 2 or prob.shape != (len(y), len(classes)) or len(devices) != len(y):
        raise DataError(f"probabilities {prob.shape} do not match {len(y)} labels, {len(classes)} classes")
    pred = prob.argmax(axis=1)
    p_true = np.clip(prob[np.arange(len(y)), y], LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    k = len(classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y, pred), 1)
    per_class = {c: float(confusion[i, i] / confusion[i].sum()) for i, c in enumerate(classes) if confusion[i].sum()}
    dev = np.asarray(devices)
    per_device = {d: float(np.mean(pred[dev == d] == y[dev == d])) for d in sorted(set(devices))}
    return SceneMetrics(
        accuracy=float(np.mean(pred == y)),
        log_loss=float(-np.mean(np.log(p_true))),
        per_class=per_class,
        per_device=per_device,
        confusion=confusion.tolist(),
        classes=list(classes),
    )


def device_class_accuracy(prob: np.ndarray, y: np.ndarray, devices: Sequence[str], k: int) -> dict[str, list[float]]:
    """``device -> accuracy per class`` (NaN where a device has no clip of a class), S5 Table 4."""
    pred = prob.argmax(axis=1)
    dev = np.asarray(devices)
    out = {}
    for d in sorted(set(devices)):
        row = []
        for c in range(k):
            m = (dev == d) & (y == c)
            row.append(float(np.mean(pred[m] == c)) if m.any() else float("nan"))
        out[d] = row
    return out


def _csv(rows: list[list[object]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def plot_confusion(confusion: np.ndarray, classes: Sequence[str], path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix in percent as a PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pct = 100 * confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    size = 2 + 0.6 * len(classes)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(pct, cmap="Blues", vmin=0, vmax=100)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{pct[i, j]:.0f}", ha="center", va="center", color="white" if pct[i, j] > 50 else "black")
    ax.set_title(title)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return Path(path)


def write_scene_report(
    out_dir: str | Path,
    prob: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    devices: Sequence[str],
    title: str = "",
) -> SceneMetrics:
    """Compute :class:`SceneMetrics` and write the report files into ``out_dir``."""
    out = Path(out_dir)
    m = scene_metrics(prob, y, classes, devices)
    atomic_write_text(out / "metrics.json", json.dumps(asdict(m), indent=2) + "\n")
    per_class = [["scene", "accuracy", "clips"]] + [
        [c, f"{m.per_class.get(c, float('nan')):.4f}", sum(m.confusion[i])] for i, c in enumerate(classes)
    ]
    atomic_write_text(out / "per_class.csv", _csv(per_class))
    table = device_class_accuracy(prob, y, devices, len(classes))
    dev_rows = [["device", *classes, "overall"]] + [
        [d, *(f"{v:.4f}" for v in row), f"{m.per_device[d]:.4f}"] for d, row in table.items()
    ]
    atomic_write_text(out / "devices.csv", _csv(dev_rows))
    atomic_write_text(
        out / "confusion.csv",
        _csv([["true \\ predicted", *classes]] + [[c, *m.confusion[i]] for i, c in enumerate(classes)]),
    )
    plot_confusion(np.asarray(m.confusion), classes, out / "confusion.png", title)
    return m


def format_summary(name: str, results: dict[str, SceneMetrics], size: int) -> str:
    """A short text table: accuracy and log-loss per inference mode, and the model size."""
    lines = [f"{name}: model size {size} bytes (float16, non-zero parameters)"]
    for mode, r in results.items():
        lines.append(f"  {mode:<7} accuracy {r.accuracy * 100:6.2f} %   log-loss {r.log_loss:.4f}")
    return "\n".join(lines)
