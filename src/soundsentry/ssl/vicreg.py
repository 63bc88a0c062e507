"""VICReg with mixup (S2, Nejjar et al., DCASE 2022 Task 2, section 2.3) and S2's fine-tuning loss (section 2.4).

Pre-training runs three weight-sharing branches on a batch of pairs: ``X``, ``X'`` and their mixup
``X_lambda = lambda X + (1 - lambda) X'`` with ``lambda ~ Beta(0.5, 0.5)``. The encoder gives ``Y, Y', Y_lambda``,
the expander ``Z, Z', Z_lambda`` (``(N, D)``, D = 1280). The loss (eq. 5, gamma, mu, nu = 25, 25, 1)::

    gamma * s(Z_lambda, Z, Z', lambda) + mu * (v(Z) + v(Z')) + nu * (c(Z) + c(Z'))

    s = 1/N sum_i || z_lambda,i - (lambda z_i + (1 - lambda) z'_i) ||_2^2        (eq. 1)
    v(Z) = 1/D sum_j max(0, 1 - S(z^j)),  S = sqrt(Var + eps)                    (eq. 2)
    C(Z) = 1/(N - 1) sum_i (z_i - z_bar)(z_i - z_bar)^T                          (eq. 3)
    c(Z) = 1/D sum_{i != j} C(Z)_ij^2                                            (eq. 4)

The mixed branch enters only through ``s``, which replaces VICReg's invariance term (there is no ``X`` vs ``X'``
term); variance and covariance are taken on ``Z`` and ``Z'`` only. Fine-tuning reuses eq. 1 on the encoder
outputs ``Y`` as a regulariser next to the KL divergence between the classifier's output on ``X_lambda`` and the
mixed section labels.

Choices where the document is silent:

* ``eps = 1e-4`` inside the standard deviation (VICReg's value): ``sqrt`` has an infinite slope at 0, so without
  it a collapsed batch would give NaN gradients. Variances are unbiased (``N - 1``), as the covariance of eq. 3.
* Eq. 1 sums the squared error over the D features (``reduction="sum"``, the default here); VICReg's invariance
  term, whose weight 25 the document keeps, averages it (``F.mse_loss``, ``reduction="mean"``, D times smaller).
  The S2 recipes choose with ``train.pretrain.reduction`` and ``train.geometric_reduction`` and use ``mean``: with
  the sum, ``s`` outweighs the variance term D times, the expander collapses in the first pre-training epoch (its
  last ReLUs die, so no gradient brings it back) and the section classifier stays at chance (BENCHMARKS.md,
  "Issue 16: S3 classes and S2 eq. 1, before and after").
* One ``lambda`` per batch (eq. 1 has no index on it); a ``(N,)`` tensor of per-pair ratios is accepted too.
* The three branches run as three forward passes, as VICReg's two, so each branch's batch norm sees its own batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from soundsentry.errors import ConfigError

REDUCTIONS: tuple[str, ...] = ("sum", "mean")


class Expander(nn.Module):
    """VICReg expander ``h_phi``: ``layers`` fully-connected layers, each followed by batch norm and ReLU.

    Args:
        in_dim: encoder output size (320 for the S2 MobileNetV2).
        dim: width of every layer (1280 in the document).
        layers: number of FC + BN + ReLU layers (3 in the document).
        last_activation: keep BN + ReLU after the last layer, as the document says ("each of the layers is
            followed by ..."); ``False`` ends with a plain linear layer as VICReg's own projector does.
    """

    def __init__(self, in_dim: int = 320, dim: int = 1280, layers: int = 3, last_activation: bool = True) -> None:
        super().__init__()
        if layers < 1 or dim < 1 or in_dim < 1:
            raise ConfigError(f"expander needs positive in_dim, dim and layers, got {in_dim}, {dim}, {layers}")
        blocks: list[nn.Module] = []
        for i in range(layers):
            last = i == layers - 1
            if last and not last_activation:
                blocks.append(nn.Linear(in_dim if i == 0 else dim, dim))
            else:
                # No bias: the batch norm right after it has one.
                blocks += [nn.Linear(in_dim if i == 0 else dim, dim, bias=False), nn.BatchNorm1d(dim), nn.ReLU()]
        self.net = nn.Sequential(*blocks)
        self.out_dim = dim

    def forward(self, y: Tensor) -> Tensor:
        """``y: (N, in_dim)`` encoder outputs -> ``(N, dim)`` embeddings Z."""
        return self.net(y)


def _check_batch(z: Tensor, name: str) -> None:
    if z.dim() != 2:
        raise ConfigError(f"{name} expects embeddings of shape (N, D), got {tuple(z.shape)}")
    if z.shape[0] < 2:
        raise ConfigError(
            f"{name} needs at least 2 samples per batch to estimate a variance, got {z.shape[0]}; "
            "use a larger batch_size or drop the last incomplete batch"
        )


def _lam_like(lam: Tensor | float, z: Tensor) -> Tensor:
    """``lam`` as a tensor broadcasting against ``z`` along its first (batch) dimension."""
    lam = torch.as_tensor(lam, dtype=z.dtype, device=z.device)
    if lam.dim() == 0:
        return lam
    if lam.shape != (z.shape[0],):
        raise ConfigError(f"lambda must be a scalar or one value per sample ({z.shape[0]},), got {tuple(lam.shape)}")
    return lam.reshape((-1,) + (1,) * (z.dim() - 1))


def mixup(x: Tensor, x2: Tensor, lam: Tensor | float) -> Tensor:
    """``lambda x + (1 - lambda) x2`` for any ``(N, ...)`` tensors; ``lam`` is a scalar or ``(N,)``."""
    if x.shape != x2.shape:
        raise ConfigError(f"mixup needs two batches of the same shape, got {tuple(x.shape)} and {tuple(x2.shape)}")
    lam = _lam_like(lam, x)
    return lam * x + (1 - lam) * x2


def sample_lambda(
    alpha: float = 0.5, beta: float = 0.5, size: int | None = None, device: torch.device | str | None = None
) -> Tensor:
    """Mixup ratio(s) ``lambda ~ Beta(alpha, beta)`` (0.5, 0.5 in S2): a scalar, or ``(size,)`` per-pair ratios.

    Uses torch's global random generator, so ``torch.manual_seed`` (or Lightning's ``seed_everything``) fixes it.
    """
    if alpha <= 0 or beta <= 0:
        raise ConfigError(f"Beta(alpha, beta) needs positive parameters, got alpha={alpha}, beta={beta}")
    dist = torch.distributions.Beta(torch.tensor(float(alpha)), torch.tensor(float(beta)))
    lam = dist.sample(() if size is None else (size,))
    return lam.to(device) if device is not None else lam


def mixup_invariance(z_mix: Tensor, z: Tensor, z2: Tensor, lam: Tensor | float, reduction: str = "sum") -> Tensor:
    """Eq. 1: ``1/N sum_i || z_lambda,i - (lambda z_i + (1 - lambda) z'_i) ||^2``.

    Args:
        z_mix, z, z2: (N, D) embeddings of ``X_lambda``, ``X`` and ``X'``.
        lam: the mixup ratio used to build ``X_lambda``: a scalar or (N,).
        reduction: ``"sum"`` over features as eq. 1 writes it, or ``"mean"`` over features (VICReg's MSE).
    """
    if reduction not in REDUCTIONS:
        raise ConfigError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
    if not z_mix.shape == z.shape == z2.shape:
        raise ConfigError(
            f"mixup invariance needs three (N, D) batches of one shape, got {tuple(z_mix.shape)}, "
            f"{tuple(z.shape)}, {tuple(z2.shape)}"
        )
    sq = (z_mix - mixup(z, z2, lam)).square().flatten(1)
    per_sample = sq.sum(dim=1) if reduction == "sum" else sq.mean(dim=1)
    return per_sample.mean()


def variance_loss(z: Tensor, eps: float = 1e-4, target: float = 1.0) -> Tensor:
    """Eq. 2: hinge on the standard deviation of each feature over the batch, ``mean_j max(0, 1 - S(z^j))``."""
    _check_batch(z, "variance loss")
    std = torch.sqrt(z.var(dim=0) + eps)
    return F.relu(target - std).mean()


def covariance_loss(z: Tensor) -> Tensor:
    """Eqs. 3-4: sum of squared off-diagonal covariances over the batch, divided by D."""
    _check_batch(z, "covariance loss")
    n, d = z.shape
    centred = z - z.mean(dim=0)
    cov = centred.T @ centred / (n - 1)
    off_diagonal = cov.square().sum() - cov.diagonal().square().sum()
    return off_diagonal / d


@dataclass(frozen=True)
class VICRegMixupLoss:
    """Eq. 5 with the document's weights; call it on ``(Z_lambda, Z, Z', lambda)`` for every term and the total.

    Attributes:
        gamma: weight of the mixup invariance ``s`` (25).
        mu: weight of ``v(Z) + v(Z')`` (25).
        nu: weight of ``c(Z) + c(Z')`` (1).
        eps: offset inside the standard deviation of ``v``.
        reduction: how ``s`` reduces over features, see :func:`mixup_invariance`.
    """

    gamma: float = 25.0
    mu: float = 25.0
    nu: float = 1.0
    eps: float = 1e-4
    reduction: str = "sum"

    def __call__(self, z_mix: Tensor, z: Tensor, z2: Tensor, lam: Tensor | float) -> dict[str, Tensor]:
        """Returns ``loss`` (eq. 5) and its parts ``invariance`` (s), ``variance`` (v(Z) + v(Z')) and
        ``covariance`` (c(Z) + c(Z')), unweighted."""
        s = mixup_invariance(z_mix, z, z2, lam, self.reduction)
        v = variance_loss(z, self.eps) + variance_loss(z2, self.eps)
        c = covariance_loss(z) + covariance_loss(z2)
        loss = self.gamma * s + self.mu * v + self.nu * c
        return {"loss": loss, "invariance": s, "variance": v, "covariance": c}


def vicreg_step(
    encoder: nn.Module,
    expander: nn.Module,
    batch_x: Tensor,
    batch_x2: Tensor,
    *,
    lam: Tensor | float | None = None,
    loss_fn: VICRegMixupLoss | None = None,
    alpha: float = 0.5,
) -> dict[str, Tensor]:
    """One pre-training forward pass through the three branches; call ``backward`` on the returned ``loss``.

    Args:
        encoder: ``f_theta``, ``(N, C, F, T) -> (N, 320)`` (the S2 MobileNetV2, standardiser included if any).
        expander: ``h_phi``, e.g. :class:`Expander`.
        batch_x, batch_x2: ``X`` and ``X'``, (N, C, F, T) context windows of two different samples per row (any
            source or target window of the machine type; e.g. ``batch_x2 = batch_x[torch.randperm(N)]``).
        lam: mixup ratio(s); ``None`` draws one from ``Beta(alpha, alpha)``.
        loss_fn: eq. 5 settings; ``None`` is the document's (25, 25, 1).
        alpha: Beta parameter when ``lam`` is drawn here (0.5 in the document).

    Returns:
        ``loss`` plus the unweighted ``invariance``, ``variance`` and ``covariance`` terms and the ``lam`` used, so
        the caller can log them.
    """
    if batch_x.shape != batch_x2.shape:
        raise ConfigError(f"X and X' must have one shape, got {tuple(batch_x.shape)} and {tuple(batch_x2.shape)}")
    loss_fn = loss_fn if loss_fn is not None else VICRegMixupLoss()
    lam = sample_lambda(alpha, alpha, device=batch_x.device) if lam is None else lam
    lam_t = torch.as_tensor(lam, dtype=batch_x.dtype, device=batch_x.device)
    z = expander(encoder(batch_x))
    z2 = expander(encoder(batch_x2))
    z_mix = expander(encoder(mixup(batch_x, batch_x2, lam_t)))
    out = loss_fn(z_mix, z, z2, lam_t)
    out["lam"] = lam_t.detach()
    return out


class SectionClassifier(nn.Module):
    """Fine-tuning head ``320-128-C``: two fully-connected layers with a ReLU between them (section 2.4).

    Args:
        in_dim: encoder output size (320).
        hidden: width of the hidden layer (128).
        num_classes: number of section IDs C (6 in the document: 3 development + 3 additional sections).
    """

    def __init__(self, num_classes: int, in_dim: int = 320, hidden: int = 128) -> None:
        super().__init__()
        if num_classes < 2:
            raise ConfigError(f"section classification needs at least 2 classes, got {num_classes}")
        self.num_classes = num_classes
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, y: Tensor) -> Tensor:
        """``y: (N, in_dim)`` -> ``(N, C)`` logits."""
        return self.net(y)


def soft_kl_loss(logits: Tensor, target: Tensor) -> Tensor:
    """``KL(target || softmax(logits))`` averaged over the batch; ``target: (N, C)`` rows are distributions."""
    if logits.shape != target.shape:
        raise ConfigError(f"logits {tuple(logits.shape)} and soft targets {tuple(target.shape)} must match")
    return F.kl_div(F.log_softmax(logits, dim=1), target, reduction="batchmean")


def finetune_step(
    encoder: nn.Module,
    classifier: nn.Module,
    batch_x: Tensor,
    batch_x2: Tensor,
    target: Tensor,
    target2: Tensor,
    *,
    lam: Tensor | float | None = None,
    geometric_weight: float = 1.0,
    alpha: float = 0.5,
    reduction: str = "sum",
) -> dict[str, Tensor]:
    """One fine-tuning forward pass: KL to the mixed section labels plus eq. 1 on the encoder outputs.

    ``loss = KL(lambda t + (1 - lambda) t' || softmax(g(f(X_lambda)))) + w * s(Y_lambda, Y, Y', lambda)``.

    Args:
        encoder: the pre-trained ``f_theta``.
        classifier: e.g. :class:`SectionClassifier`.
        batch_x, batch_x2: (N, C, F, T) the two samples of each pair; pairing within a section across and within
            domains is the caller's choice (the document mixes "intra-domain and inter-domain samples").
        target, target2: (N, C) one-hot or soft section labels of ``batch_x`` and ``batch_x2``.
        lam: mixup ratio(s); ``None`` draws one from ``Beta(alpha, alpha)``.
        geometric_weight: weight ``w`` of eq. 1 (not given in the document; 1 by default).
        reduction: how eq. 1 reduces over features, see :func:`mixup_invariance`.

    Returns:
        ``loss``, ``kl``, ``geometric`` (unweighted), ``logits`` (on ``X_lambda``, detached) and ``lam``.
    """
    if batch_x.shape != batch_x2.shape or target.shape != target2.shape:
        raise ConfigError("the two halves of each mixup pair must have one shape (inputs and targets)")
    lam = sample_lambda(alpha, alpha, device=batch_x.device) if lam is None else lam
    lam_t = torch.as_tensor(lam, dtype=batch_x.dtype, device=batch_x.device)
    y = encoder(batch_x)
    y2 = encoder(batch_x2)
    y_mix = encoder(mixup(batch_x, batch_x2, lam_t))
    logits = classifier(y_mix)
    kl = soft_kl_loss(logits, mixup(target.to(logits.dtype), target2.to(logits.dtype), lam_t))
    geometric = mixup_invariance(y_mix, y, y2, lam_t, reduction)
    return {
        "loss": kl + geometric_weight * geometric,
        "kl": kl,
        "geometric": geometric,
        "logits": logits.detach(),
        "lam": lam_t.detach(),
    }
