"""AdaCos and sub-cluster AdaCos against an independent numpy computation of their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from soundsentry.errors import ConfigError
from soundsentry.heads.adacos import AdaCos
from soundsentry.registry import HEADS

B, D, C, S = 6, 8, 3, 4


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def reference_scale(emb: np.ndarray, weight: np.ndarray, y: np.ndarray, s_old: float, sub: int) -> float:
    """AdaCos's update written out with loops: B_avg over non-target centres, median target angle."""
    cos = _unit(emb) @ _unit(weight).T
    n_cls = y.shape[1]
    b_terms, thetas = [], []
    for i in range(len(emb)):
        total = 0.0
        for k in range(n_cls * sub):
            total += (1.0 - y[i, k // sub]) * math.exp(s_old * cos[i, k])
        b_terms.append(total)
        thetas.append(sum(y[i, c] * math.acos(max(cos[i, c * sub : (c + 1) * sub])) for c in range(n_cls)))
    return math.log(np.mean(b_terms)) / math.cos(min(math.pi / 4, float(np.median(thetas))))


def reference_kl(emb: np.ndarray, weight: np.ndarray, y: np.ndarray, s: float, sub: int) -> float:
    """S3 equation 1 (class probability = sum of its sub-clusters' softmax), then KL(y || P)."""
    logits = s * (_unit(emb) @ _unit(weight).T)
    p_centre = np.exp(logits - logits.max(axis=1, keepdims=True))
    p_centre /= p_centre.sum(axis=1, keepdims=True)
    n_cls = y.shape[1]
    P = np.stack([p_centre[:, j * sub : (j + 1) * sub].sum(axis=1) for j in range(n_cls)], axis=1)
    kl = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / P), 0.0)
    return float(kl.sum(axis=1).mean())


def _mixed_targets(rng: np.random.Generator, n_cls: int) -> np.ndarray:
    a, b = rng.integers(0, n_cls, B), rng.integers(0, n_cls, B)
    lam = rng.uniform(size=B)
    y = np.zeros((B, n_cls))
    y[np.arange(B), a] += lam
    y[np.arange(B), b] += 1 - lam
    return y


@pytest.mark.parametrize("sub", [1, S])
def test_loss_and_scale_match_reference(sub: int) -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    head = AdaCos(D, C, sub_clusters=sub).double().train()
    s0 = float(head.adaptive_scale)
    assert s0 == pytest.approx(math.sqrt(2) * math.log(C * sub - 1))
    emb = rng.standard_normal((B, D))
    y = _mixed_targets(rng, C)
    weight = head.weight.detach().numpy().copy()

    loss = head(torch.from_numpy(emb), torch.from_numpy(y))
    s1 = reference_scale(emb, weight, y, s0, sub)
    assert float(head.adaptive_scale) == pytest.approx(s1, rel=1e-5)
    assert float(loss.detach()) == pytest.approx(reference_kl(emb, weight, y, s1, sub), rel=1e-5)


def test_one_hot_adacos_is_cross_entropy_of_scaled_cosines() -> None:
    torch.manual_seed(0)
    head = HEADS.create("adacos", embed_dim=D, num_classes=C).eval()  # eval: the scale stays at s0
    emb, labels = torch.randn(B, D), torch.randint(0, C, (B,))
    cos = torch.nn.functional.normalize(emb, dim=1) @ torch.nn.functional.normalize(head.weight, dim=1).T
    expected = torch.nn.functional.cross_entropy(head.adaptive_scale * cos, labels)
    assert torch.allclose(head(emb, labels), expected, atol=1e-6)


def test_scale_is_a_buffer_saved_and_restored() -> None:
    torch.manual_seed(0)
    head = HEADS.create("subcluster_adacos", embed_dim=D, num_classes=C, sub_clusters=S).train()
    head(torch.randn(B, D), torch.randint(0, C, (B,)))
    assert "adaptive_scale" in head.state_dict()
    assert all(p is not head.adaptive_scale for p in head.parameters())
    fresh = AdaCos(D, C, sub_clusters=S)
    assert float(fresh.adaptive_scale) != pytest.approx(float(head.adaptive_scale))
    fresh.load_state_dict(head.state_dict())
    assert float(fresh.adaptive_scale) == float(head.adaptive_scale)


def test_scale_updates_only_in_training() -> None:
    head = AdaCos(D, C, sub_clusters=S).eval()
    before = float(head.adaptive_scale)
    head(torch.randn(B, D), torch.randint(0, C, (B,)))
    assert float(head.adaptive_scale) == before


def test_centres_and_class_logits() -> None:
    torch.manual_seed(0)
    head = AdaCos(D, C, sub_clusters=S)
    centres = head.centres
    assert centres.shape == (C, S, D)
    assert torch.allclose(centres.norm(dim=2), torch.ones(C, S), atol=1e-6)
    # An embedding on a centre of class 2 is classified as class 2.
    emb = centres[2, 1].unsqueeze(0) * 5.0
    assert int(head.logits(emb).argmax(dim=1)) == 2
    probs = torch.softmax(head.logits(torch.randn(B, D)), dim=1)
    assert torch.allclose(probs.sum(dim=1), torch.ones(B), atol=1e-6)


def test_gradients_reach_the_centres_with_soft_targets() -> None:
    head = AdaCos(D, C, sub_clusters=S).train()
    y = torch.from_numpy(_mixed_targets(np.random.default_rng(0), C)).float()
    head(torch.randn(B, D), y).backward()
    assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0


def test_bad_arguments_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="sub_clusters must be a positive integer"):
        AdaCos(D, C, sub_clusters=0)
    with pytest.raises(ConfigError, match="at least 2 centres"):
        AdaCos(D, 1, sub_clusters=1)
    head = AdaCos(D, C, sub_clusters=S)
    with pytest.raises(ConfigError, match="soft labels"):
        head(torch.randn(B, D), torch.rand(B, C + 1))
