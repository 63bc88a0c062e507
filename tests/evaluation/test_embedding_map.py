"""Embedding map: a valid PNG is written atomically and the t-SNE keeps well-separated IDs apart."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from soundsentry.errors import DataError
from soundsentry.evaluation.embedding_map import plot_embedding_map, tsne_2d


def _tiny(seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = {"fan/id_00": 0.0, "fan/id_02": 8.0, "pump/id_00": -8.0}
    train, train_ids, test, test_ids, anomalous = [], [], [], [], []
    for name, c in centres.items():
        train.append(c + rng.normal(size=(8, 6)))
        train_ids += [name] * 8
        test.append(c + rng.normal(size=(3, 6)))
        test_ids += [name] * 3
        anomalous += [False, False, True]
    return np.vstack(train), train_ids, np.vstack(test), test_ids, anomalous


def test_png_is_written_and_valid(tmp_path) -> None:
    train, train_ids, test, test_ids, anomalous = _tiny()
    out = tmp_path / "maps" / "tsne.png"
    coords = plot_embedding_map(train, train_ids, test, test_ids, anomalous, out, perplexity=5, title="tiny")
    assert coords.shape == (len(train) + len(test), 2)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(out)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image[..., :3].std() > 0  # something was drawn
    assert [p.name for p in out.parent.iterdir()] == ["tsne.png"]  # no temporary file left behind
    # Well-separated IDs stay apart: each point's nearest 2-D neighbour has its ID.
    ids = np.array(train_ids + test_ids)
    d = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    assert (ids[d.argmin(axis=1)] == ids).mean() == 1.0


def test_tsne_is_reproducible_and_small_sets_work() -> None:
    X = np.random.default_rng(0).normal(size=(6, 3))
    a, b = tsne_2d(X, perplexity=30, random_state=1), tsne_2d(X, perplexity=30, random_state=1)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (6, 2)


def test_errors(tmp_path) -> None:
    train, train_ids, test, test_ids, anomalous = _tiny()
    with pytest.raises(DataError, match="train_ids has 3 entries for 24 embeddings"):
        plot_embedding_map(train, train_ids[:3], test, test_ids, anomalous, tmp_path / "x.png")
    with pytest.raises(DataError, match="train has 6 features but test has 2"):
        plot_embedding_map(train, train_ids, test[:, :2], test_ids, anomalous, tmp_path / "x.png")
    with pytest.raises(DataError, match="test_anomalous has 2 entries"):
        plot_embedding_map(train, train_ids, test, test_ids, anomalous[:2], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
