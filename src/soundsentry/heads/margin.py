"""The margin-softmax family: cosine logits against normalised class weights, one hook per variant.

All variants share :class:`MarginHead`: class weights ``W: (num_classes, embed_dim)``; both ``W`` and the
embedding are L2-normalised, so the logits are scaled cosines ``s * cos(theta_c)``. A variant changes only

* :meth:`MarginHead.margin_cosine`: what the cosine of a *target* class becomes (ArcFace ``cos(theta + m)``,
  CosFace ``cos(theta) - m``, plain normalised softmax / AdaCos: unchanged), and/or
* :meth:`MarginHead.current_scale`: the scale ``s`` (fixed here; AdaCos computes it from the batch), and/or
* :meth:`MarginHead.class_similarity`: what the margin and scale act on (cosines; plain softmax: ``W x + b``), and/or
* :meth:`MarginHead.criterion`: how logits and targets become the loss (cross-entropy; focal loss).

The S4 comparison (classification-based ASD, DCASE 2020) is ``softmax`` vs ``cosface`` vs ``arcface``
(s = 30, m = 0.05 for both margin losses) vs ``focal`` (alpha = 1, gamma = 1), each with label smoothing 0 or 0.05
and mixup with ``lambda ~ Beta(1, 1)`` (``train.mixup`` with ``train.mixup_alpha: 1``: the training data mixes
pairs of chunks and gives these heads the mixed soft labels).

Targets are hard labels ``(B,)`` (int) or soft / mixed labels ``(B, C)`` (float, rows summing to 1, e.g. mixup).
Soft targets apply the margin to each class in proportion to its target weight ``y_c``::

    logit_c = s * (cos_c + y_c * (margin_cosine(cos_c) - cos_c))
    loss    = mean over the batch of  -sum_c y_c * log_softmax(logit)_c

A one-hot ``y`` gives exactly the usual single-label loss (e.g. equation 1 of S1 for ArcFace); a mixup target
``lam * e_a + (1 - lam) * e_b`` gives class ``a`` a ``lam``-weighted margin, class ``b`` a ``(1 - lam)``-weighted one.
Margins are in radians (ArcFace) or cosine units (CosFace).

Label smoothing ``eps`` acts on the loss target only, after the margins are placed: the cross-entropy target is
``(1 - eps) * y + eps / C``, as ``torch.nn.CrossEntropyLoss(label_smoothing=eps)``; ``eps = 0`` changes nothing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from soundsentry.errors import ConfigError
from soundsentry.registry import register_head

# Keeps arccos / sqrt(1 - cos^2) and their gradients finite at |cos| = 1.
COS_EPS = 1e-7


class MarginHead(nn.Module):
    """Normalised-weight cosine classifier; the base of ArcFace, CosFace, AdaCos and sub-cluster AdaCos.

    On its own (no margin) it is the normalised softmax ("NormFace") loss.

    Args:
        embed_dim: embedding size D.
        num_classes: number of classes C (e.g. machine IDs of one machine type).
        scale: logit scale s.
        label_smoothing: eps in [0, 1); the loss target becomes ``(1 - eps) * y + eps / C`` (S4: 0 or 0.05).
    """

    def __init__(self, embed_dim: int, num_classes: int, scale: float = 30.0, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if embed_dim < 1 or num_classes < 1:
            raise ConfigError(f"embed_dim and num_classes must be positive, got {embed_dim} and {num_classes}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must lie in [0, 1), got {label_smoothing}; S4 uses 0 or 0.05")
        self.embed_dim = embed_dim
        self.num_classes = num_classes
        self.scale = float(scale)
        self.label_smoothing = float(label_smoothing)
        self.weight = nn.Parameter(torch.empty(num_classes, embed_dim))
        nn.init.xavier_uniform_(self.weight)

    # --- hooks -------------------------------------------------------------------------------------------
    def margin_cosine(self, cos: torch.Tensor) -> torch.Tensor:
        """The cosine a class gets when it is the target; ``cos: (B, C)`` clamped to [-1 + eps, 1 - eps]."""
        return cos

    def current_scale(self, cos: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor | float:
        """The logit scale for this batch; ``target`` is (B, C) soft labels, or ``None`` at inference."""
        return self.scale

    def class_similarity(self, emb: torch.Tensor) -> torch.Tensor:
        """What margin and scale act on, (B, C): the clamped cosines here; plain softmax uses ``W x + b``."""
        return self.cosine(emb)

    def criterion(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss of logits (B, C) against (smoothed) soft targets (B, C): mean soft-target cross-entropy."""
        return -(y * F.log_softmax(logits, dim=1)).sum(dim=1).mean()

    # --- shared computation ------------------------------------------------------------------------------
    def cosine(self, emb: torch.Tensor) -> torch.Tensor:
        """Cosine similarities (B, C) between embeddings ``emb: (B, D)`` and the class weights.

        Half-precision inputs (autocast) are computed in float32: the margin arithmetic near |cos| = 1 needs it.
        """
        self.check_embeddings(emb)
        dtype = torch.promote_types(torch.promote_types(emb.dtype, self.weight.dtype), torch.float32)
        with torch.autocast(device_type=emb.device.type, enabled=False):
            cos = F.linear(F.normalize(emb.to(dtype), dim=1), F.normalize(self.weight.to(dtype), dim=1))
        return cos.clamp(-1.0 + COS_EPS, 1.0 - COS_EPS)

    def check_embeddings(self, emb: torch.Tensor) -> None:
        """Raise a ConfigError unless ``emb`` is (B, embed_dim)."""
        if emb.dim() != 2 or emb.shape[1] != self.embed_dim:
            raise ConfigError(
                f"{type(self).__name__} expects embeddings (B, {self.embed_dim}), got {tuple(emb.shape)}; "
                "set the head's embed_dim to the backbone's"
            )

    def smoothed(self, y: torch.Tensor) -> torch.Tensor:
        """Soft targets (B, C) with label smoothing applied: ``(1 - eps) * y + eps / C``."""
        if self.label_smoothing == 0.0:
            return y
        return (1.0 - self.label_smoothing) * y + self.label_smoothing / self.num_classes

    def soft_targets(self, target: torch.Tensor, batch_size: int) -> torch.Tensor:
        """Hard labels (B,) or soft labels (B, C) as float (B, C) soft labels."""
        if target.dim() == 1 and not target.is_floating_point():
            if target.shape[0] != batch_size:
                raise ConfigError(f"got {target.shape[0]} labels for {batch_size} embeddings")
            if target.numel() and (target.min() < 0 or target.max() >= self.num_classes):
                raise ConfigError(
                    f"labels must lie in [0, {self.num_classes - 1}], got {int(target.min())}..{int(target.max())}; "
                    "set num_classes to the number of classes in the training data"
                )
            return F.one_hot(target, self.num_classes).float()
        if target.dim() == 2 and target.is_floating_point() and tuple(target.shape) == (batch_size, self.num_classes):
            return target.float()
        raise ConfigError(
            f"targets must be integer labels ({batch_size},) or float soft labels ({batch_size}, {self.num_classes}), "
            f"got {target.dtype} {tuple(target.shape)}"
        )

    def logits(self, emb: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """Scaled cosine logits (B, C); with a target, each class gets its target-weighted margin.

        Args:
            emb: (B, D) embeddings.
            target: None for inference (plain ``s * cos``), hard labels (B,) or soft labels (B, C) for training.
        """
        cos = self.class_similarity(emb)
        if target is None:
            return self.current_scale(cos, None) * cos
        y = self.soft_targets(target, cos.shape[0])
        margined = cos + y * (self.margin_cosine(cos) - cos)
        return self.current_scale(cos, y) * margined

    def forward(self, emb: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss (cross-entropy unless :meth:`criterion` says otherwise) of the margin logits; a scalar.

        Args:
            emb: (B, D) embeddings.
            target: hard labels (B,) or soft labels (B, C); margins follow them, label smoothing comes after.
        """
        y = self.soft_targets(target, emb.shape[0])
        return self.criterion(self.logits(emb, y), self.smoothed(y))


@register_head("arcface")
class ArcFace(MarginHead):
    """Additive angular margin (Deng et al.): the target logit is ``s * cos(theta + m)``.

    Args:
        embed_dim: embedding size D.
        num_classes: number of classes C.
        margin: angular margin m in radians (S1 and S4: 0.05).
        scale: logit scale s (S1 and S4: 30).
        label_smoothing: eps of the loss target (S4: 0 or 0.05).

    For ``theta > pi - m`` the margin makes ``cos(theta + m)`` rise again; that region (about 177 degrees at
    m = 0.05) is left as the formula gives it, as in S1's equation 1.
    """

    def __init__(
        self,
        embed_dim: int,
        num_classes: int,
        margin: float = 0.05,
        scale: float = 30.0,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(embed_dim, num_classes, scale, label_smoothing)
        self.margin = float(margin)
        self._cos_m = math.cos(self.margin)
        self._sin_m = math.sin(self.margin)

    def margin_cosine(self, cos: torch.Tensor) -> torch.Tensor:
        # cos(theta + m) = cos theta cos m - sin theta sin m, with sin theta >= 0 for theta in [0, pi].
        sin = torch.sqrt(1.0 - cos * cos)
        return cos * self._cos_m - sin * self._sin_m

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_classes={self.num_classes}, margin={self.margin}, scale={self.scale}"


@register_head("cosface")
class CosFace(MarginHead):
    """Additive cosine margin (Wang et al., Large Margin Cosine Loss): the target logit is ``s * (cos theta - m)``.

    Args:
        embed_dim: embedding size D.
        num_classes: number of classes C.
        margin: cosine margin m, in cosine units (S4: 0.05, the value it uses for both margin losses).
        scale: logit scale s (S4: 30).
        label_smoothing: eps of the loss target (S4: 0 or 0.05).
    """

    def __init__(
        self,
        embed_dim: int,
        num_classes: int,
        margin: float = 0.05,
        scale: float = 30.0,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(embed_dim, num_classes, scale, label_smoothing)
        self.margin = float(margin)

    def margin_cosine(self, cos: torch.Tensor) -> torch.Tensor:
        return cos - self.margin

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_classes={self.num_classes}, margin={self.margin}, scale={self.scale}"


@register_head("softmax")
class SoftmaxHead(MarginHead):
    """Plain softmax cross-entropy on a linear classifier ``W x + b``: no normalisation, no margin, scale 1.

    S4's baseline ("original softmax", with the bottleneck ResNet-50). The weights are initialised as
    ``torch.nn.Linear``'s.

    Args:
        embed_dim: embedding size D.
        num_classes: number of classes C.
        label_smoothing: eps of the loss target (S4: 0 or 0.05).
    """

    def __init__(self, embed_dim: int, num_classes: int, label_smoothing: float = 0.0) -> None:
        super().__init__(embed_dim, num_classes, scale=1.0, label_smoothing=label_smoothing)
        self.bias = nn.Parameter(torch.empty(num_classes))
        bound = 1.0 / math.sqrt(embed_dim)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def class_similarity(self, emb: torch.Tensor) -> torch.Tensor:
        self.check_embeddings(emb)
        return F.linear(emb, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_classes={self.num_classes}, label_smoothing={self.label_smoothing}"


@register_head("focal")
class FocalLoss(SoftmaxHead):
    """Focal loss (Lin et al.) on the plain softmax classifier: ``-alpha * (1 - p_t)^gamma * log p_t``.

    With soft targets (mixup, label smoothing) every class contributes ``-alpha * y_c * (1 - p_c)^gamma * log p_c``;
    ``gamma = 0, alpha = 1`` is the cross-entropy of :class:`SoftmaxHead`.

    Args:
        embed_dim: embedding size D.
        num_classes: number of classes C.
        alpha: weight of the loss (S4: 1).
        gamma: focusing exponent (S4: 1).
        label_smoothing: eps of the loss target (S4: 0 or 0.05).
    """

    def __init__(
        self,
        embed_dim: int,
        num_classes: int,
        alpha: float = 1.0,
        gamma: float = 1.0,
        label_smoothing: float = 0.0,
    ) -> None:
        if alpha <= 0 or gamma < 0:
            raise ConfigError(f"focal loss needs alpha > 0 and gamma >= 0, got alpha={alpha}, gamma={gamma}")
        super().__init__(embed_dim, num_classes, label_smoothing)
        self.alpha = float(alpha)
        self.gamma = float(gamma)

    def criterion(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return focal_loss(logits, y, self.alpha, self.gamma)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, alpha={self.alpha}, gamma={self.gamma}"


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 1.0, gamma: float = 2.0) -> torch.Tensor:
    """Focal loss (Lin et al.) with soft targets: batch mean of ``-sum_c y_c alpha (1 - p_c)^gamma log p_c``.

    Args:
        logits: (B, C).
        target: (B, C) soft labels (one-hot, mixed or smoothed).
    """
    log_p = F.log_softmax(logits, dim=1)
    focus = (1.0 - log_p.exp()).clamp(min=0.0).pow(gamma)
    return -(alpha * target * focus * log_p).sum(dim=1).mean()
