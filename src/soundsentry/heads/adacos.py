"""AdaCos and sub-cluster AdaCos: margin-free cosine heads whose scale adapts to the batch (S3).

Both share :class:`~soundsentry.heads.margin.MarginHead`'s normalised cosines and override only the scale hook
(and, for sub-clusters, how centre cosines become class logits).

**AdaCos** (Zhang et al., CVPR 2019, the dynamic variant). Before each training step the scale becomes::

    s <- log(B_avg) / cos(min(pi/4, theta_med))
    B_avg     = mean over the batch of  sum over non-target centres k of exp(s_old * cos theta_ik)
    theta_med = median over the batch of the angle to the target class

starting from ``s_0 = sqrt(2) * log(K - 1)`` (K = number of centres). The scale is a buffer: it is saved in the
state dict and restored with the weights, never trained by the optimiser.

**Sub-cluster AdaCos** (Wilkinghoff, IJCNN 2021; S3 equation 1). Each of the C classes owns S centres;
the probability of class j is the sum of the softmax over all C*S centres within its sub-clusters::

    P_ij = sum_{l in M(j)} exp(s cos theta_il) / sum_{k=1}^{CS} exp(s cos theta_ik)

so the class logit is ``logsumexp_{l in M(j)} s cos theta_il``. Centre ``l`` of class ``j`` is row ``j * S + l``.

Soft (mixup) targets ``y: (B, C)``: the loss is ``KL(y || P)`` (S3 sec. 2.4: "KL divergence loss between outputs
of sub-cluster AdaCos and generated labels"); for the scale, a centre of class ``c`` counts as non-target with
weight ``1 - y_ic`` and the target angle is ``sum_c y_ic * theta_ic`` with ``theta_ic`` the angle to the closest
centre of class ``c``. For one-hot targets and S = 1 this is exactly AdaCos. If ``log(B_avg) <= 0`` (possible only
when soft labels leave almost no non-target weight) the scale keeps its previous value.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from soundsentry.errors import ConfigError
from soundsentry.heads.margin import MarginHead
from soundsentry.registry import register_head


class AdaCos(MarginHead):
    """Cosine softmax with AdaCos's adaptive scale; ``sub_clusters > 1`` gives sub-cluster AdaCos.

    Args:
        embed_dim: embedding size D.
        num_classes: number of classes C.
        sub_clusters: centres per class S (1 = plain AdaCos).

    Attributes:
        adaptive_scale: the current scale s (a buffer in the state dict).
    """

    adaptive_scale: torch.Tensor

    def __init__(self, embed_dim: int, num_classes: int, sub_clusters: int = 1) -> None:
        if not isinstance(sub_clusters, int) or isinstance(sub_clusters, bool) or sub_clusters < 1:
            raise ConfigError(f"sub_clusters must be a positive integer, got {sub_clusters!r}")
        centres = num_classes * sub_clusters
        if centres < 2:
            raise ConfigError(
                f"AdaCos needs at least 2 centres (classes x sub_clusters), got {num_classes} x {sub_clusters}; "
                "train on more than one class or use more sub-clusters"
            )
        initial = math.sqrt(2.0) * math.log(centres - 1)
        super().__init__(embed_dim, num_classes, scale=initial)
        self.sub_clusters = sub_clusters
        if sub_clusters > 1:
            self.weight = nn.Parameter(torch.empty(centres, embed_dim))
            nn.init.xavier_uniform_(self.weight)
        self.register_buffer("adaptive_scale", torch.tensor(initial, dtype=torch.float32))

    @property
    def centres(self) -> torch.Tensor:
        """Learned sub-cluster centres (C, S, D), L2-normalised, detached."""
        return F.normalize(self.weight.detach(), dim=1).view(self.num_classes, self.sub_clusters, self.embed_dim)

    def current_scale(self, cos: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """The adaptive scale; a training step with targets first updates it from the batch (no gradient)."""
        if target is not None and self.training:
            with torch.no_grad():
                self._update_scale(cos.double(), target.double())
        return self.adaptive_scale.to(cos.dtype)

    def _update_scale(self, cos: torch.Tensor, y: torch.Tensor) -> None:
        B, S = cos.shape[0], self.sub_clusters
        s_old = self.adaptive_scale.double()
        non_target = (1.0 - y).clamp(min=0.0).repeat_interleave(S, dim=1)  # (B, C*S)
        log_b_avg = torch.logsumexp(s_old * cos + torch.log(non_target), dim=(0, 1)) - math.log(B)
        nearest = cos.view(B, self.num_classes, S).amax(dim=2)  # closest centre of each class
        theta = (y * torch.arccos(nearest)).sum(dim=1)
        theta_med = torch.quantile(theta, 0.5)
        if torch.isfinite(log_b_avg) and log_b_avg > 0:
            new = log_b_avg / torch.cos(torch.clamp(theta_med, max=math.pi / 4))
            self.adaptive_scale.fill_(float(new))

    def logits(self, emb: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits (B, C): ``s cos`` (S = 1) or ``logsumexp`` of ``s cos`` over each class's sub-clusters.

        Args:
            emb: (B, D) embeddings.
            target: None for inference; hard (B,) or soft (B, C) labels during training (updates the scale).
        """
        cos = self.cosine(emb)
        y = None if target is None else self.soft_targets(target, cos.shape[0])
        z = self.current_scale(cos, y) * cos
        if self.sub_clusters > 1:
            z = z.view(z.shape[0], self.num_classes, self.sub_clusters).logsumexp(dim=2)
        return z

    def forward(self, emb: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean ``KL(y || P)`` over the batch; for one-hot ``y`` this is the cross-entropy.

        Args:
            emb: (B, D) embeddings.
            target: hard labels (B,) or soft labels (B, C).
        """
        y = self.soft_targets(target, emb.shape[0])
        log_p = F.log_softmax(self.logits(emb, y), dim=1)
        entropy_term = torch.where(y > 0, y * torch.log(y.clamp(min=1e-30)), torch.zeros_like(y))
        return (entropy_term - y * log_p).sum(dim=1).mean()

    def extra_repr(self) -> str:
        return (
            f"embed_dim={self.embed_dim}, num_classes={self.num_classes}, sub_clusters={self.sub_clusters}, "
            f"scale={float(self.adaptive_scale):.3f}"
        )


@register_head("adacos")
def adacos(embed_dim: int, num_classes: int) -> AdaCos:
    """AdaCos (Zhang et al. 2019): one centre per class, adaptive scale."""
    return AdaCos(embed_dim, num_classes, sub_clusters=1)


@register_head("subcluster_adacos")
def subcluster_adacos(embed_dim: int, num_classes: int, sub_clusters: int = 32) -> AdaCos:
    """Sub-cluster AdaCos (Wilkinghoff 2021): S centres per class (S3 sec. 2.3: S = 32)."""
    return AdaCos(embed_dim, num_classes, sub_clusters=sub_clusters)
