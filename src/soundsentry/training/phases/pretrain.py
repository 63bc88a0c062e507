"""Phases that give the encoder its starting weights before the classifier trains: S2's self-supervised
pre-training (``train.pretrain``) and ``train.init_from`` (another run's encoder). Either re-seeds with
``train.seed + 2`` afterwards, so the fine-tuning that follows is the same after a resume."""

from __future__ import annotations

import torch

from soundsentry.errors import ConfigError
from soundsentry.training.data import PairDataset, PairSampler
from soundsentry.training.loop import fit, indices, make_loader
from soundsentry.training.modelfile import MODEL_FILE
from soundsentry.training.pretrain import PRETRAIN_DIR, VICRegModule, load_init_encoder, save_pretrained
from soundsentry.training.unit import Phase, UnitRun, seed


class InitFrom(Phase):
    """The encoder of the same unit from the run folder ``train.init_from`` (its pre-trained one if any)."""

    name = "init_from"

    def setup(self, run: UnitRun) -> None:
        run.new_model()

    def fit(self, run: UnitRun) -> None:
        source = load_init_encoder(run.recipe, run.unit, run.new_model(), run.shape)
        print(f"[{run.unit}] encoder from {source} (train.init_from); no pre-training here")
        seed(run.recipe.train.seed + 2)


class Pretrain(Phase):
    """VICReg-with-mixup pre-training on every training chunk of the unit (source and target, no labels), in
    ``<unit>/pretrain/``; a finished pre-training (its ``model.pt``) is loaded, not redone, when resuming."""

    name = "pretrain"

    def setup(self, run: UnitRun) -> None:
        run.new_model()

    def fit(self, run: UnitRun) -> None:
        t = run.recipe.train
        model = run.new_model()
        done = run.out_dir / PRETRAIN_DIR / MODEL_FILE
        if run.resume and done.is_file():
            model.load_state_dict(torch.load(done, map_location="cpu", weights_only=False)["state_dict"])
            print(f"[{run.unit}] pre-training finished earlier ({done}); continuing with fine-tuning")
            seed(t.seed + 2)
            return
        p = t.pretrain
        if p is None:
            raise ConfigError(f"[{run.unit}] the pretrain phase needs train.pretrain (epochs, optimizer, ...)")
        labels = torch.zeros(len(run.cache.chunks), dtype=torch.long)  # pre-training reads no labels
        dataset = PairDataset(run.cache.chunks, labels, 1)
        pool = indices(run.train_chunk)
        sampler = PairSampler(pool, pool, t.seed, alpha=p.mixup_alpha)
        loader = make_loader(run.recipe, dataset, sampler, p.batch_size)
        module = VICRegModule(model, p, batches_per_epoch=len(loader))
        print(f"[{run.unit}] self-supervised pre-training: {p.epochs} epochs of {len(loader)} batches")
        trainer, selected = fit(run.recipe, module, loader, None, done.parent, resume=run.resume, epochs=p.epochs)
        if trainer.is_global_zero:
            save_pretrained(done, module, run.meta(f"{PRETRAIN_DIR}/{selected.name}"))
        seed(t.seed + 2)
