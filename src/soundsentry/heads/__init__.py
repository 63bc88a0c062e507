"""Classification heads used to train embeddings: the margin-softmax family, and S2's section classifier.

``head(emb: (B, D), target) -> loss``; ``head.logits(emb)`` for softmax scoring. Importing this package registers
every head in :data:`soundsentry.registry.HEADS`.
"""

from soundsentry.heads.adacos import AdaCos, adacos, subcluster_adacos
from soundsentry.heads.margin import ArcFace, CosFace, FocalLoss, MarginHead, SoftmaxHead, focal_loss
from soundsentry.heads.none import NoHead
from soundsentry.heads.section import SectionClassifierHead

__all__ = [
    "AdaCos",
    "ArcFace",
    "CosFace",
    "FocalLoss",
    "MarginHead",
    "NoHead",
    "SectionClassifierHead",
    "SoftmaxHead",
    "adacos",
    "focal_loss",
    "subcluster_adacos",
]
