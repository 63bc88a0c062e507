"""The fully connected autoencoder of the DCASE 2023-2025 Task 2 baseline, as a plain ``nn.Module``.

Encoder: ``dim -> 128 -> 128 -> 128 -> 128 -> 8``, decoder: ``8 -> 128 -> 128 -> 128 -> 128 -> dim``; every
linear layer but the last is followed by batch norm (momentum 0.01, eps 1e-3, PyTorch's convention) and ReLU,
the bottleneck included. With ``dim = 640`` that is 267,928 trainable parameters.

The baseline keeps its two covariance matrices inside the network as frozen parameters; here they live in the model
file next to the weights (:mod:`soundsentry.baselines.ae_train`), so the network is only the network.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from soundsentry.errors import ConfigError
from soundsentry.registry import Registry

AUTOENCODERS: Registry[Any] = Registry("autoencoder")
register_autoencoder = AUTOENCODERS.register

BN_MOMENTUM = 0.01
BN_EPS = 1e-3


def _block(n_in: int, n_out: int) -> list[nn.Module]:
    return [nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out, momentum=BN_MOMENTUM, eps=BN_EPS), nn.ReLU()]


@register_autoencoder("dcase2023_ae")
class DenseAutoencoder(nn.Module):
    """Dense autoencoder on frame vectors: ``x: (B, dim) -> (reconstruction (B, dim), code (B, bottleneck))``.

    Args:
        input_dim: width of a frame vector (``n_mels * frames``, 640 in the baseline).
        hidden: width of every hidden layer (128).
        bottleneck: width of the code (8).
        depth: hidden layers on each side of the code (4).
    """

    def __init__(self, input_dim: int = 640, hidden: int = 128, bottleneck: int = 8, depth: int = 4) -> None:
        super().__init__()
        for name, value in (("input_dim", input_dim), ("hidden", hidden), ("bottleneck", bottleneck), ("depth", depth)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"dcase2023_ae: {name} must be a positive integer, got {value!r}")
        self.input_dim = input_dim
        widths = [input_dim] + [hidden] * depth
        enc: list[nn.Module] = []
        for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
            enc += _block(n_in, n_out)
        self.encoder = nn.Sequential(*enc, *_block(hidden, bottleneck))
        dec: list[nn.Module] = _block(bottleneck, hidden)
        for _ in range(depth - 1):
            dec += _block(hidden, hidden)
        self.decoder = nn.Sequential(*dec, nn.Linear(hidden, input_dim))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x: (B, input_dim)`` frame vectors -> (reconstruction ``(B, input_dim)``, code ``(B, bottleneck)``)."""
        if x.dim() != 2 or x.shape[1] != self.input_dim:
            raise ConfigError(
                f"dcase2023_ae expects frame vectors of shape (B, {self.input_dim}), got {tuple(x.shape)}; "
                "check n_mels * frames of the features against the model's input_dim"
            )
        code = self.encoder(x)
        return self.decoder(code), code
