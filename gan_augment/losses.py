"""GAN losses shared by the recipes: adversarial (vanilla / LSGAN / hinge), feature matching."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

GAN_MODES = ("vanilla", "lsgan", "hinge")


def adversarial_loss(prediction: Tensor, target_is_real: bool, mode: str, *, for_discriminator: bool) -> Tensor:
    """Loss of discriminator logits ``prediction`` against the real/fake target.

    ``vanilla`` is the cross-entropy of Goodfellow et al. (pix2pix, DCGAN), ``lsgan`` the
    least-squares loss (pix2pixHD, CycleGAN), ``hinge`` the hinge loss; for the generator
    the hinge loss is ``-D(G(z))``.
    """
    prediction = prediction.float()
    if mode == "vanilla":
        target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
        return F.binary_cross_entropy_with_logits(prediction, target)
    if mode == "lsgan":
        return F.mse_loss(prediction, torch.full_like(prediction, 1.0 if target_is_real else 0.0))
    if mode == "hinge":
        if not for_discriminator:
            return -prediction.mean()
        return F.relu(1.0 - prediction).mean() if target_is_real else F.relu(1.0 + prediction).mean()
    raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {mode!r}")


def multiscale_adversarial_loss(
    predictions: Sequence, target_is_real: bool, mode: str, *, for_discriminator: bool
) -> Tensor:
    """Mean adversarial loss over discriminator scales; each scale may return a feature list."""
    losses = []
    for pred in predictions:
        logits = pred[-1] if isinstance(pred, (list, tuple)) else pred
        losses.append(adversarial_loss(logits, target_is_real, mode, for_discriminator=for_discriminator))
    return torch.stack(losses).mean()


def feature_matching_loss(fake_features: Sequence[Sequence[Tensor]], real_features: Sequence[Sequence[Tensor]]) -> Tensor:
    """pix2pixHD's feature matching (Wang et al. 2018, Eq. 4): L1 between the discriminators'
    intermediate activations on fake and (detached) real, summed over layers, averaged over
    scales and weighted 4 / (layers) as in the reference implementation."""
    per_scale = []
    for fake_scale, real_scale in zip(fake_features, real_features):
        layers = list(zip(fake_scale[:-1], real_scale[:-1]))
        total = sum(F.l1_loss(f.float(), r.detach().float()) for f, r in layers)
        per_scale.append(total * 4.0 / max(len(layers), 1))
    return torch.stack(per_scale).mean()
