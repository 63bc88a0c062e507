"""ArcFace head against an independent numpy computation of S1's equation 1 and of the soft-target definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soundsentry.errors import ConfigError
from soundsentry.heads.margin import ArcFace, MarginHead
from soundsentry.registry import HEADS

B, D, C = 8, 16, 5


def reference_loss(emb: np.ndarray, weight: np.ndarray, y: np.ndarray, m: float, s: float) -> float:
    """Written from the formulas: normalise, angles, add m to the target angles (weighted by y), cos, s, CE."""
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    w = weight / np.linalg.norm(weight, axis=1, keepdims=True)
    theta = np.arccos(np.clip(e @ w.T, -1.0, 1.0))
    logits = s * (np.cos(theta) + y * (np.cos(theta + m) - np.cos(theta)))
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-(y * log_softmax).sum(axis=1).mean())


def reference_hard_loss(emb: np.ndarray, weight: np.ndarray, labels: np.ndarray, m: float, s: float) -> float:
    """Equation 1 of S1 literally: exp(s cos(theta_y + m)) over itself plus exp(s cos theta_j), j != y."""
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    w = weight / np.linalg.norm(weight, axis=1, keepdims=True)
    theta = np.arccos(np.clip(e @ w.T, -1.0, 1.0))
    losses = []
    for i, yi in enumerate(labels):
        target = np.exp(s * np.cos(theta[i, yi] + m))
        others = sum(np.exp(s * np.cos(theta[i, j])) for j in range(weight.shape[0]) if j != yi)
        losses.append(-np.log(target / (target + others)))
    return float(np.mean(losses))


@pytest.fixture()
def data() -> tuple[ArcFace, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    head = ArcFace(embed_dim=D, num_classes=C).double()
    emb = torch.randn(B, D, dtype=torch.float64)
    labels = torch.randint(0, C, (B,))
    return head, emb, labels


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


def test_defaults_and_registry() -> None:
    head = HEADS.create("arcface", embed_dim=D, num_classes=C)
    assert isinstance(head, ArcFace) and isinstance(head, MarginHead)
    assert head.margin == 0.05 and head.scale == 30.0


def test_hard_labels_match_equation_1(data) -> None:
    head, emb, labels = data
    expected = reference_hard_loss(_np(emb), _np(head.weight), labels.numpy(), 0.05, 30.0)
    assert head(emb, labels).item() == pytest.approx(expected, rel=1e-5)


def test_one_hot_soft_labels_equal_hard_labels(data) -> None:
    head, emb, labels = data
    one_hot = torch.nn.functional.one_hot(labels, C).double()
    expected = reference_hard_loss(_np(emb), _np(head.weight), labels.numpy(), 0.05, 30.0)
    assert head(emb, one_hot).item() == pytest.approx(expected, rel=1e-5)
    assert head(emb, one_hot).item() == pytest.approx(head(emb, labels).item(), rel=1e-9)


def test_mixed_soft_labels_follow_the_documented_formula(data) -> None:
    head, emb, labels = data
    partner = (labels + 1 + torch.randint(0, C - 1, (B,))) % C  # a different class for each row
    lam = torch.rand(B, 1, dtype=torch.float64)
    y = lam * torch.nn.functional.one_hot(labels, C) + (1 - lam) * torch.nn.functional.one_hot(partner, C)
    expected = reference_loss(_np(emb), _np(head.weight), _np(y), 0.05, 30.0)
    assert head(emb, y).item() == pytest.approx(expected, rel=1e-5)


def test_other_margin_and_scale(data) -> None:
    _, emb, labels = data
    head = ArcFace(D, C, margin=0.5, scale=16.0).double()
    expected = reference_hard_loss(_np(emb), _np(head.weight), labels.numpy(), 0.5, 16.0)
    assert head(emb, labels).item() == pytest.approx(expected, rel=1e-5)


def test_logits_without_target_are_scaled_cosines(data) -> None:
    head, emb, labels = data
    e = torch.nn.functional.normalize(emb, dim=1)
    w = torch.nn.functional.normalize(head.weight, dim=1)
    torch.testing.assert_close(head.logits(emb), 30.0 * e @ w.T, rtol=1e-6, atol=1e-6)
    # The margin lowers only the target logit.
    diff = head.logits(emb) - head.logits(emb, labels)
    assert (diff.gather(1, labels[:, None]) > 0).all()
    assert torch.count_nonzero(diff) == B


def test_gradient_flows_and_is_finite_at_the_class_weight() -> None:
    head = ArcFace(D, C)
    emb = torch.randn(B, D, requires_grad=True)
    with torch.no_grad():
        emb[0] = head.weight[2] * 3.0  # cos = 1 exactly: arccos' is infinite there without the clamp
    labels = torch.tensor([2] + [0] * (B - 1))
    loss = head(emb, labels)
    loss.backward()
    assert torch.isfinite(loss)
    assert emb.grad is not None and torch.isfinite(emb.grad).all() and emb.grad.any()
    assert head.weight.grad is not None and torch.isfinite(head.weight.grad).all() and head.weight.grad.any()


def test_training_lowers_the_loss() -> None:
    torch.manual_seed(1)
    head = ArcFace(D, C)
    emb = torch.randn(32, D)
    labels = torch.randint(0, C, (32,))
    opt = torch.optim.SGD(head.parameters(), lr=0.5)
    first = head(emb, labels).item()
    for _ in range(20):
        opt.zero_grad()
        head(emb, labels).backward()
        opt.step()
    assert head(emb, labels).item() < first


def test_bad_targets_say_what_is_expected(data) -> None:
    head, emb, labels = data
    with pytest.raises(ConfigError, match=r"labels must lie in \[0, 4\].*num_classes"):
        head(emb, torch.full((B,), C))
    with pytest.raises(ConfigError, match=r"soft labels \(8, 5\)"):
        head(emb, torch.rand(B, C + 1, dtype=torch.float64))
    with pytest.raises(ConfigError, match=r"expects embeddings \(B, 16\)"):
        head(torch.randn(B, D + 1, dtype=torch.float64), labels)


def test_autocast_keeps_the_cosine_in_float32() -> None:
    head = ArcFace(D, C)
    emb = torch.randn(B, D)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        logits = head.logits(emb, torch.zeros(B, dtype=torch.long))
    assert logits.dtype == torch.float32
