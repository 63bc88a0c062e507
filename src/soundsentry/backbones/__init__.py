"""Embedding networks: ``forward(x: (B, C, F, T)) -> (B, D)`` with an ``embed_dim`` attribute.

Importing this package registers every backbone in :data:`soundsentry.registry.BACKBONES`.
"""

from soundsentry.backbones import mobilefacenet
from soundsentry.backbones.mobilefacenet import MobileFaceNet, mobilefacenet_net1, mobilefacenet_net2

__all__ = ["MobileFaceNet", "mobilefacenet", "mobilefacenet_net1", "mobilefacenet_net2"]
