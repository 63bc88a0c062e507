"""S4 loss family (softmax, CosFace, ArcFace, focal) against independent numpy computations; smoothing; mixup."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from soundsentry.errors import ConfigError
from soundsentry.heads.margin import ArcFace, CosFace, FocalLoss, MarginHead, SoftmaxHead
from soundsentry.registry import HEADS

B, D, C = 8, 16, 5


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(C)[labels]


def _smooth(y: np.ndarray, eps: float) -> np.ndarray:
    return (1 - eps) * y + eps / C


def ref_logits(kind: str, emb: np.ndarray, head, y: np.ndarray) -> np.ndarray:
    """Logits written from each paper's formula; ``y`` weights the margin of each class."""
    w = _np(head.weight)
    if kind in ("softmax", "focal"):
        return emb @ w.T + _np(head.bias)
    cos = _unit(emb) @ _unit(w).T
    if kind == "cosface":
        return 30.0 * (cos - 0.05 * y)  # LMCL: s (cos theta_y - m)
    theta = np.arccos(np.clip(cos, -1, 1))
    return 30.0 * (cos + y * (np.cos(theta + 0.05) - cos))  # ArcFace: s cos(theta_y + m)


def ref_loss(kind: str, emb: np.ndarray, head, y: np.ndarray, eps: float, alpha=1.0, gamma=1.0) -> float:
    log_p = _log_softmax(ref_logits(kind, emb, head, y))
    t = _smooth(y, eps)
    if kind == "focal":
        return float((-alpha * t * (1 - np.exp(log_p)) ** gamma * log_p).sum(axis=1).mean())
    return float(-(t * log_p).sum(axis=1).mean())


HEAD_CLASSES = {"softmax": SoftmaxHead, "cosface": CosFace, "arcface": ArcFace, "focal": FocalLoss}


def _setup(kind: str, eps: float, seed: int = 0):
    torch.manual_seed(seed)
    head = HEADS.create(kind, embed_dim=D, num_classes=C, label_smoothing=eps).double()
    emb = torch.randn(B, D, dtype=torch.float64)
    labels = torch.randint(0, C, (B,))
    return head, emb, labels


@pytest.mark.parametrize("eps", [0.0, 0.05])
@pytest.mark.parametrize("kind", sorted(HEAD_CLASSES))
def test_hard_labels_match_reference(kind: str, eps: float) -> None:
    head, emb, labels = _setup(kind, eps)
    assert isinstance(head, HEAD_CLASSES[kind]) and isinstance(head, MarginHead)
    loss = head(emb, labels)
    expected = ref_loss(kind, _np(emb), head, _one_hot(labels.numpy()), eps)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("eps", [0.0, 0.05])
@pytest.mark.parametrize("kind", sorted(HEAD_CLASSES))
def test_mixup_targets_match_reference(kind: str, eps: float) -> None:
    head, emb, labels = _setup(kind, eps, seed=1)
    other = torch.roll(labels, 1)
    lam = 0.3
    y = lam * F.one_hot(labels, C).double() + (1 - lam) * F.one_hot(other, C).double()
    loss = head(emb, y)
    assert loss.item() == pytest.approx(ref_loss(kind, _np(emb), head, _np(y), eps), rel=1e-6)


@pytest.mark.parametrize("eps", [0.0, 0.05])
def test_softmax_equals_torch_cross_entropy_with_label_smoothing(eps: float) -> None:
    head, emb, labels = _setup("softmax", eps)
    logits = F.linear(emb, head.weight, head.bias)
    expected = F.cross_entropy(logits, labels, label_smoothing=eps)
    torch.testing.assert_close(head(emb, labels), expected)
    torch.testing.assert_close(head.logits(emb), logits)  # inference logits: W x + b, no scale


def test_label_smoothing_hand_case() -> None:
    # Two classes, logits (0, 0): p = 1/2 each, so the loss is log 2 whatever the (smoothed) target.
    head = SoftmaxHead(embed_dim=2, num_classes=2, label_smoothing=0.05).double()
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
    assert head(torch.randn(3, 2, dtype=torch.float64), torch.tensor([0, 1, 0])).item() == pytest.approx(np.log(2))
    # Logits (log 3, 0): p = (3/4, 1/4); target 0 smoothed by 0.1 -> (0.95, 0.05).
    head = SoftmaxHead(embed_dim=2, num_classes=2, label_smoothing=0.1).double()
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
        head.bias.zero_()
    loss = head(torch.tensor([[np.log(3), 0.0]], dtype=torch.float64), torch.tensor([0]))
    assert loss.item() == pytest.approx(-(0.95 * np.log(0.75) + 0.05 * np.log(0.25)))


def test_smoothing_leaves_margin_on_the_true_class() -> None:
    # The margin follows the unsmoothed target: same logits with and without smoothing.
    head, emb, labels = _setup("arcface", 0.05)
    plain = ArcFace(D, C).double()
    plain.load_state_dict(head.state_dict())
    torch.testing.assert_close(head.logits(emb, labels), plain.logits(emb, labels))
    assert head(emb, labels).item() != pytest.approx(plain(emb, labels).item())


def test_focal_reduces_to_cross_entropy_and_downweights_easy_examples() -> None:
    torch.manual_seed(0)
    emb, labels = torch.randn(B, D, dtype=torch.float64), torch.randint(0, C, (B,))
    ce = SoftmaxHead(D, C).double()
    focal0 = FocalLoss(D, C, alpha=1.0, gamma=0.0).double()
    focal0.load_state_dict(ce.state_dict())
    torch.testing.assert_close(focal0(emb, labels), ce(emb, labels))
    focal = FocalLoss(D, C, alpha=0.5, gamma=2.0).double()
    focal.load_state_dict(ce.state_dict())
    expected = ref_loss("focal", _np(emb), focal, _one_hot(labels.numpy()), 0.0, alpha=0.5, gamma=2.0)
    assert focal(emb, labels).item() == pytest.approx(expected, rel=1e-6)
    assert focal(emb, labels).item() < ce(emb, labels).item()


def test_defaults_are_the_documented_ones() -> None:
    arc, cos = HEADS.create("arcface", embed_dim=D, num_classes=C), HEADS.create("cosface", embed_dim=D, num_classes=C)
    assert (arc.scale, arc.margin, cos.scale, cos.margin) == (30.0, 0.05, 30.0, 0.05)
    focal = HEADS.create("focal", embed_dim=D, num_classes=C)
    assert (focal.alpha, focal.gamma, focal.label_smoothing) == (1.0, 1.0, 0.0)
    assert HEADS.create("softmax", embed_dim=D, num_classes=C).label_smoothing == 0.0


@pytest.mark.parametrize("kind", sorted(HEAD_CLASSES))
def test_gradients_reach_embeddings_and_weights(kind: str) -> None:
    head, emb, labels = _setup(kind, 0.05)
    emb.requires_grad_(True)
    head(emb, labels).backward()
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())


def test_errors() -> None:
    with pytest.raises(ConfigError, match=r"label_smoothing must lie in \[0, 1\), got 1.0"):
        CosFace(D, C, label_smoothing=1.0)
    with pytest.raises(ConfigError, match="alpha > 0 and gamma >= 0"):
        FocalLoss(D, C, gamma=-1.0)
    with pytest.raises(ConfigError, match=r"SoftmaxHead expects embeddings \(B, 16\), got \(2, 3\)"):
        SoftmaxHead(D, C)(torch.randn(2, 3), torch.tensor([0, 1]))
