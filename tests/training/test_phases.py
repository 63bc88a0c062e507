"""Training phases: what each recipe resolves to, and a new phase as one class (a no-head reconstruction phase,
the shape of an autoencoder baseline) run through the shared loop into a readable ``model.pt``."""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from torch import Tensor, nn

from soundsentry.config import load_recipe
from soundsentry.data.manifest import read_manifest
from soundsentry.training.data import ChunkDataset, EpochShuffleSampler, training_units
from soundsentry.training.loop import fit, make_loader
from soundsentry.training.modelfile import MODEL_FILE, build_embedding_model, load_embedding_model
from soundsentry.training.phases import resolve_phases
from soundsentry.training.unit import Fitted, Phase, UnitRun, prepare_unit, run_unit


def _names(recipe, **kwargs) -> list[str]:
    return [p.name for p in resolve_phases(recipe, **kwargs)]


def test_recipes_resolve_to_their_phases(tmp_path: Path) -> None:
    assert _names(load_recipe("s1_arcface_mfn_demo")) == ["classifier"]
    assert _names(load_recipe("s4_demo_arcface_integrated")) == ["classifier"]
    s2 = "s2_vicreg_mobilenetv2_demo"
    assert _names(load_recipe(s2)) == ["pretrain", "classifier"]
    assert _names(load_recipe(s2, ["train.pretrain=null"])) == ["classifier"]
    assert _names(load_recipe(s2, [f"train.init_from={tmp_path}"])) == ["init_from", "classifier"]
    assert _names(load_recipe("s3_scadacos_resnet_demo")) == ["source_step", "target_finetune"]
    transfer = load_recipe("s4_demo_arcface_transfer")
    assert _names(transfer, integrated=tmp_path / MODEL_FILE) == ["transfer"]


class _Reconstruction(pl.LightningModule):
    """Embeds a chunk and reconstructs its mean frame (C * F values) with MSE: no classes, no head."""

    def __init__(self, model: nn.Module, width: int) -> None:
        super().__init__()
        self.model = model
        self.decoder = nn.Linear(model.embed_dim, width)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, _ = batch
        loss = nn.functional.mse_loss(self.decoder(self.model(x)), x.mean(dim=-1).flatten(1))
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(x))
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


class _ReconstructionPhase(Phase):
    name = "reconstruction"

    def setup(self, run: UnitRun) -> None:
        run.new_model()

    def fit(self, run: UnitRun) -> None:
        chunks = run.cache.chunks[run.train_chunk]
        dataset = ChunkDataset(chunks, run.chunk_labels[run.train_chunk])
        loader = make_loader(run.recipe, dataset, EpochShuffleSampler(len(dataset), run.recipe.train.seed), 16)
        module = _Reconstruction(run.model, chunks.shape[1] * chunks.shape[2])
        trainer, selected = fit(run.recipe, module, loader, None, run.out_dir, resume=run.resume)
        run.fitted = Fitted(trainer, selected, selected.name)


def test_a_new_phase_is_one_class_run_through_the_shared_loop(tiny_manifest: Path, tiny_recipe, tmp_path) -> None:
    recipe = tiny_recipe("train.epochs=1", "train.scheduler={name: none}")
    clips = training_units(read_manifest(tiny_manifest), "per_machine_type")["fan"]
    run = prepare_unit(recipe, "fan", clips, tmp_path / "fan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_unit(run, [_ReconstructionPhase()])
    assert (tmp_path / "fan" / "last.ckpt").is_file() and (tmp_path / "fan" / "logs" / "metrics.csv").is_file()
    payload = torch.load(result.model_path, map_location="cpu", weights_only=False)
    assert payload["head_state_dict"] == {} and payload["checkpoint"] == "last.ckpt"
    assert not any(k.startswith("decoder") for k in payload["state_dict"])
    model, meta = load_embedding_model(result.model_path)
    assert meta["unit"] == "fan" and meta["chunk_shape"] == list(run.shape)
    pl.seed_everything(recipe.train.seed, verbose=False)
    fresh = build_embedding_model(recipe, run.shape).state_dict()
    trained = model.state_dict()
    assert any(not torch.equal(fresh[k], trained[k]) for k in fresh if k.startswith("backbone")), "nothing trained"
    assert model(run.cache.chunks[:3]).shape == (3, model.embed_dim)


def test_phases_that_never_fit_are_an_error(tiny_manifest: Path, tiny_recipe, tmp_path: Path) -> None:
    clips = training_units(read_manifest(tiny_manifest), "per_machine_type")["fan"]
    run = prepare_unit(tiny_recipe(), "fan", clips, tmp_path / "fan")

    class SetupOnly(Phase):
        name = "setup_only"

        def setup(self, run: UnitRun) -> None:
            run.new_model()

        def fit(self, run: UnitRun) -> None:
            pass

    with pytest.raises(RuntimeError, match="setup_only"):
        run_unit(run, [SetupOnly()])
