"""S5's four-stage training workflow (section 6), in plain PyTorch.

1. ``focal``: the whole classifier with focal loss (alpha 1, gamma 2), cosine-decay restarts 1e-2 .. 1e-3.
2. ``arcface_head``: the last 3 layers cut, the rest frozen, an ArcFace head (s = 30, m = 0.5 / 0.35) trained on
   the full training split without augmentation.
3. ``arcface_all``: everything unfrozen and trained with ArcFace.
4. ``retrain_top``: the ArcFace head dropped, the rest frozen, the last 3 layers re-added and trained on the balanced
   set with all augmentations, exponential learning-rate decay.

Which layers are "the last 3" is ``train.cut_layers``: ``11-13`` (default; Table 1's BN, Dense C and softmax, so
ArcFace reads the 64-d output of the Dense 64 layer kept from stage 1, and stage 4 re-adds BN + Dense C) or
``10-12`` (Dense 64, BN, Dense C: ArcFace gets a new BN + Dense 64 neck, stage 4 a new Dense 64, BN, Dense C).

SGD without momentum, batch 24. Each epoch is evaluated on the evaluation split and the best epoch is kept (S5:
"chose the one with the highest accuracy on the test split"). A frozen body runs in eval mode (its batch norm
statistics frozen too, as a frozen Keras layer). Every stage writes ``last.pt`` after each epoch and ``best.pt``;
``done.json`` marks a finished stage, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from soundsentry.heads.margin import ArcFace, focal_loss
from soundsentry.io import atomic_output, atomic_write_text
from soundsentry.scenes.augment import mixup, spec_augment, temporal_shuffle
from soundsentry.scenes.config import AugmentConfig, SceneRecipe, StageConfig
from soundsentry.scenes.models import SceneClassifier, arcface_neck, classifier_top


def stage_lr(stage: StageConfig, epoch: int, step: int) -> float:
    """Learning rate at ``epoch`` (0-based) and global optimiser ``step`` of the stage."""
    if stage.schedule == "cosine_restarts":
        phase = (epoch % stage.T_0) / stage.T_0
        return stage.lr_min + 0.5 * (stage.lr - stage.lr_min) * (1.0 + math.cos(math.pi * phase))
    if stage.schedule == "exponential":
        return stage.lr * math.exp(-stage.decay * step)
    return stage.lr


@dataclass
class SceneModel:
    """The networks of the workflow: the classifier (body + top) and, for ArcFace stages, neck and head."""

    classifier: SceneClassifier
    neck: nn.Module | None = None
    head: nn.Module | None = None

    def modules(self) -> dict[str, nn.Module]:
        out: dict[str, nn.Module] = {"classifier": self.classifier}
        if self.neck is not None and self.head is not None:
            out.update(neck=self.neck, head=self.head)
        return out

    def state_dict(self) -> dict[str, dict[str, Tensor]]:
        return {k: {n: t.detach().clone() for n, t in m.state_dict().items()} for k, m in self.modules().items()}

    def load_state_dict(self, state: dict[str, dict[str, Tensor]]) -> None:
        for k, m in self.modules().items():
            m.load_state_dict(state[k])


def _uses_arcface(kind: str) -> bool:
    return kind in ("arcface_head", "arcface_all")


def _frozen_part(model: SceneModel, cut_layers: str) -> list[nn.Module]:
    """What stages 2 and 4 freeze: the body, plus the kept Dense 64 (layer 10) when only layers 11-13 are cut."""
    return [model.classifier.body] + ([model.classifier.top[0]] if cut_layers == "11-13" else [])


def begin_stage(
    model: SceneModel, stage: StageConfig, num_classes: int, hidden: int, cut_layers: str = "11-13"
) -> list[nn.Parameter]:
    """Attach / drop the stage's layers and return the parameters it trains.

    New layers are put on the device of the body's parameters.
    """
    body = model.classifier.body
    device = next(body.parameters()).device
    top = model.classifier.top
    if stage.kind == "arcface_head":
        # 11-13: ArcFace on the Dense 64 output (layers 8-10: "a batch normalization and a fully connected layer").
        model.neck = top[0] if cut_layers == "11-13" else arcface_neck(body.embed_dim, hidden).to(device)
        model.head = ArcFace(hidden, num_classes, margin=stage.margin, scale=stage.scale).to(device)
    if stage.kind == "retrain_top":
        model.neck = model.head = None
        if cut_layers == "11-13":
            fresh = classifier_top(body.embed_dim, num_classes, hidden)
            model.classifier.top = nn.Sequential(top[0], fresh[1], fresh[2]).to(device)
        else:
            model.classifier.top = classifier_top(body.embed_dim, num_classes, hidden).to(device)
    frozen = stage.kind in ("arcface_head", "retrain_top")
    kept = {id(p) for m in _frozen_part(model, cut_layers) for p in m.parameters()} if frozen else set()
    for p in model.classifier.parameters():
        p.requires_grad_(id(p) not in kept)
    if stage.kind == "focal":
        return list(model.classifier.parameters())
    if stage.kind == "arcface_head":
        trained = [*model.neck.parameters(), *model.head.parameters()]
        return [p for p in dict.fromkeys(trained) if id(p) not in kept]
    if stage.kind == "arcface_all":
        return list(dict.fromkeys([*body.parameters(), *model.neck.parameters(), *model.head.parameters()]))
    return [p for p in model.classifier.top.parameters() if id(p) not in kept]


def set_train_mode(model: SceneModel, stage: StageConfig, cut_layers: str = "11-13") -> None:
    """Train mode for what the stage trains; a frozen part stays in eval mode."""
    for m in model.modules().values():
        m.train()
    if stage.kind in ("arcface_head", "retrain_top"):
        for m in _frozen_part(model, cut_layers):
            m.eval()


def stage_loss(model: SceneModel, stage: StageConfig, x: Tensor, y: Tensor) -> Tensor:
    """The stage's loss on features ``x: (B, C, F, T)`` and soft labels ``y: (B, K)``."""
    if _uses_arcface(stage.kind):
        assert model.neck is not None and model.head is not None  # set by begin_stage
        return model.head(model.neck(model.classifier.body(x)), y)
    logits = model.classifier(x)
    if stage.kind == "focal":
        return focal_loss(logits, y, stage.focal_alpha, stage.focal_gamma)
    return -(y * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def predict_logits(model: SceneModel, x: Tensor, arcface: bool = False, batch: int = 64) -> Tensor:
    """Logits ``(N, K)`` in eval mode: the classifier's, or the ArcFace head's ``s * cos`` (no margin)."""
    for m in model.modules().values():
        m.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = x[i : i + batch]
            if arcface and model.neck is not None and model.head is not None:
                out.append(model.head.logits(model.neck(model.classifier.body(xb))))
            else:
                out.append(model.classifier(xb))
    return torch.cat(out)


def augment_batch(x: Tensor, y: Tensor, aug: AugmentConfig, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """S5's feature-domain augmentations: mixup, SpecAugment, random temporal shuffle."""
    if aug.mixup_alpha > 0:
        x, y = mixup(x, y, rng, aug.mixup_alpha)
    if aug.spec_augment > 0:
        x = spec_augment(x, rng, aug.spec_augment)
    if aug.temporal_shuffle:
        x = temporal_shuffle(x, rng)
    return x, y


def _save(path: Path, obj: object) -> None:
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


def run_stage(
    model: SceneModel,
    stage: StageConfig,
    index: int,
    recipe: SceneRecipe,
    train_x: Tensor,
    train_y: Tensor,
    eval_x: Tensor,
    eval_y: Tensor,
    out_dir: Path,
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """Train one stage, keep its best epoch (loaded into ``model``), write its checkpoints; resumes if it can.

    Args:
        train_x: (N, C, F, T) training features (originals and augmented copies as the stage asks).
        train_y: (N,) class ids.
        eval_x, eval_y: features and ids the best epoch is chosen on (the evaluation split, or held-out
            training clips with ``train.select_on: holdout``).
        out_dir: the stage's folder.
    """
    num_classes = model.classifier.num_classes
    torch.manual_seed(recipe.seed * 1000 + index)  # initialisation of the layers the stage adds
    params = begin_stage(model, stage, num_classes, recipe.train.hidden, str(recipe.train.cut_layers))
    done = out_dir / "done.json"
    if done.is_file():
        model.load_state_dict(torch.load(out_dir / "best.pt", weights_only=True))
        info = json.loads(done.read_text())
        log(f"stage {index} ({stage.kind}): done, best epoch {info['best_epoch']} (acc {info['best_accuracy']:.3f})")
        return info
    opt = torch.optim.SGD(params, lr=stage.lr, momentum=recipe.train.momentum)
    start, best_acc, best_epoch, step = 0, -1.0, -1, 0
    if (out_dir / "last.pt").is_file():
        ckpt = torch.load(out_dir / "last.pt", weights_only=False)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        start, best_acc, best_epoch, step = ckpt["epoch"] + 1, ckpt["best_accuracy"], ckpt["best_epoch"], ckpt["step"]
        log(f"stage {index} ({stage.kind}): resuming at epoch {start}")
    y_onehot = F.one_hot(train_y, num_classes).float()
    bs = recipe.train.batch_size
    for epoch in range(start, stage.epochs):
        rng = np.random.default_rng([recipe.seed, index, epoch])
        torch.manual_seed(int(rng.integers(2**31)))
        set_train_mode(model, stage, str(recipe.train.cut_layers))
        order = rng.permutation(len(train_x))
        total = 0.0
        for b in range(0, len(order), bs):
            idx = torch.as_tensor(order[b : b + bs])
            if len(idx) < 2:  # batch norm needs two items
                continue
            xb, yb = train_x[idx], y_onehot[idx]
            if stage.augment:
                xb, yb = augment_batch(xb, yb, recipe.augment, rng)
            for g in opt.param_groups:
                g["lr"] = stage_lr(stage, epoch, step)
            loss = stage_loss(model, stage, xb, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            total += float(loss.detach()) * len(idx)
        pred = predict_logits(model, eval_x, arcface=_uses_arcface(stage.kind)).argmax(dim=1)
        acc = float((pred == eval_y).float().mean())
        log(
            f"stage {index} ({stage.kind}) epoch {epoch + 1}/{stage.epochs}: loss {total / len(order):.4f}, "
            f"selection acc {acc:.3f}"
        )
        if acc > best_acc:
            best_acc, best_epoch = acc, epoch
            _save(out_dir / "best.pt", model.state_dict())
        _save(
            out_dir / "last.pt",
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "epoch": epoch,
                "step": step,
                "best_accuracy": best_acc,
                "best_epoch": best_epoch,
            },
        )
    model.load_state_dict(torch.load(out_dir / "best.pt", weights_only=True))
    info = {"kind": stage.kind, "best_epoch": best_epoch + 1, "best_accuracy": best_acc, "epochs": stage.epochs}
    atomic_write_text(done, json.dumps(info, indent=2) + "\n")
    return info
