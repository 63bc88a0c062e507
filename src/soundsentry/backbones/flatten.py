"""A backbone that learns nothing: a chunk's features, flattened, are its embedding.

With a log-mel front-end and 5-frame chunks hopped by one frame, the "embedding" of a chunk is the 640-d input
vector of the DCASE 2023-2025 autoencoder baseline, and a nearest-neighbour scorer over the chunks of the training
clips is a bank of log-mel patches: no training, nothing to overfit to the few target-domain clips. Recipes with
this backbone run no training phase (:class:`soundsentry.training.phases.frozen.Frozen`); the standardiser, if the
recipe has one, is still fitted on the training chunks.
"""

from __future__ import annotations

from torch import Tensor, nn

from soundsentry.errors import ConfigError
from soundsentry.registry import register_backbone


class Flatten(nn.Module):
    """(B, C, F, W) -> (B, C * F * W), no parameters.

    Args:
        in_chans: C.
        input_size: (F, W) of the chunks it is built for.

    Attributes:
        embed_dim: C * F * W.
        needs_training: False: the training stage runs no gradient phase for it.
    """

    needs_training = False

    def __init__(self, in_chans: int = 1, input_size: tuple[int, int] = (128, 5)) -> None:
        super().__init__()
        if len(tuple(input_size)) != 2 or min(input_size) < 1 or in_chans < 1:
            raise ConfigError(f"flatten: in_chans >= 1 and input_size [F, W] of positive sizes, got {input_size}")
        self.in_chans = int(in_chans)
        self.input_size = tuple(int(v) for v in input_size)
        self.embed_dim = self.in_chans * self.input_size[0] * self.input_size[1]

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, F, W) chunks -> (B, C * F * W)."""
        if tuple(x.shape[1:]) != (self.in_chans, *self.input_size):
            raise ConfigError(
                f"flatten: built for chunks (C, F, W) = {(self.in_chans, *self.input_size)}, got {tuple(x.shape[1:])}"
            )
        return x.flatten(1)


@register_backbone("flatten")
def flatten(in_chans: int = 1, input_size: tuple[int, int] = (128, 5)) -> Flatten:
    """The chunk's features as its embedding (a patch bank for nearest-neighbour scorers)."""
    return Flatten(in_chans=in_chans, input_size=input_size)


flatten.needs_training = False  # type: ignore[attr-defined]  (read by training.phases.resolve_phases)
