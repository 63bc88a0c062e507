"""Self-supervised pre-training components (S2: VICReg with mixup), free of any training loop.

Plain functions and ``nn.Module``\\ s a Lightning module (or any loop) calls: the expander and loss terms, the
three-branch pre-training step, the fine-tuning loss, LARS and its warm-up + cosine schedule.
"""

from soundsentry.ssl.optim import build_lars, warmup_cosine_lr, warmup_cosine_scheduler
from soundsentry.ssl.vicreg import (
    Expander,
    SectionClassifier,
    VICRegMixupLoss,
    covariance_loss,
    finetune_step,
    mixup,
    mixup_invariance,
    sample_lambda,
    soft_kl_loss,
    variance_loss,
    vicreg_step,
)

__all__ = [
    "Expander",
    "SectionClassifier",
    "VICRegMixupLoss",
    "build_lars",
    "covariance_loss",
    "finetune_step",
    "mixup",
    "mixup_invariance",
    "sample_lambda",
    "soft_kl_loss",
    "variance_loss",
    "vicreg_step",
    "warmup_cosine_lr",
    "warmup_cosine_scheduler",
]
