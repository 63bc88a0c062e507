"""The head of a recipe that trains no classifier (a ``flatten`` patch bank): no parameters, no loss."""

from __future__ import annotations

from torch import Tensor, nn

from soundsentry.errors import ConfigError
from soundsentry.registry import register_head


class NoHead(nn.Module):
    """Placeholder of ``head: {name: none}``; training through it is refused."""

    def __init__(self, embed_dim: int, num_classes: int) -> None:
        super().__init__()
        self.embed_dim, self.num_classes = embed_dim, num_classes

    def forward(self, emb: Tensor, target: Tensor) -> Tensor:
        raise ConfigError(
            "head none has no loss to train; use it with a backbone that needs no training (flatten), "
            "or name a margin head such as arcface"
        )


@register_head("none")
def none(embed_dim: int, num_classes: int) -> NoHead:
    """No classification head (recipes whose backbone needs no training)."""
    return NoHead(embed_dim, num_classes)
