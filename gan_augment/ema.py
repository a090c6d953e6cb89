"""Exponential moving average of a generator's weights (Karras et al. 2018 / StyleGAN2-ADA's
``G_ema``): sampling from the average gives smoother, more realistic images than the last
iterate of adversarial training. Its own small class, as diffusers' ``EMAModel``."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps ``self.module``, an averaged copy of ``source`` (eval mode, no gradients).

    ``half_life_images``: after that many training images a weight's old value counts half
    (StyleGAN2-ADA's ``ema_kimg``); ``rampup`` limits the half-life to ``rampup`` x the
    images seen so far, so early averages do not drag the random initialisation along.
    Buffers (e.g. norm statistics) are copied, not averaged.
    """

    def __init__(self, source: nn.Module, half_life_images: float = 10_000.0, rampup: float | None = 0.05) -> None:
        if half_life_images <= 0:
            raise ValueError(f"half_life_images must be positive, got {half_life_images}")
        self.module = copy.deepcopy(source).eval().requires_grad_(False)
        self.half_life_images = float(half_life_images)
        self.rampup = rampup

    def beta(self, batch_size: int, images_seen: int) -> float:
        half_life = self.half_life_images
        if self.rampup is not None:
            half_life = min(half_life, max(images_seen, 1) * self.rampup)
        return 0.5 ** (batch_size / max(half_life, 1e-8))

    @torch.no_grad()
    def update(self, source: nn.Module, batch_size: int, images_seen: int) -> None:
        beta = self.beta(batch_size, images_seen)
        for p_ema, p in zip(self.module.parameters(), source.parameters()):
            p_ema.lerp_(p.detach(), 1.0 - beta)
        for b_ema, b in zip(self.module.buffers(), source.buffers()):
            b_ema.copy_(b)
