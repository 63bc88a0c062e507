"""VICReg-with-mixup loss terms against direct computations, collapse prevention, and the two step functions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from soundsentry.backbones.mobilenetv2 import MobileNetV2Encoder
from soundsentry.errors import ConfigError
from soundsentry.ssl import (
    Expander,
    SectionClassifier,
    VICRegMixupLoss,
    covariance_loss,
    finetune_step,
    mixup,
    mixup_invariance,
    sample_lambda,
    soft_kl_loss,
    variance_loss,
    vicreg_step,
)


def _z(n: int = 6, d: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def ref_invariance(z_mix: np.ndarray, z: np.ndarray, z2: np.ndarray, lam: np.ndarray) -> float:
    """Eq. 1 by loops: 1/N sum_i sum_k (z_lambda,ik - (lam_i z_ik + (1 - lam_i) z'_ik))^2."""
    n, d = z.shape
    total = 0.0
    for i in range(n):
        for k in range(d):
            total += (z_mix[i, k] - (lam[i] * z[i, k] + (1 - lam[i]) * z2[i, k])) ** 2
    return total / n


def ref_variance(z: np.ndarray, eps: float = 1e-4) -> float:
    """Eq. 2 by a loop over features: mean_j max(0, 1 - sqrt(unbiased var_j + eps))."""
    return float(np.mean([max(0.0, 1.0 - np.sqrt(np.var(z[:, j], ddof=1) + eps)) for j in range(z.shape[1])]))


def ref_covariance(z: np.ndarray) -> float:
    """Eqs. 3-4 by loops: C_ij = 1/(N-1) sum_n (z_ni - mean_i)(z_nj - mean_j); sum_{i != j} C_ij^2 / D."""
    n, d = z.shape
    mean = z.mean(axis=0)
    total = 0.0
    for i in range(d):
        for j in range(d):
            if i != j:
                c = sum((z[k, i] - mean[i]) * (z[k, j] - mean[j]) for k in range(n)) / (n - 1)
                total += c**2
    return total / d


@pytest.mark.parametrize("per_sample", [False, True])
def test_mixup_invariance_matches_eq1(per_sample: bool) -> None:
    z, z2, z_mix = _z(seed=1), _z(seed=2), _z(seed=3)
    lam = torch.tensor([0.1, 0.9, 0.5, 0.3, 0.7, 0.2], dtype=torch.float64) if per_sample else 0.3
    lam_np = lam.numpy() if per_sample else np.full(6, 0.3)
    expected = ref_invariance(z_mix.numpy(), z.numpy(), z2.numpy(), lam_np)
    assert mixup_invariance(z_mix, z, z2, lam).item() == pytest.approx(expected, rel=1e-12)
    # VICReg's MSE averages over the D = 5 features instead of summing them.
    assert mixup_invariance(z_mix, z, z2, lam, reduction="mean").item() == pytest.approx(expected / 5, rel=1e-12)
    # Exactly mixed embeddings satisfy eq. 1.
    assert mixup_invariance(mixup(z, z2, lam), z, z2, lam).item() == pytest.approx(0.0, abs=1e-20)


def test_variance_term_matches_eq2() -> None:
    z = _z(n=7, d=4) * torch.tensor([0.1, 0.5, 2.0, 1.0], dtype=torch.float64)  # some features below std 1
    assert variance_loss(z).item() == pytest.approx(ref_variance(z.numpy()), rel=1e-12)
    assert variance_loss(z * 100).item() == 0.0  # every std above 1: the hinge is flat
    collapsed = torch.ones(5, 3, requires_grad=True)
    loss = variance_loss(collapsed)
    assert loss.item() == pytest.approx(1 - np.sqrt(1e-4))
    loss.backward()
    assert torch.isfinite(collapsed.grad).all()  # eps keeps sqrt's slope finite at zero variance


def test_covariance_term_matches_eq3_eq4() -> None:
    z = _z(n=8, d=4)
    z[:, 1] += 0.8 * z[:, 0]  # correlated features
    assert covariance_loss(z).item() == pytest.approx(ref_covariance(z.numpy()), rel=1e-12)
    # Decorrelated (orthogonal centred columns) features cost nothing however large their variance.
    q, _ = torch.linalg.qr(torch.randn(8, 8, dtype=torch.float64))
    centred = q[:, 1:4] - q[:, 1:4].mean(dim=0)
    q2, _ = torch.linalg.qr(centred)
    assert covariance_loss(q2 * 10).item() == pytest.approx(0.0, abs=1e-20)


def test_full_loss_is_eq5_with_document_weights() -> None:
    z, z2, z_mix = _z(seed=4), _z(seed=5), _z(seed=6)
    out = VICRegMixupLoss()(z_mix, z, z2, 0.4)
    zn, z2n = z.numpy(), z2.numpy()
    s = ref_invariance(z_mix.numpy(), zn, z2n, np.full(6, 0.4))
    v = ref_variance(zn) + ref_variance(z2n)
    c = ref_covariance(zn) + ref_covariance(z2n)
    assert out["invariance"].item() == pytest.approx(s, rel=1e-12)
    assert out["variance"].item() == pytest.approx(v, rel=1e-12)
    assert out["covariance"].item() == pytest.approx(c, rel=1e-12)
    assert out["loss"].item() == pytest.approx(25 * s + 25 * v + 1 * c, rel=1e-12)
    # The mixed branch enters only through s: changing Z_lambda leaves v and c unchanged.
    other = VICRegMixupLoss()(z_mix * 3, z, z2, 0.4)
    assert other["variance"] == out["variance"] and other["covariance"] == out["covariance"]


def _train_toy(mu: float, steps: int = 200) -> tuple[float, torch.Tensor]:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4))
    optimizer = torch.optim.SGD(encoder.parameters(), lr=0.01, momentum=0.9)
    loss_fn = VICRegMixupLoss(mu=mu)
    probe = torch.randn(256, 8)
    with torch.no_grad():
        initial = encoder(probe).std(dim=0).mean().item()
    for _ in range(steps):
        x, x2, lam = torch.randn(32, 8), torch.randn(32, 8), torch.rand(())
        loss = loss_fn(encoder(mixup(x, x2, lam)), encoder(x), encoder(x2), lam)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return initial, encoder(probe).std(dim=0)


def test_variance_term_prevents_collapse() -> None:
    # A non-linear encoder cannot satisfy eq. 1 except by collapsing to a constant; without v it does.
    initial, std_without = _train_toy(mu=0.0)
    _, std_with = _train_toy(mu=25.0)
    assert initial == pytest.approx(0.23, abs=0.1)
    assert std_without.max() < 0.1 and std_without.mean() < initial / 3
    assert std_with.min() > 0.9


def test_expander_layout() -> None:
    expander = Expander()
    linears = [m for m in expander.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(320, 1280), (1280, 1280), (1280, 1280)]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in expander.modules()) == 3
    assert sum(isinstance(m, nn.ReLU) for m in expander.modules()) == 3
    small = Expander(in_dim=6, dim=10, last_activation=False)
    assert isinstance(small.net[-1], nn.Linear) and small.net[-1].bias is not None
    assert small(torch.randn(4, 6)).shape == (4, 10)
    assert (Expander(in_dim=6, dim=10)(torch.randn(4, 6)) >= 0).all()


def test_sample_lambda_is_beta_half_half() -> None:
    torch.manual_seed(0)
    lam = sample_lambda(size=4000)
    assert lam.shape == (4000,) and ((lam > 0) & (lam < 1)).all()
    assert lam.mean().item() == pytest.approx(0.5, abs=0.03)
    assert lam.var().item() == pytest.approx(0.125, abs=0.01)  # Beta(0.5, 0.5): var = 1/8 (U-shaped)
    assert sample_lambda().dim() == 0
    with pytest.raises(ConfigError, match="positive parameters"):
        sample_lambda(alpha=0.0)


class _Flatten(nn.Module):
    """Tiny encoder for step tests: (N, 1, 4, 3) -> (N, 5)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(12, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.fc(x.flatten(1)))


def test_vicreg_step_runs_three_branches() -> None:
    torch.manual_seed(0)
    encoder, expander = _Flatten(), Expander(in_dim=5, dim=7)
    x, x2 = torch.randn(6, 1, 4, 3), torch.randn(6, 1, 4, 3)
    out = vicreg_step(encoder, expander, x, x2, lam=0.25)
    # Recomputed branch by branch in train mode: each branch's batch norm sees its own batch, as in the step.
    z, z2 = expander(encoder(x)), expander(encoder(x2))
    z_mix = expander(encoder(0.25 * x + 0.75 * x2))
    expected = VICRegMixupLoss()(z_mix, z, z2, 0.25)
    for key in ("loss", "invariance", "variance", "covariance"):
        torch.testing.assert_close(out[key], expected[key])
    out["loss"].backward()
    for name, p in [*encoder.named_parameters(), *expander.named_parameters()]:
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    drawn = vicreg_step(encoder, expander, x, x2)
    assert 0 < drawn["lam"].item() < 1 and torch.isfinite(drawn["loss"])


def test_vicreg_step_with_s2_encoder() -> None:
    torch.manual_seed(0)
    encoder = MobileNetV2Encoder(input_size=(32, 16))
    out = vicreg_step(encoder, Expander(in_dim=320, dim=32), torch.randn(4, 1, 32, 16), torch.randn(4, 1, 32, 16))
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and encoder.embedding.weight.grad is not None


def test_soft_kl_matches_hand_computation() -> None:
    logits = torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 2.0]], dtype=torch.float64)
    target = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.5, 0.5]], dtype=torch.float64)
    p = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(axis=1, keepdims=True)
    t = target.numpy()
    expected = sum(t[i, k] * np.log(t[i, k] / p[i, k]) for i in range(2) for k in range(3) if t[i, k] > 0) / 2
    assert soft_kl_loss(logits, target).item() == pytest.approx(expected, rel=1e-12)


def test_finetune_step_kl_to_mixed_labels_plus_geometric_term() -> None:
    torch.manual_seed(0)
    encoder, classifier = _Flatten(), SectionClassifier(num_classes=3, in_dim=5, hidden=4)
    x, x2 = torch.randn(5, 1, 4, 3), torch.randn(5, 1, 4, 3)
    t = nn.functional.one_hot(torch.tensor([0, 1, 2, 0, 1]), 3).float()
    t2 = nn.functional.one_hot(torch.tensor([1, 1, 0, 2, 2]), 3).float()
    out = finetune_step(encoder, classifier, x, x2, t, t2, lam=0.6, geometric_weight=2.0)
    x_mix = 0.6 * x + 0.4 * x2
    kl = soft_kl_loss(classifier(encoder(x_mix)), 0.6 * t + 0.4 * t2)
    geometric = mixup_invariance(encoder(x_mix), encoder(x), encoder(x2), 0.6)
    torch.testing.assert_close(out["kl"], kl)
    torch.testing.assert_close(out["geometric"], geometric)
    torch.testing.assert_close(out["loss"], kl + 2.0 * geometric)
    out["loss"].backward()
    assert classifier.net[0].weight.grad is not None and encoder.fc.weight.grad is not None
    # lambda = 1: plain classification of X, and eq. 1 holds trivially.
    pure = finetune_step(encoder, classifier, x, x2, t, t2, lam=1.0)
    assert pure["geometric"].item() == pytest.approx(0.0, abs=1e-12)
    torch.testing.assert_close(pure["kl"], soft_kl_loss(classifier(encoder(x)), t))


def test_section_classifier_is_320_128_c() -> None:
    head = SectionClassifier(num_classes=6)
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(320, 128), (128, 6)]


def test_errors_name_the_fix() -> None:
    z = _z()
    with pytest.raises(ConfigError, match="at least 2 samples.*batch_size"):
        variance_loss(z[:1])
    with pytest.raises(ConfigError, match="at least 2 samples"):
        covariance_loss(z[:1])
    with pytest.raises(ConfigError, match=r"one value per sample \(6,\)"):
        mixup_invariance(z, z, z, torch.rand(3))
    with pytest.raises(ConfigError, match="reduction must be one of sum, mean"):
        mixup_invariance(z, z, z, 0.5, reduction="none")
    with pytest.raises(ConfigError, match="same shape"):
        mixup(z, z[:3], 0.5)
    with pytest.raises(ConfigError, match="at least 2 classes"):
        SectionClassifier(num_classes=1)


# --- issue 16, item 3: eq. 1 as written (sum over the D features) and VICReg's code (mean over them) -----------
def test_eq1_both_reductions_by_hand() -> None:
    """N = 2, D = 2, lambda = 0.5: lambda z + (1 - lambda) z' = [[0.5, 0], [1, 1.5]], so z_lambda minus it is
    [[0.5, 1], [0, -0.5]]; squared norms 1.25 and 0.25. Eq. 1: (1.25 + 0.25) / 2 = 0.75; VICReg's mean over D: 0.375.
    """
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    z2 = torch.tensor([[0.0, 0.0], [2.0, 2.0]], dtype=torch.float64)
    z_mix = torch.ones(2, 2, dtype=torch.float64)
    assert mixup_invariance(z_mix, z, z2, 0.5, reduction="sum").item() == pytest.approx(0.75, rel=1e-15)
    assert mixup_invariance(z_mix, z, z2, 0.5, reduction="mean").item() == pytest.approx(0.375, rel=1e-15)


@pytest.mark.parametrize(("reduction", "per_dim"), [("sum", 1), ("mean", 5)])
def test_eq5_with_either_reduction_matches_loops(reduction: str, per_dim: int) -> None:
    z, z2, z_mix = _z(seed=7), _z(seed=8), _z(seed=9)
    out = VICRegMixupLoss(reduction=reduction)(z_mix, z, z2, 0.7)
    s = ref_invariance(z_mix.numpy(), z.numpy(), z2.numpy(), np.full(6, 0.7)) / per_dim  # D = 5
    v = ref_variance(z.numpy()) + ref_variance(z2.numpy())
    c = ref_covariance(z.numpy()) + ref_covariance(z2.numpy())
    assert out["invariance"].item() == pytest.approx(s, rel=1e-12)
    assert out["loss"].item() == pytest.approx(25 * s + 25 * v + c, rel=1e-12)


@pytest.mark.parametrize(("reduction", "per_dim"), [("sum", 1), ("mean", 5)])
def test_finetune_geometric_term_with_either_reduction_matches_loops(reduction: str, per_dim: int) -> None:
    torch.manual_seed(1)
    encoder, classifier = _Flatten(), SectionClassifier(num_classes=2, in_dim=5, hidden=3)
    x, x2 = torch.randn(4, 1, 4, 3), torch.randn(4, 1, 4, 3)
    t = nn.functional.one_hot(torch.tensor([0, 1, 1, 0]), 2).float()
    lam = torch.tensor([0.2, 0.5, 0.9, 0.4])
    out = finetune_step(encoder, classifier, x, x2, t, t.flip(0), lam=lam, geometric_weight=3.0, reduction=reduction)
    with torch.no_grad():
        y, y2 = encoder(x).double().numpy(), encoder(x2).double().numpy()
        y_mix = encoder(mixup(x, x2, lam)).double().numpy()
    expected = ref_invariance(y_mix, y, y2, lam.double().numpy()) / per_dim  # encoder outputs: D = 5
    assert out["geometric"].item() == pytest.approx(expected, rel=1e-5)
    assert out["loss"].item() == pytest.approx(out["kl"].item() + 3.0 * expected, rel=1e-5)


def _pretrain_toy(reduction: str, seed: int, steps: int = 30) -> float:
    """The demo's pre-training at toy scale: LARS (lr 0.1), a 3 x 256 FC + BN + ReLU expander, batch 128."""
    from soundsentry.ssl.optim import build_lars

    torch.manual_seed(seed)
    encoder = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 16))
    expander = Expander(16, 256, 3)
    optimizer = build_lars([*encoder.parameters(), *expander.parameters()], lr=0.1, weight_decay=1e-4)
    loss_fn = VICRegMixupLoss(reduction=reduction)
    data = torch.randn(512, 16)
    for _ in range(steps):
        x, x2 = data[torch.randint(512, (128,))], data[torch.randint(512, (128,))]
        lam = sample_lambda(size=128)
        out = loss_fn(expander(encoder(mixup(x, x2, lam))), expander(encoder(x)), expander(encoder(x2)), lam)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
    return out["variance"].item()


def test_eq1_summed_over_features_collapses_the_expander_with_the_documents_weights() -> None:
    """Why the S2 recipes keep VICReg's mean (BENCHMARKS.md, issue 16): summed over D = 256 features, s outweighs
    the variance term ~256 times, the expander's last ReLUs die and every feature's std reaches 0 (v(Z) + v(Z') =
    2 (1 - sqrt(eps)) = 1.98), as in the demo runs; with the mean the features stay spread."""
    collapsed = 2 * (1 - np.sqrt(1e-4))
    for seed in (0, 1):
        assert _pretrain_toy("sum", seed) == pytest.approx(collapsed, abs=0.01)
        assert _pretrain_toy("mean", seed) < 0.5
