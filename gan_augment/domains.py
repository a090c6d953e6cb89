"""Two image domains cut from lesion data sets, for unpaired translation (residual U-Net,
CycleGAN): lesion-free skin patches and lesion crops at the same physical scale.

Both crop squares of ``fraction`` x the image's shorter side: :class:`SkinPatches` where
the lesion mask is empty (preferring the brightest such window, away from the dark
vignette), :class:`LesionCrops` centred on the lesion. :class:`UnpairedView` pairs each
item of one domain with a seeded random partner of the other, keyed by (epoch, index).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor
from torch.utils.data import Dataset

from gan_augment.data import DermDataset, read_mask
from gan_augment.train_data import GANTrainingView


def lesion_free_windows(mask: np.ndarray, side: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners of ``side`` x ``side`` windows without lesion pixels."""
    h, w = mask.shape
    integral = np.pad((mask > 0).astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    corners = []
    for top in range(0, h - side + 1, stride):
        for left in range(0, w - side + 1, stride):
            b, r = top + side, left + side
            if integral[b, r] - integral[top, r] - integral[b, left] + integral[top, left] == 0:
                corners.append((top, left))
    return corners


class SkinPatches(Dataset):
    """Lesion-free skin patches (items: ``image``, ``id``) from a data set with masks.

    Where no window of ``fraction`` x the shorter side is free of lesion, smaller windows
    (down to half that) are tried; images without any are left out."""

    def __init__(self, base: DermDataset, fraction: float = 0.5) -> None:
        if not base.has_masks:
            raise ValueError("skin patches are cut outside lesion masks: the data set needs masks")
        if not 0.1 <= fraction <= 0.9:
            raise ValueError(f"fraction must lie in [0.1, 0.9], got {fraction}")
        self.base, self.fraction = base, fraction
        self.windows: list[tuple[int, list[tuple[int, int]], int]] = []
        for i, rec in enumerate(base.records):
            mask = read_mask(rec.mask)
            for shrink in (1.0, 0.8, 0.65, 0.5):
                side = int(min(mask.shape) * fraction * shrink)
                corners = lesion_free_windows(mask, side, max(side // 4, 1))
                if corners:
                    self.windows.append((i, corners, side))
                    break
        if not self.windows:
            raise ValueError("no image has a lesion-free window of that size; lower fraction")

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        i, corners, side = self.windows[index]
        image = self.base[i]["image"]
        grey = image.mean(axis=2)
        top, left = max(corners, key=lambda c: grey[c[0] : c[0] + side, c[1] : c[1] + side].mean())
        return {"image": np.ascontiguousarray(image[top : top + side, left : left + side]), "id": self.base.records[i].id}


class LesionCrops(Dataset):
    """Squares centred on each lesion (items: ``image``, ``mask``, ``id``, ``label``)."""

    def __init__(self, base: DermDataset, fraction: float = 0.5) -> None:
        if not base.has_masks:
            raise ValueError("lesion crops are centred on lesion masks: the data set needs masks")
        self.base, self.fraction = base, fraction

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.base[index]
        mask = item["mask"]
        h, w = mask.shape
        side = int(min(h, w) * self.fraction)
        ys, xs = np.nonzero(mask)
        cy, cx = (int(ys.mean()), int(xs.mean())) if len(ys) else (h // 2, w // 2)
        top = int(np.clip(cy - side // 2, 0, h - side))
        left = int(np.clip(cx - side // 2, 0, w - side))
        sl = (slice(top, top + side), slice(left, left + side))
        out = {"image": np.ascontiguousarray(item["image"][sl]), "mask": np.ascontiguousarray(mask[sl]), "id": item["id"]}
        if "label" in item:
            out["label"] = item["label"]
        return out


class UnpairedView(Dataset):
    """Item i of domain ``a`` with a partner from domain ``b`` drawn from (seed, epoch, i).
    Keys of the returned dict are prefixed ``a_`` / ``b_``."""

    def __init__(self, a: Any, b: Any, seed: int = 0) -> None:
        self.a, self.b, self.seed = a, b, seed

    def __len__(self) -> int:
        return len(self.a)

    def preload(self, threads: int = 8, progress: bool = True) -> UnpairedView:
        self.a.preload(threads, progress)
        self.b.preload(threads, progress)
        return self

    @staticmethod
    def _merge(a: dict[str, Tensor], b: dict[str, Tensor]) -> dict[str, Tensor]:
        return {**{f"a_{k}": v for k, v in a.items()}, **{f"b_{k}": v for k, v in b.items()}}

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Tensor]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        partner = int(np.random.default_rng([self.seed, epoch, index, 1]).integers(len(self.b)))
        return self._merge(self.a[(epoch, index)], self.b[(epoch, partner)])

    def preview_batch(self, n: int) -> dict[str, Tensor]:
        a, b = self.a.preview_batch(n), self.b.preview_batch(n)
        k = min(next(iter(a.values())).shape[0], next(iter(b.values())).shape[0])
        return self._merge({key: v[:k] for key, v in a.items()}, {key: v[:k] for key, v in b.items()})


def skin_and_lesion_domains(dataset: DermDataset, image_size: int, seed: int, fraction: float = 0.5) -> UnpairedView:
    """The training data of the translators: domain a = skin patches, b = lesion crops."""
    a = GANTrainingView(SkinPatches(dataset, fraction), image_size, seed=seed)
    b = GANTrainingView(LesionCrops(dataset, fraction), image_size, seed=seed + 1)
    return UnpairedView(a, b, seed)
