"""Embedding map: a t-SNE view of train and test embeddings, coloured by machine ID, marked by label (S4).

S4 looks at such a map to explain its per-machine results (ToyConveyor's IDs separate so well that anomalies are
still classified confidently). Colour = ID; marker = train normal (small dot), test normal (circle), test anomaly
(cross). The PNG is drawn with matplotlib's Agg canvas (no display, no pyplot state) and written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn.manifold import TSNE

from soundsentry.errors import ConfigError, DataError
from soundsentry.io import atomic_output
from soundsentry.scorers.base import check_embeddings


def tsne_2d(X: np.ndarray, perplexity: float = 30.0, random_state: int = 0) -> np.ndarray:
    """2-D t-SNE coordinates (N, 2) of embeddings ``X: (N, D)``.

    The perplexity is lowered to ``(N - 1) / 3`` for small N (t-SNE needs it well below N).
    """
    X = check_embeddings(X, owner="embedding map", what="embeddings", min_samples=4)
    if perplexity <= 0:
        raise ConfigError(f"embedding map: perplexity must be positive, got {perplexity}")
    perplexity = min(float(perplexity), (X.shape[0] - 1) / 3.0)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=random_state)
    return tsne.fit_transform(X)


def plot_embedding_map(
    train: np.ndarray,
    train_ids: Sequence[str],
    test: np.ndarray,
    test_ids: Sequence[str],
    test_anomalous: Sequence[bool],
    path: str | os.PathLike[str],
    *,
    perplexity: float = 30.0,
    random_state: int = 0,
    title: str | None = None,
) -> np.ndarray:
    """Embed train and test embeddings together with t-SNE and save the map as a PNG.

    Args:
        train: (N, D) training embeddings (all normal).
        train_ids: N machine-ID labels (e.g. ``"fan/id_00"``), the colour.
        test: (M, D) test embeddings.
        test_ids: M machine-ID labels.
        test_anomalous: M booleans, True for anomalous clips (the marker).
        path: the PNG to write (parent folders are created).
        perplexity: t-SNE perplexity (lowered for small sets).
        random_state: t-SNE seed.
        title: figure title.

    Returns:
        (N + M, 2) t-SNE coordinates, training rows first.
    """
    train = check_embeddings(train, owner="embedding map", what="training embeddings", min_samples=1)
    test = check_embeddings(test, owner="embedding map", what="test embeddings")
    if test.shape[1] != train.shape[1]:
        raise DataError(f"embedding map: train has {train.shape[1]} features but test has {test.shape[1]}")
    labels = np.asarray(test_anomalous, dtype=bool)
    for name, seq, n in (("train_ids", train_ids, len(train)), ("test_ids", test_ids, len(test))):
        if len(seq) != n:
            raise DataError(f"embedding map: {name} has {len(seq)} entries for {n} embeddings; pass one per row")
    if labels.shape != (len(test),):
        raise DataError(f"embedding map: test_anomalous has {labels.size} entries for {len(test)} test embeddings")

    coords = tsne_2d(np.vstack([train, test]), perplexity, random_state)
    _draw(coords, [str(i) for i in train_ids], [str(i) for i in test_ids], labels, Path(path), title)
    return coords


def _draw(
    coords: np.ndarray, train_ids: list[str], test_ids: list[str], anomalous: np.ndarray, path: Path, title: str | None
) -> None:
    ids = sorted(set(train_ids) | set(test_ids))
    # Qualitative palettes up to 20 IDs; beyond (41 IDs in the integrated DCASE 2020 model) a continuous one.
    if len(ids) <= 20:
        cmap = colormaps["tab10" if len(ids) <= 10 else "tab20"]
        colour = {name: cmap(i) for i, name in enumerate(ids)}
    else:
        colour = {name: colormaps["turbo"](i / (len(ids) - 1)) for i, name in enumerate(ids)}
    n_train = len(train_ids)
    tr, te = coords[:n_train], coords[n_train:]

    fig = Figure(figsize=(8, 7))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.scatter(tr[:, 0], tr[:, 1], c=[colour[i] for i in train_ids], s=30, marker=".", alpha=0.6, linewidths=0)
    normal = ~anomalous
    ax.scatter(
        te[normal, 0],
        te[normal, 1],
        facecolors="none",
        edgecolors=[colour[i] for i, a in zip(test_ids, anomalous, strict=True) if not a],
        s=22,
        marker="o",
        linewidths=0.8,
    )
    ax.scatter(
        te[anomalous, 0],
        te[anomalous, 1],
        c=[colour[i] for i, a in zip(test_ids, anomalous, strict=True) if a],
        s=22,
        marker="x",
        linewidths=0.9,
    )
    id_handles = [Line2D([], [], ls="", marker="o", color=colour[i], label=i) for i in ids]
    kind_handles = [
        Line2D([], [], ls="", marker=".", color="grey", label="train (normal)"),
        Line2D([], [], ls="", marker="o", mfc="none", color="grey", label="test normal"),
        Line2D([], [], ls="", marker="x", color="grey", label="test anomaly"),
    ]
    ax.legend(handles=id_handles + kind_handles, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "t-SNE of embeddings: colour = ID, marker = split / label")
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
