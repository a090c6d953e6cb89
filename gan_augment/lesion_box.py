"""The square box around a lesion: the view in which realism of a lesion is judged and in
which the background-preserving inpainting model works.

A leaf module (torch only). The box is the mask's bounding box, made square on its longer
side, grown by ``margin`` of that side on every side, moved (never shrunk more than needed)
to lie inside the image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_MARGIN = 0.25


def dilate(masks: Tensor, radius: int) -> Tensor:
    """Binary N1HW masks grown by ``radius`` pixels (square structuring element, float {0, 1})."""
    if radius <= 0:
        return masks.float()
    return F.max_pool2d(masks.float(), 2 * radius + 1, stride=1, padding=radius)


def lesion_box(mask: Tensor, margin: float = DEFAULT_MARGIN, min_side: int = 8) -> tuple[int, int, int]:
    """``(top, left, side)`` of the square box around the non-zero pixels of an HW ``mask``.

    ``side = max(box height, box width) * (1 + 2 * margin)``, at least ``min_side`` and at
    most the image's shorter side; the box is centred on the lesion and shifted inside.
    """
    if mask.ndim != 2:
        raise ValueError(f"mask must be HW, got shape {tuple(mask.shape)}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    h, w = mask.shape
    rows = torch.nonzero(mask.reshape(h, w).bool().any(dim=1)).flatten()
    cols = torch.nonzero(mask.reshape(h, w).bool().any(dim=0)).flatten()
    if rows.numel() == 0:
        raise ValueError("mask is empty: a lesion box needs at least one lesion pixel")
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    side = round(max(y1 - y0, x1 - x0) * (1 + 2 * margin))
    side = min(max(side, min_side), h, w)
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    top = min(max(round(cy - side / 2), 0), h - side)
    left = min(max(round(cx - side / 2), 0), w - side)
    return int(top), int(left), int(side)


def crop_resize(x: Tensor, box: tuple[int, int, int], size: int, *, nearest: bool = False) -> Tensor:
    """Crop ``box`` out of CHW / NCHW ``x`` and resize it to ``size`` x ``size``
    (bilinear with antialiasing for images, nearest-exact for masks)."""
    top, left, side = box
    batched = x.ndim == 4
    crop = x[..., top : top + side, left : left + side]
    crop = crop if batched else crop.unsqueeze(0)
    if side != size:
        if nearest:
            crop = F.interpolate(crop.float(), size=(size, size), mode="nearest-exact").to(x.dtype)
        else:
            crop = F.interpolate(crop.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return crop if batched else crop[0]


def lesion_crops(images: Tensor, masks: Tensor, size: int, margin: float = DEFAULT_MARGIN) -> tuple[Tensor, Tensor]:
    """Lesion-box crops of N3HW ``images`` and N1HW ``masks`` (boxes from the masks), both
    resized to ``size``: the "lesion crop" view of the realism report."""
    if images.shape[0] != masks.shape[0] or images.shape[-2:] != masks.shape[-2:]:
        raise ValueError(f"images {tuple(images.shape)} and masks {tuple(masks.shape)} differ in batch or size")
    crops, crop_masks = [], []
    for image, mask in zip(images, masks):
        box = lesion_box(mask[0], margin)
        crops.append(crop_resize(image, box, size))
        crop_masks.append(crop_resize(mask, box, size, nearest=True))
    return torch.stack(crops), torch.stack(crop_masks)
