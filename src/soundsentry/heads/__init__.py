"""Classification heads used to train embeddings: the margin-softmax family.

``head(emb: (B, D), target) -> loss``; ``head.logits(emb)`` for softmax scoring. Importing this package registers
every head in :data:`soundsentry.registry.HEADS`.
"""

from soundsentry.heads.margin import ArcFace, MarginHead

__all__ = ["ArcFace", "MarginHead"]
