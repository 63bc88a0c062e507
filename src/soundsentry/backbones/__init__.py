"""Embedding networks: ``forward(x: (B, C, F, T)) -> (B, D)`` with an ``embed_dim`` attribute.

Importing this package registers every backbone in :data:`soundsentry.registry.BACKBONES`.
"""

from soundsentry.backbones import mobilefacenet, mobilenetv2
from soundsentry.backbones.dual_branch import DualBranch
from soundsentry.backbones.flatten import Flatten, flatten
from soundsentry.backbones.mobilefacenet import MobileFaceNet, mobilefacenet_net1, mobilefacenet_net2
from soundsentry.backbones.mobilenetv2 import MobileNetV2Encoder, mobilenetv2_s2
from soundsentry.backbones.resnet50 import ResNet50, resnet50, resnet50_ir
from soundsentry.backbones.resnet_s3 import ResNetS3, resnet_s3

__all__ = [
    "DualBranch",
    "Flatten",
    "MobileFaceNet",
    "MobileNetV2Encoder",
    "ResNet50",
    "ResNetS3",
    "flatten",
    "mobilefacenet",
    "mobilefacenet_net1",
    "mobilefacenet_net2",
    "mobilenetv2",
    "mobilenetv2_s2",
    "resnet50",
    "resnet50_ir",
    "resnet_s3",
]
