"""A tiny baseline run: train, write the model file, score clips, resume bit for bit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from soundsentry.baselines import AEParams, ae_baseline_scores, ae_error_vectors, fit_ae_unit, load_ae_model
from soundsentry.errors import DataError
from soundsentry.scoring import is_fit_clip
from soundsentry.types import Clip, Label

TINY = AEParams(hidden=16, bottleneck=4, depth=2, epochs=2, batch_size=16, seed=3)


@pytest.fixture
def clips(tiny_dcase2022: Path) -> list[Clip]:
    from soundsentry.data.layouts import parse_dataset

    return parse_dataset(tiny_dcase2022).clips


def test_train_write_and_score(clips: list[Clip], tmp_path: Path) -> None:
    scores = ae_baseline_scores(clips, tmp_path, TINY)
    for name in ("mse", "selective_mahalanobis"):
        assert scores[name].shape == (len(clips),) and np.isfinite(scores[name]).all()
    assert (scores["mse"] > 0).all() and (scores["selective_mahalanobis"] >= 0).all()
    path = tmp_path / "models" / "pumpy_section_00" / "model.pt"
    model = load_ae_model(path)
    assert set(model.covariances) == {"00"} and model.covariances["00"].source.shape == (128, 128)
    assert model.thresholds["mse"] is not None and model.thresholds["mse"] > 0
    assert (path.parent / "last.ckpt").is_file() and (path.parent / "logs" / "metrics.csv").is_file()
    # The streamed errors give back the MSE score.
    pumpy = [i for i, c in enumerate(clips) if c.machine_type == "pumpy"][:2]
    errors = list(ae_error_vectors(path, [clips[i] for i in pumpy]))
    assert errors[0].shape == (12, 640)  # 0.5 s: 16 frames -> 12 vectors
    np.testing.assert_allclose([np.mean(e.astype(np.float64) ** 2) for e in errors], scores["mse"][pumpy], rtol=1e-6)
    # Anomalies of this easy set reconstruct worse than normals, on average.
    test = [c.split.value == "test" for c in clips]
    anomal = np.array([c.label is Label.ANOMALY for c in clips])
    assert scores["mse"][anomal].mean() > scores["mse"][np.array(test) & ~anomal].mean()


def test_resume_reproduces_the_uninterrupted_run(clips: list[Clip], tmp_path: Path) -> None:
    train = [c for c in clips if c.machine_type == "fanny" and is_fit_clip(c)]
    straight = fit_ae_unit(train, tmp_path / "a", params=TINY, resume=False)
    first = fit_ae_unit(train, tmp_path / "b", params=replace(TINY, epochs=1))
    first.unlink()  # interrupted after epoch 1: only last.ckpt is left
    resumed = fit_ae_unit(train, tmp_path / "b", params=TINY, resume=True)
    a, b = torch.load(straight, weights_only=False), torch.load(resumed, weights_only=False)
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    np.testing.assert_array_equal(a["covariances"]["00"]["target"], b["covariances"]["00"]["target"])
    assert a["thresholds"] == b["thresholds"]
    assert fit_ae_unit(train, tmp_path / "b", params=TINY) == resumed  # a finished unit is not retrained


def test_unit_without_training_clips(clips: list[Clip], tmp_path: Path) -> None:
    test_only = [c for c in clips if not is_fit_clip(c)]
    with pytest.raises(DataError, match="no normal training clips"):
        ae_baseline_scores(test_only, tmp_path, TINY)
