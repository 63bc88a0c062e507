"""S2's fine-tuning head: the 320-128-C section classifier with a KL loss to (mixed) section labels.

A thin head around :class:`~soundsentry.ssl.vicreg.SectionClassifier` so a recipe can name it
(``head: {name: section_classifier, hidden: 128}``) and the trainer can build it like the margin heads: the class
count comes from the data, the input size from the backbone. Unlike the margin heads it has no class weights
``W: (C, D)``, so nothing reads sub-cluster centres from it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from soundsentry.registry import register_head
from soundsentry.ssl.vicreg import SectionClassifier, soft_kl_loss


@register_head("section_classifier")
class SectionClassifierHead(nn.Module):
    """``embed_dim - hidden - num_classes`` MLP (S2 section 2.4: "2 fully-connected (320-128-6)").

    Args:
        embed_dim: encoder output size (320).
        num_classes: section IDs of the unit.
        hidden: width of the hidden layer (128).
    """

    def __init__(self, embed_dim: int, num_classes: int, hidden: int = 128) -> None:
        super().__init__()
        self.classifier = SectionClassifier(num_classes, in_dim=embed_dim, hidden=hidden)
        self.num_classes = num_classes

    def logits(self, emb: torch.Tensor) -> torch.Tensor:
        """``emb: (B, embed_dim)`` -> ``(B, C)`` logits."""
        return self.classifier(emb)

    def forward(self, emb: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """KL divergence to ``target``: class indices (B,) or soft labels (B, C) (cross-entropy for one-hot)."""
        logits = self.logits(emb)
        if target.dim() == 1:
            target = F.one_hot(target, self.num_classes).to(logits.dtype)
        return soft_kl_loss(logits, target.to(logits.dtype))
