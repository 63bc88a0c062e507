"""S2 wired into the pipeline: recipe values, context-window features, pre-training -> fine-tuning, resume,
``init_from`` and one end-to-end run on the tiny generated set."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from soundsentry.config import ComponentSpec, load_recipe
from soundsentry.data.manifest import read_manifest
from soundsentry.errors import ConfigError
from soundsentry.training.data import PairDataset, PairSampler, training_units
from soundsentry.training.trainer import MODEL_FILE, fit_unit

# The demo recipe shrunk for a test: 0.5 s clips = 16 frames, 32 mels, P = 8 / L = 4 (2 windows per clip),
# 32-d encoder output, 2 pre-training epochs (1 warm-up) and 1 fine-tuning epoch.
S2_TINY = [
    "frontend.n_mels=32",
    "features.clip_seconds=0.5",
    "features.chunk_width=8",
    "features.chunk_hop=4",
    "backbone.input_size=[32,8]",
    "backbone.embed_dim=32",
    "head.hidden=16",
    "train.epochs=1",
    "train.batch_size=8",
    "train.pretrain.epochs=2",
    "train.pretrain.warmup_epochs=1",
    "train.pretrain.batch_size=8",
    "train.pretrain.expander_dim=64",
    "train.pretrain.expander_layers=2",
]


def s2_tiny(*extra: str):
    return load_recipe("s2_vicreg_mobilenetv2_demo", [*S2_TINY, *extra])


def _fan_clips(manifest: Path):
    return training_units(read_manifest(manifest), "per_machine_type")["fan"]


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def _conv_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Convolution kernels only: batch-norm statistics move in any training-mode pass, whatever the rate."""
    return {k: v for k, v in state.items() if k.endswith("weight") and v.dim() == 4}


def _fit(recipe, clips, out: Path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_unit(recipe, "fan", clips, out, **kwargs)


# --- recipes ----------------------------------------------------------------------------------------------------
def test_s2_recipe_has_the_documented_values() -> None:
    r = load_recipe("s2_vicreg_mobilenetv2")
    fe = r.frontend.kwargs
    assert r.frontend.name == "logmel" and (fe["n_fft"], fe["hop_length"], fe["n_mels"]) == (1024, 512, 128)
    assert fe["subtract_mean"] is True
    f = r.features
    assert (f.sample_rate, f.clip_seconds, f.chunk_width, f.chunk_hop, f.chunk_tail) == (16000, 10.0, 64, 8, "context")
    assert r.backbone == ComponentSpec(
        "mobilenetv2_s2", {"in_chans": 1, "input_size": [128, 64], "embed_dim": 320, "width": 0.5, "head": "conv"}
    )
    assert r.head == ComponentSpec("section_classifier", {"hidden": 128})
    t = r.train
    assert (t.mode, t.classes, t.batch_size, t.mixup, t.mixup_alpha) == ("per_machine_type", "section", 64, True, 0.5)
    assert t.optimizer == ComponentSpec("adamw", {"lr": 1e-4, "weight_decay": 1e-4})
    assert t.geometric_weight > 0 and t.finetune is None and t.init_from is None
    p = t.pretrain
    assert p is not None
    assert (p.epochs, p.warmup_epochs, p.end_lr, p.batch_size) == (100, 10, 0.002, 1024)
    assert p.optimizer.name == "lars" and (p.optimizer.kwargs["lr"], p.optimizer.kwargs["weight_decay"]) == (0.8, 1e-4)
    assert (p.expander_dim, p.expander_layers, p.gamma, p.mu, p.nu, p.mixup_alpha) == (1280, 3, 25.0, 25.0, 1.0, 0.5)
    assert r.score.scorers == ["knn:k=1"]


def test_pretraining_off_is_one_override() -> None:
    assert load_recipe("s2_vicreg_mobilenetv2", ["train.pretrain=null"]).train.pretrain is None
    assert load_recipe("s2_vicreg_mobilenetv2_demo", ["train.pretrain=null"]).train.pretrain is None


@pytest.mark.parametrize(("name", "windows"), [("s2_vicreg_mobilenetv2", 32), ("s2_vicreg_mobilenetv2_demo", 4)])
def test_recipe_windows_fit_the_encoder(name: str, windows: int) -> None:
    """10 s clips give 32 windows of 128 x 64 (sec. 2.1); the demo's 2 s clips give 4 windows of 128 x 32."""
    from soundsentry.training.features import build_feature_pipeline

    r = load_recipe(name)
    pipeline = build_feature_pipeline(r)
    chunks = pipeline(torch.zeros(1, int(r.features.clip_seconds * r.features.sample_rate)))
    assert chunks.shape == (1, windows, 1, *r.backbone.kwargs["input_size"])


@pytest.mark.parametrize(
    ("override", "match"),
    [
        (["head=arcface"], "geometric_weight > 0 needs head section_classifier"),
        (["train.mixup=false"], "geometric_weight > 0 needs train.mixup=true"),
        (["train.pretrain.warmup_epochs=20"], r"warmup_epochs \(20\) exceeds train.pretrain.epochs"),
        (["train.pretrain.lr=0.1"], r"unknown key\(s\) train.pretrain.lr"),
        (["train.pretrain.reduction=max"], "train.pretrain.reduction is 'max'; valid values: sum, mean"),
        (["train.pretrain=3"], "train.pretrain must be a mapping or null"),
        (["features.chunk_tail=windows"], "valid values: drop, pad, context"),
    ],
)
def test_bad_s2_settings_are_one_line_config_errors(override: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as err:
        load_recipe("s2_vicreg_mobilenetv2_demo", override)
    assert "\n" not in str(err.value) and "s2_vicreg_mobilenetv2_demo.yaml" in str(err.value)


# --- features: context windows and the clip mean ----------------------------------------------------------------
def test_training_and_extraction_use_the_context_windows_and_the_clip_mean(tiny_manifest: Path) -> None:
    from soundsentry.frontends import context_windows, num_context_windows
    from soundsentry.training.extract import embed_clips
    from soundsentry.training.features import build_feature_pipeline, compute_chunks
    from soundsentry.training.trainer import build_embedding_model

    r = s2_tiny("features.standardize=none")
    pipeline = build_feature_pipeline(r)
    wave = torch.randn(2, 8000, generator=torch.Generator().manual_seed(0))
    feats = pipeline.frontend(wave)
    assert feats.shape[-1] == 16 and num_context_windows(16, 8, 4) == 2
    torch.testing.assert_close(pipeline(wave), context_windows(feats, 8, 4))

    clips = _fan_clips(tiny_manifest)[:3]
    cache = compute_chunks(clips, pipeline, r.features)
    assert cache.chunks.shape == (6, 1, 32, 8) and cache.clip_index.tolist() == [0, 0, 1, 1, 2, 2]
    torch.manual_seed(0)
    model = build_embedding_model(r, (1, 32, 8)).eval()
    emb = embed_clips(model, pipeline, clips, r.features)
    with torch.no_grad():
        expected_chunks = model(cache.chunks).numpy()  # the very windows training sees
    np.testing.assert_allclose(emb.chunk, expected_chunks, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(emb.clip, expected_chunks.reshape(3, 2, -1).mean(axis=1), rtol=1e-5, atol=1e-5)


def test_pairs_are_unmixed_with_beta_ratios() -> None:
    sampler = PairSampler(first=[0, 1, 2, 3], second=[0, 1, 2, 3], seed=1, alpha=0.5)
    draws = list(sampler)
    assert draws == list(sampler) and all(0.0 <= lam <= 1.0 for *_, lam in draws)
    big = PairSampler(first=list(range(4000)), second=[0], seed=0, alpha=0.5)
    lam = np.array([x for *_, x in big])
    assert abs(lam.mean() - 0.5) < 0.03 and abs(lam.var() - 0.125) < 0.01  # Beta(0.5, 0.5): mean 1/2, var 1/8
    chunks, labels = torch.randn(4, 1, 2, 3), torch.tensor([0, 1, 1, 0])
    xa, xb, ta, tb, lam_t = PairDataset(chunks, labels, 2)[(1, 3, 0.25)]
    assert torch.equal(xa, chunks[1]) and torch.equal(xb, chunks[3]) and float(lam_t) == 0.25
    assert ta.tolist() == [0.0, 1.0] and tb.tolist() == [1.0, 0.0]


def test_lars_is_available_to_recipes() -> None:
    from pytorch_optimizer import LARS

    from soundsentry.training.module import build_optimizer

    opt = build_optimizer([torch.nn.Parameter(torch.randn(3, 3))], ComponentSpec("lars", {"lr": 0.8}))
    assert isinstance(opt, LARS) and opt.defaults["lr"] == 0.8


# --- pre-training -> fine-tuning, resume, init_from -------------------------------------------------------------
@pytest.fixture(scope="module")
def pretrained_run(tiny_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder whose ``fan`` unit was pre-trained and then fine-tuned at a negligible learning rate."""
    run = tmp_path_factory.mktemp("s2_run")
    _fit(s2_tiny("train.optimizer.lr=1e-12"), _fan_clips(tiny_manifest), run / "models" / "fan")
    return run


def test_pretraining_then_finetuning_writes_both_phases(pretrained_run: Path) -> None:
    out = pretrained_run / "models" / "fan"
    for name in ("pretrain/last.ckpt", "pretrain/model.pt", "pretrain/logs/metrics.csv", "last.ckpt", MODEL_FILE):
        assert (out / name).is_file(), name
    header = (out / "pretrain" / "logs" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train_invariance", "train_variance", "train_covariance", "lr-LARS"} <= set(header)
    assert {"train_kl", "train_geometric"} <= set((out / "logs" / "metrics.csv").read_text().splitlines()[0].split(","))
    payload = torch.load(out / "pretrain" / MODEL_FILE, map_location="cpu", weights_only=False)
    assert payload["checkpoint"] == "pretrain/last.ckpt" and payload["expander_state_dict"]
    assert torch.load(out / "pretrain" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"] == 6
    final = torch.load(out / MODEL_FILE, map_location="cpu", weights_only=False)
    assert final["classes"] == ["00", "01"] and "classifier.net.0.weight" in final["head_state_dict"]


def test_finetuning_starts_from_the_pretrained_encoder(pretrained_run: Path, tiny_manifest: Path, tmp_path: Path):
    out = pretrained_run / "models" / "fan"
    pre, fine = _conv_weights(_state(out / "pretrain" / MODEL_FILE)), _conv_weights(_state(out / MODEL_FILE))
    for key in pre:  # lr 1e-12: fine-tuning kept the pre-trained kernels
        torch.testing.assert_close(fine[key], pre[key], rtol=0, atol=1e-8)
    # The same seed without pre-training starts from the random initialisation, which pre-training changed.
    _fit(s2_tiny("train.optimizer.lr=1e-12", "train.pretrain=null"), _fan_clips(tiny_manifest), tmp_path / "fan")
    assert not (tmp_path / "fan" / "pretrain").exists()
    scratch = _conv_weights(_state(tmp_path / "fan" / MODEL_FILE))
    assert any(not torch.allclose(scratch[k], pre[k], atol=1e-6) for k in pre)


def test_a_run_killed_in_finetuning_resumes_there(tiny_manifest: Path, tmp_path: Path, capsys) -> None:
    clips, out = _fan_clips(tiny_manifest), tmp_path / "fan"
    _fit(s2_tiny(), clips, out)
    pretrain_ckpt = (out / "pretrain" / "last.ckpt").read_bytes()
    (out / MODEL_FILE).unlink()  # killed after a fine-tuning checkpoint, before model.pt
    capsys.readouterr()
    _fit(s2_tiny("train.epochs=2"), clips, out, resume=True)
    assert "pre-training finished earlier" in capsys.readouterr().out
    assert (out / "pretrain" / "last.ckpt").read_bytes() == pretrain_ckpt  # not pre-trained again
    assert torch.load(out / "last.ckpt", map_location="cpu", weights_only=False)["epoch"] == 1  # 2nd epoch ran
    assert (out / MODEL_FILE).is_file()


def test_init_from_loads_another_runs_encoder(pretrained_run: Path, tiny_manifest: Path, tmp_path: Path, capsys):
    out = tmp_path / "fan"
    _fit(s2_tiny(f"train.init_from={pretrained_run}", "train.optimizer.lr=1e-12"), _fan_clips(tiny_manifest), out)
    assert "train.init_from" in capsys.readouterr().out and not (out / "pretrain").exists()
    pre = _state(pretrained_run / "models" / "fan" / "pretrain" / MODEL_FILE)
    mine = _state(out / MODEL_FILE)
    torch.testing.assert_close(mine["standardizer.mean"], pre["standardizer.mean"])
    for key, value in _conv_weights(pre).items():
        torch.testing.assert_close(mine[key], value, rtol=0, atol=1e-8)


def test_init_from_without_a_compatible_encoder_is_explained(pretrained_run: Path, tiny_manifest: Path, tmp_path):
    clips = _fan_clips(tiny_manifest)
    with pytest.raises(ConfigError, match=r"has no encoder for unit 'fan'.*set it to null"):
        _fit(s2_tiny(f"train.init_from={tmp_path / 'empty'}"), clips, tmp_path / "a")
    with pytest.raises(ConfigError, match=r"not compatible with this recipe \(backbone is .*set train.init_from=null"):
        _fit(s2_tiny(f"train.init_from={pretrained_run}", "backbone.embed_dim=16"), clips, tmp_path / "b")


@pytest.mark.slow
def test_s2_run_end_to_end(tiny_data: Path, tmp_path: Path, capsys) -> None:
    """prepare -> pre-train -> fine-tune -> extract (mean of windows) -> 1-NN -> evaluate; a rerun trains nothing."""
    from soundsentry import stages

    E2E = [*S2_TINY, "train.pretrain.epochs=1"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = stages.run("s2_vicreg_mobilenetv2_demo", tiny_data, tmp_path, E2E)
    assert list(results) == ["knn_k=1"]
    assert (tmp_path / "results" / "knn_k=1" / "results.csv").is_file()
    assert load_recipe(tmp_path / "config.yaml").train.pretrain is not None  # the resolved config
    units = sorted(p.name for p in (tmp_path / "models").iterdir())
    assert units == ["fan", "motor", "slider", "valve"]
    for unit in units:
        assert (tmp_path / "models" / unit / "pretrain" / MODEL_FILE).is_file()
    with np.load(tmp_path / "embeddings.npz") as data:
        assert data["clip_embeddings"].shape[1] == 32
        assert np.all(np.bincount(data["chunk_clip"]) == 2)  # 2 context windows per 0.5 s clip

    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stages.run("s2_vicreg_mobilenetv2_demo", tiny_data, tmp_path, E2E)
    assert capsys.readouterr().out.count("model.pt exists, skipped (resume)") == len(units)


# --- issue 16, item 3: eq. 1's reduction is a recipe key of both steps -----------------------------------------
class _TinyEncoder(torch.nn.Module):
    """(N, 1, 4, 3) -> (N, 5), enough for the modules' loss wiring."""

    embed_dim = 5

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(12, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.fc(x.flatten(1)))


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_recipe_reductions_reach_both_losses(reduction: str) -> None:
    from soundsentry.ssl.vicreg import finetune_step
    from soundsentry.training.modelfile import build_head
    from soundsentry.training.module import EmbeddingModel, PairMixupModule
    from soundsentry.training.pretrain import VICRegModule

    r = s2_tiny(f"train.pretrain.reduction={reduction}", f"train.geometric_reduction={reduction}")
    model = EmbeddingModel(_TinyEncoder(), None)
    assert r.train.pretrain is not None
    assert VICRegModule(model, r.train.pretrain, batches_per_epoch=1).loss_fn.reduction == reduction

    head = build_head(r.head, 5, 2)
    module = PairMixupModule(model, head, r.train, batches_per_epoch=1)
    torch.manual_seed(0)
    xa, xb = torch.randn(4, 1, 4, 3), torch.randn(4, 1, 4, 3)
    ta = torch.nn.functional.one_hot(torch.tensor([0, 1, 0, 1]), 2).float()
    lam = torch.tensor([0.3, 0.6, 0.5, 0.8])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a trainer
        loss = module.training_step((xa, xb, ta, ta.flip(0), lam), 0)
    for other, same in (("sum", reduction == "sum"), ("mean", reduction == "mean")):
        expected = finetune_step(
            model, head.classifier, xa, xb, ta, ta.flip(0), lam=lam, geometric_weight=1.0, reduction=other
        )["loss"]
        assert torch.isclose(loss, expected).item() is same


@pytest.mark.parametrize("name", ["s2_vicreg_mobilenetv2", "s2_vicreg_mobilenetv2_demo"])
def test_s2_recipes_keep_vicregs_mean_for_eq1(name: str) -> None:
    """Eq. 1 as written (``sum``) collapses the pre-training at the document's weights (BENCHMARKS.md, issue 16);
    the recipes keep VICReg's mean and offer the sum as ``reduction=sum`` / ``geometric_reduction=sum``."""
    t = load_recipe(name).train
    assert t.pretrain is not None and (t.pretrain.reduction, t.geometric_reduction) == ("mean", "mean")
    summed = load_recipe(name, ["train.pretrain.reduction=sum", "train.geometric_reduction=sum"]).train
    assert summed.pretrain is not None and (summed.pretrain.reduction, summed.geometric_reduction) == ("sum", "sum")
