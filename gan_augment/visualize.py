"""PNG grids: one row per sample, one column per view (e.g. mask | real | synthetic)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from gan_augment.functional import resize_images


def _as_rgb_batch(column: Tensor, size: tuple[int, int]) -> Tensor:
    column = column.detach().float().cpu()
    if column.ndim == 3:  # N H W mask
        column = column.unsqueeze(1)
    if column.shape[1] == 1:
        column = column.expand(-1, 3, -1, -1)
    return resize_images(column.clamp(0, 1), size)


def grid_image(
    columns: Sequence[Tensor], titles: Sequence[str] | None = None, *, pad: int = 2, max_rows: int | None = None
) -> Image.Image:
    """A PIL grid of N3HW / N1HW / NHW tensors in [0, 1]; columns are resized to the first one's size."""
    if not columns:
        raise ValueError("nothing to draw")
    rows = min(c.shape[0] for c in columns)
    if max_rows is not None:
        rows = min(rows, max_rows)
    h, w = columns[0].shape[-2:]
    cols = [_as_rgb_batch(c[:rows], (h, w)) for c in columns]
    header = 14 if titles else 0
    canvas = torch.ones(3, header + rows * (h + pad) + pad, len(cols) * (w + pad) + pad)
    for j, col in enumerate(cols):
        for i in range(rows):
            y, x = header + pad + i * (h + pad), pad + j * (w + pad)
            canvas[:, y : y + h, x : x + w] = col[i]
    image = Image.fromarray((canvas.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    if titles:
        draw = ImageDraw.Draw(image)
        for j, title in enumerate(titles):
            draw.text((pad + j * (w + pad) + 2, 1), title, fill=(0, 0, 0))
    return image


def save_grid(
    columns: Sequence[Tensor], path: str | os.PathLike, titles: Sequence[str] | None = None, **kwargs
) -> Path:
    """Write :func:`grid_image` to ``path`` (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid_image(columns, titles, **kwargs).save(path)
    return path
