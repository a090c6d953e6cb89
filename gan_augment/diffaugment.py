"""Differentiable augmentation for data-efficient GAN training (Zhao et al., NeurIPS 2020).

The same random colour / translation / cutout is applied to real and fake images before
the discriminator (each call draws fresh randomness), so D cannot memorise a small data
set, and gradients flow through to G. Off by default; enable with a policy string such as
``"color,translation,cutout"``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

POLICIES = ("color", "translation", "cutout")


def diff_augment(x: Tensor, policy: str, *, color_channels: slice | None = None) -> Tensor:
    """Augment a batch ``x`` (N C H W, values in [-1, 1]).

    ``color_channels`` limits colour jitter to those channels (e.g. the image part of a
    mask+image pair); geometric ops always move every channel together.
    """
    ops = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = set(ops) - set(POLICIES)
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {sorted(unknown)}; choose from {POLICIES}")
    if "color" in ops:
        span = range(x.shape[1])[color_channels or slice(None)]
        start, stop = span.start, span.stop
        x = torch.cat([x[:, :start], _color(x[:, start:stop]), x[:, stop:]], dim=1)
    if "translation" in ops:
        x = _translation(x)
    if "cutout" in ops:
        x = _cutout(x)
    return x


def _color(x: Tensor) -> Tensor:
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


def _translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = (gy.unsqueeze(0) + dy + 1).clamp(0, h + 1)
    gx = (gx.unsqueeze(0) + dx + 1).clamp(0, w + 1)
    padded = F.pad(x, (1, 1, 1, 1))  # zero border, as in the reference
    idx = (gy * (w + 2) + gx).view(n, 1, -1).expand(-1, x.shape[1], -1)
    return padded.flatten(2).gather(2, idx).view_as(x)


def _cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Zero a random ``ratio``-sized box per image (the box may overhang the border)."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h, (n, 1, 1), device=x.device) - ch // 2
    left = torch.randint(0, w, (n, 1, 1), device=x.device) - cw // 2
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    inside = (gy >= top) & (gy < top + ch) & (gx >= left) & (gx < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)
