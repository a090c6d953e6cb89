"""Does an image's lesion sit where its mask says? A check that learns nothing.

A mask-to-image generator can fool a realism test while drawing its lesion somewhere else or at
another size; its (image, mask) pairs then teach a segmenter wrong boundaries. This module
segments every image the same plain way (the darker class of an Otsu threshold on smoothed
luminance: lesions are darker than skin) and scores that segmentation against the mask with
Dice. The number means little alone (Otsu also takes dark corners, hair and shadows); it is read
next to the same measure on real images with their own masks (how well a faithful pair scores)
and with another image's mask (how well a pair that ignores its mask scores). A leaf module
(torch only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

LUMA = (0.299, 0.587, 0.114)


def _check(images: Tensor, masks: Tensor) -> None:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be N x 3 x H x W, got {tuple(images.shape)}")
    if masks.ndim != 4 or masks.shape[1] != 1 or masks.shape[0] != images.shape[0] or masks.shape[-2:] != images.shape[-2:]:
        raise ValueError(f"masks must be N x 1 x H x W matching images {tuple(images.shape)}, got {tuple(masks.shape)}")
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or inf")


def otsu_thresholds(values: Tensor, bins: int = 64) -> Tensor:
    """Per row of ``values`` (N x P, in [0, 1]): the threshold that maximises the between-class
    variance of its histogram (Otsu 1979), as the upper edge of the last bin of the lower class."""
    hist = torch.stack([torch.histc(v.float(), bins, 0.0, 1.0) for v in values])
    p = hist / hist.sum(1, keepdim=True).clamp_min(1.0)
    centres = (torch.arange(bins, dtype=p.dtype) + 0.5) / bins
    w0, mu = p.cumsum(1), (p * centres).cumsum(1)
    between = (mu[:, -1:] * w0 - mu) ** 2 / (w0 * (1 - w0)).clamp_min(1e-12)
    return (between.argmax(1) + 1).to(values.dtype) / bins


def dark_region(images: Tensor, smooth: int = 5) -> Tensor:
    """N x 1 x H x W bool: the pixels at or below each image's Otsu threshold of luminance,
    after a ``smooth`` x ``smooth`` box blur (thin hairs fade). ``images`` in [0, 1]."""
    luma = sum(c * images[:, i : i + 1].float() for i, c in enumerate(LUMA))
    luma = F.avg_pool2d(luma, smooth, 1, smooth // 2, count_include_pad=False)
    thresholds = otsu_thresholds(luma.flatten(1).clamp(0, 1))
    return luma <= thresholds[:, None, None, None]


def dice(a: Tensor, b: Tensor) -> Tensor:
    """Per-item Dice of two N x 1 x H x W binary maps (1 where both are empty)."""
    a, b = a.flatten(1).float(), b.flatten(1).float()
    total = a.sum(1) + b.sum(1)
    return torch.where(total > 0, 2 * (a * b).sum(1) / total.clamp_min(1), torch.ones_like(total))


def mask_dice(images: Tensor, masks: Tensor) -> Tensor:
    """Per image: Dice of :func:`dark_region` against its mask (``masks`` > 0.5)."""
    _check(images, masks)
    return dice(dark_region(images), masks > 0.5)


def mask_agreement(images: Tensor, masks: Tensor) -> dict[str, float]:
    """Mean and median of :func:`mask_dice` over the images."""
    scores = mask_dice(images, masks)
    return {"dice_mean": float(scores.mean()), "dice_median": float(scores.median())}


def real_reference(images: Tensor, masks: Tensor) -> dict[str, float]:
    """The scale to read :func:`mask_agreement` on: real images with their own masks
    (``dice_mean`` ...) and with the next image's mask (``shuffled_dice_mean``: a generator
    that ignores its mask scores about this)."""
    out = mask_agreement(images, masks)
    shuffled = mask_agreement(images, masks.roll(1, dims=0)) if len(masks) > 1 else {"dice_mean": float("nan"), "dice_median": float("nan")}
    return {**out, "shuffled_dice_mean": shuffled["dice_mean"], "shuffled_dice_median": shuffled["dice_median"]}
