"""The flagship recipe (sentry_flagship): a patch bank that trains nothing, end to end on a tiny set, and its
detector bundle."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from soundsentry import stages
from soundsentry.config import load_recipe
from soundsentry.data.manifest import read_manifest
from soundsentry.errors import ConfigError
from soundsentry.evaluation import read_scores
from soundsentry.registry import BACKBONES, HEADS
from soundsentry.training.phases import Frozen, resolve_phases
from soundsentry.training.trainer import load_embedding_model, load_head
from soundsentry.types import Split

FLAGSHIP = (
    "chunks:inner=knn;k=1;metric=euclidean,pool=mean,normalise=domain,calibrate=extrapolate,shrink=4,blocks=2560,"
    "standardise=none/source"
)


@pytest.fixture(scope="module")
def flagship_run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("flagship")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stages.run("sentry_flagship", tiny_data, run_dir)
    return run_dir


def test_the_flagship_runs_no_gradient_phase() -> None:
    recipe = load_recipe("sentry_flagship")
    assert [type(p) for p in resolve_phases(recipe)] == [Frozen]
    assert load_recipe("sentry_flagship_demo").to_dict() | {"name": "x", "description": ""} == recipe.to_dict() | {
        "name": "x",
        "description": "",
    }
    assert [type(p).__name__ for p in resolve_phases(load_recipe("s1_arcface_mfn_demo"))] == ["Classifier"]
    assert recipe.score.scorers[0] == FLAGSHIP  # export, fit and the demo use the first back-end


def test_flatten_and_none_head() -> None:
    net = BACKBONES.create("flatten", in_chans=1, input_size=(4, 5))
    x = torch.randn(3, 1, 4, 5)
    assert net.embed_dim == 20 and torch.equal(net(x), x.reshape(3, 20))
    assert not list(net.parameters())
    with pytest.raises(ConfigError, match="built for chunks"):
        net(torch.randn(3, 1, 4, 6))
    with pytest.raises(ConfigError, match="head none has no loss"):
        HEADS.create("none", embed_dim=20, num_classes=2)(x.reshape(3, 20), torch.zeros(3, dtype=torch.long))


def test_flagship_end_to_end(flagship_run: Path) -> None:
    clips = read_manifest(flagship_run / "manifest.jsonl")
    model_file = flagship_run / "models" / "all" / "model.pt"
    model, meta = load_embedding_model(model_file)
    assert meta["checkpoint"] == "untrained" and meta["chunk_shape"] == [1, 512 + 8 * 20, 5]
    assert load_head(model_file, model.embed_dim) is None
    with np.load(flagship_run / "embeddings.npz") as data:
        # 5 frames x (512 mels + 8 bands x 20 modulation bands); blocks=2560 splits the two parts, the second
        # standardised on the source training windows
        assert data["chunk_embeddings"].shape[1] == 5 * (512 + 160)
    scores = read_scores(flagship_run / "scores" / (stages.scores_file_name(FLAGSHIP)))
    assert set(scores) == {c.path for c in clips}
    assert np.isfinite(list(scores.values())).all()
    assert (flagship_run / "results").is_dir()


def test_flagship_detector_scores_as_the_score_stage(flagship_run: Path, tmp_path: Path) -> None:
    from soundsentry.deploy import Detector, export_detector

    bundle = export_detector(flagship_run, tmp_path / "detector", scorer=FLAGSHIP)
    detector = Detector(bundle)
    clips = [c for c in read_manifest(flagship_run / "manifest.jsonl") if c.split is Split.TEST][:6]
    stage = read_scores(flagship_run / "scores" / stages.scores_file_name(FLAGSHIP))
    got = [detector.score_file(c.path, c.machine_type, c.section) for c in clips]
    assert all(r.decision in ("normal", "anomaly") for r in got)
    # The stage's test scores do not read the test domain either (normalise=domain takes the more normal one).
    np.testing.assert_allclose([r.score for r in got], [stage[c.path] for c in clips], rtol=1e-4)
