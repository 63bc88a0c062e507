"""S1 speed: feature extraction, bare network vs full training step, extract + score.

Measures on the machine it runs on (CPU, or the GPU when there is one and ``--device cuda``):

* features: clips/s of load + S1 front-end (STFT 2046/512 magnitude, 32-frame chunks) over real generated clips;
* network: samples/s of forward + ArcFace loss + backward + SGD step on random tensors of the recipe's chunk shape
  (net 1: 1x1024x32, net 2: 4x256x32), the upper bound for training;
* training: samples/s of the same step fed by the toolkit's data path (cached chunks -> DataLoader -> Lightning),
  which shows whether the data pipeline is a bottleneck (it should be close to the bare network);
* extract + score: clips/s of embedding every test clip and scoring it with the k-NN cosine back-end.

    .venv/bin/python bench/speed_s1.py --data /tmp/synth   # a set written by `soundsentry synth`
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from soundsentry.config import load_recipe
from soundsentry.data.layouts import parse_dataset
from soundsentry.scoring import score_clips
from soundsentry.training.data import ChunkDataset, EpochShuffleSampler
from soundsentry.training.extract import embed_clips
from soundsentry.training.features import build_feature_pipeline, compute_chunks
from soundsentry.training.module import ExecutionOptions, MarginClassifierModule
from soundsentry.training.trainer import build_embedding_model, build_head
from soundsentry.types import Split


def _execution_options(recipe) -> ExecutionOptions:
    return ExecutionOptions(channels_last=recipe.train.channels_last, compile=recipe.train.compile)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bare_step_rate(recipe, shape, device: str, steps: int) -> tuple[float, float]:
    """Samples/s of forward + loss + backward + SGD on random chunks, and the seconds of the two warm-up steps
    (where ``train.compile`` compiles)."""
    model = build_embedding_model(recipe, shape)
    model.standardizer = torch.nn.Identity()  # random inputs are standardised already
    head = build_head(recipe.head, model.embed_dim, 4)
    module = MarginClassifierModule(model, head, recipe.train, batches_per_epoch=1).to(device)
    _execution_options(recipe).setup(None, module, "fit")  # train.channels_last / train.compile, as in training
    model, head = module.model.train(), module.head
    opt = torch.optim.SGD([*model.parameters(), *head.parameters()], lr=0.01, momentum=0.9)
    B = recipe.train.batch_size
    x, y = torch.randn(B, *shape, device=device), torch.randint(0, 4, (B,), device=device)
    warm_start = time.perf_counter()
    for i in range(steps + 2):  # two warm-up steps
        if i == 2:
            warm = time.perf_counter() - warm_start
            _sync(device)
            start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        head(model(x), y).backward()
        opt.step()
    _sync(device)
    return steps * B / (time.perf_counter() - start), warm


class _Timer:
    """Lightning callback: samples/s over the training batches after the first (warm-up) one."""

    def __init__(self) -> None:
        self.samples, self.start, self.seen = 0, None, 0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:  # noqa: ANN001
        if self.seen == 1:
            self.start = time.perf_counter()
        if self.seen >= 1:
            self.samples += len(batch[1])
        self.seen += 1

    def on_train_end(self, trainer, module) -> None:  # noqa: ANN001
        self.rate = self.samples / (time.perf_counter() - self.start)


def lightning_rate(recipe, cache, device: str, steps: int) -> float:
    import lightning.pytorch as pl

    shape = tuple(cache.chunks.shape[1:])
    model = build_embedding_model(recipe, shape)
    model.standardizer.fit(cache.chunks)
    head = build_head(recipe.head, model.embed_dim, 4)
    labels = torch.randint(0, 4, (len(cache.chunks),))
    data = ChunkDataset(cache.chunks, labels)
    loader = torch.utils.data.DataLoader(
        data, batch_size=recipe.train.batch_size, sampler=EpochShuffleSampler(len(data), 0), drop_last=True
    )
    module = MarginClassifierModule(model, head, recipe.train, batches_per_epoch=len(loader))
    timer = type("T", (_Timer, pl.Callback), {})()
    trainer = pl.Trainer(
        max_steps=steps + 1,
        accelerator="gpu" if device.startswith("cuda") else "cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer, _execution_options(recipe)],
    )
    trainer.fit(module, train_dataloaders=loader)
    return timer.rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per measurement")
    parser.add_argument("--clips", type=int, default=96, help="clips for the feature / extract measurements")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="recipe override for both networks, e.g. --set train.channels_last=true --set train.compile=true",
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    clips = parse_dataset(args.data).clips
    train = [c for c in clips if c.split is Split.TRAIN][: args.clips]
    rows = []
    for name in ("s1_arcface_mfn_net1", "s1_arcface_mfn_net2"):
        recipe = load_recipe(name, args.set)
        pipeline = build_feature_pipeline(recipe).to(args.device)
        start = time.perf_counter()
        cache = compute_chunks(train, pipeline, recipe.features)
        feat_rate = len(train) / (time.perf_counter() - start)
        shape = tuple(cache.chunks.shape[1:])
        bare, warm = bare_step_rate(recipe, shape, args.device, args.steps)
        full = lightning_rate(recipe, cache, args.device, args.steps)
        model = build_embedding_model(recipe, shape)
        model.standardizer.fit(cache.chunks)
        start = time.perf_counter()
        with torch.no_grad():
            emb = embed_clips(model, pipeline, train, recipe.features, device=args.device)
        # every other clip plays a test clip, scored against the rest of its section
        fake = [c if i % 2 else dataclasses.replace(c, split=Split.TEST) for i, c in enumerate(train)]
        score_clips(emb.clip.astype(np.float64), fake, "knn_cosine:k=10")
        ext_rate = len(train) / (time.perf_counter() - start)
        rows.append((name, shape, feat_rate, bare, warm, full, ext_rate))
    print(f"device: {args.device}; torch {torch.__version__}; threads {torch.get_num_threads()}; set {args.set}")
    print(
        "| recipe | chunk (C, F, T) | features clips/s | bare step samples/s | warm-up s | training samples/s | ",
        end="",
    )
    print("extract+score clips/s |")
    print("|---|---|---|---|---|---|---|")
    for name, shape, feat, bare, warm, full, ext in rows:
        print(f"| {name} | {shape} | {feat:.1f} | {bare:.1f} | {warm:.1f} | {full:.1f} | {ext:.1f} |")


if __name__ == "__main__":
    main()
