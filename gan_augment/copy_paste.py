"""Lesion copy-paste: the no-learning baseline every GAN in the library must beat.

A real lesion cut from another (training) image is pasted into the lesion region of a real
skin image, so that the pasted lesion fills exactly the target mask: the mask of the result
is the target mask, unchanged, which is what segmentation pipelines need.

:func:`lesion_copy_paste` does one paste; :class:`LesionBank` holds the source lesions the
augmentation adapters (``LesionCopyPaste``, ``RandLesionCopyPasted``,
``RandomLesionCopyPaste``) draw from. Only torch, numpy and the ``lesion_box`` leaf are
imported here.

How one paste works:

1. (``seed`` given) the source lesion is flipped / rotated by one of the 8 symmetries of the
   square, drawn from the seed.
2. The source lesion's square lesion box (grown to hold the whole lesion where a non-square
   image clipped it) is cut and resized (bilinear, antialiased) so that
   the source lesion's bounding box maps onto the target mask's bounding box (a separate
   scale per axis), then placed there with sub-pixel precision.
3. Outside the source lesion, the cut-out is filled by a smooth extension of the lesion's
   own colours (normalised convolution at a few scales), so target-mask pixels that the
   source lesion's shape does not reach still get lesion colours, never source skin.
4. ``harmonize=True``: the pasted colours are shifted per RGB channel by (mean colour of the
   target's surrounding skin - mean colour of the source's surrounding skin): Reinhard's
   colour transfer reduced to its mean term, in plain RGB, then clamped to [0, 1].
5. The result is blended in with alpha = the target mask blurred by a Gaussian of
   ``sigma = feather * d`` (``d``: the target lesion's equivalent diameter), rescaled so that
   alpha is exactly 1 where the blurred mask is >= Phi(1) ~ 0.84 (about ``sigma`` inside the
   edge: the old lesion is covered there) and exactly 0 where it is <= Phi(-1) ~ 0.16 (about
   ``sigma`` outside: the image is untouched). Pixels outside that band are bit-identical
   to the input image.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gan_augment.lesion_box import dilate, lesion_box

# Blurred-mask levels where the feathered alpha reaches 0 and 1: Phi(-1) and Phi(1).
_ALPHA_LO = 0.5 * (1.0 + math.erf(-1.0 / math.sqrt(2.0)))
_ALPHA_HI = 1.0 - _ALPHA_LO
# The lesion-colour extension is computed at this resolution (it is smooth by design).
_FILL_SIZE = 64
_BANK_MAX_SIDE = 256


# ----------------------------------------------------------------------------- checks


def _check_image(image: Any, name: str) -> Tensor:
    if not isinstance(image, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (3, H, W), got {type(image).__name__}")
    if not image.is_floating_point():
        raise TypeError(f"{name} must be a float tensor with values in [0, 1], got dtype {image.dtype} (for uint8 use x.float() / 255)")
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"{name} must be an RGB image of shape (3, H, W), got shape {tuple(image.shape)}")
    if image.numel() == 0:
        raise ValueError(f"{name} is empty: shape {tuple(image.shape)}")
    if not bool(torch.isfinite(image).all()):
        raise ValueError(f"{name} contains NaN or inf")
    lo, hi = float(image.min()), float(image.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{name} values must lie in [0, 1], found [{lo:.3g}, {hi:.3g}]")
    return image


def _check_mask(mask: Any, name: str, image_name: str, image_hw: tuple[int, int]) -> Tensor:
    """-> bool HW tensor; errors name the argument."""
    if not isinstance(mask, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (H, W), got {type(mask).__name__}")
    if mask.ndim != 2:
        raise ValueError(f"{name} must be a single-channel mask of shape (H, W), got shape {tuple(mask.shape)}")
    if tuple(mask.shape) != tuple(image_hw):
        raise ValueError(f"{name} size {tuple(mask.shape)} differs from {image_name} size {tuple(image_hw)}")
    if mask.dtype != torch.bool:
        if mask.is_complex():
            raise TypeError(f"{name} must be a real tensor with values {{0, 1}}, got dtype {mask.dtype}")
        if not bool(((mask == 0) | (mask == 1)).all()):
            shown = torch.unique(mask)[:8].tolist()
            raise ValueError(f"{name} must be binary with values {{0, 1}}, found values {shown}")
        mask = mask != 0
    if not bool(mask.any()):
        raise ValueError(f"{name} is empty (no lesion pixels): a copy-paste needs a lesion on both sides")
    return mask


def _check_options(harmonize: Any, feather: Any, seed: Any) -> tuple[bool, float, int | None]:
    if not isinstance(harmonize, (bool, np.bool_)):
        raise TypeError(f"harmonize must be a bool, got {type(harmonize).__name__}")
    if isinstance(feather, bool) or not isinstance(feather, (int, float, np.integer, np.floating)):
        raise TypeError(f"feather must be a number, got {type(feather).__name__}")
    if not math.isfinite(float(feather)) or feather < 0:
        raise ValueError(f"feather must be a finite number >= 0, got {feather}")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        seed = int(seed)
    return bool(harmonize), float(feather), seed


# ----------------------------------------------------------------------------- helpers


def _bbox(mask: Tensor) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1), end-exclusive, of the non-zero pixels of a non-empty HW mask."""
    rows = torch.nonzero(mask.any(dim=1)).flatten()
    cols = torch.nonzero(mask.any(dim=0)).flatten()
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _cut_box(mask: Tensor) -> tuple[int, int, int, int]:
    """(top, left, height, width): the square lesion box, grown to hold the whole bounding
    box where the image's shorter side clipped it (a lesion wider than a non-square image is high)."""
    top, left, side = lesion_box(mask)
    y0, y1, x0, x1 = _bbox(mask)
    bottom, right = max(top + side, y1), max(left + side, x1)
    top, left = min(top, y0), min(left, x0)
    return top, left, bottom - top, right - left


def _gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of an NCHW float tensor; edges replicate (a lesion touching
    the image border continues beyond it). Large sigmas are blurred at a lower resolution."""
    if sigma < 0.05:  # the kernel's off-centre weights would be below exp(-200): identity
        return x
    n, c, h, w = x.shape
    factor = max(1, int(sigma // 4))
    small = x if factor == 1 else F.interpolate(x, size=(math.ceil(h / factor), math.ceil(w / factor)), mode="area")
    s = sigma / factor
    radius = max(1, math.ceil(3 * s))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (t / s) ** 2)
    kernel = kernel / kernel.sum()
    sh, sw = small.shape[-2:]
    y = F.pad(small.reshape(n * c, 1, sh, sw), (radius, radius, radius, radius), mode="replicate")
    y = F.conv2d(F.conv2d(y, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1)).reshape(n, c, sh, sw)
    return y if factor == 1 else F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)


def _dilate(mask: Tensor, radius: int) -> Tensor:
    """Square dilation of a bool HW mask (separable max-pool)."""
    if radius <= 0:
        return mask
    return dilate(mask.float()[None, None], radius)[0, 0] > 0


def _skin_mean(image: Tensor, mask: Tensor) -> Tensor | None:
    """Mean colour of the skin around the lesion: pixels inside the lesion box but outside
    the mask dilated by a tenth of the lesion's extent; fallback all non-mask pixels; None
    when the lesion fills the image."""
    y0, y1, x0, x1 = _bbox(mask)
    radius = max(1, round(0.1 * max(y1 - y0, x1 - x0)))
    top, left, side = lesion_box(mask)
    box = (slice(top, top + side), slice(left, left + side))
    ring = ~_dilate(mask[box], radius)
    if bool(ring.any()):
        return image[:, box[0], box[1]][:, ring].mean(dim=1)
    if bool(mask.all()):
        return None
    return image[:, ~mask].mean(dim=1)


def _extend_lesion_colours(crop: Tensor, weight: Tensor) -> Tensor:
    """``crop`` (3hw) inside the lesion (``weight`` 1hw in [0, 1]), a smooth extension of the
    lesion's colours outside it: normalised convolution at three scales, the finest dominating
    where it has support, then the mean lesion colour."""
    h, w = crop.shape[-2:]
    scale = min(1.0, _FILL_SIZE / max(h, w))
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    small = torch.cat([crop * weight, weight])[None]
    if scale < 1:
        small = F.interpolate(small, size=size, mode="area")
    total = float(weight.sum())
    mean = (crop * weight).flatten(1).sum(dim=1) / max(total, 1e-12)
    numerator = 1e-9 * mean.view(1, 3, 1, 1).expand(1, 3, *size)
    denominator = torch.full((1, 1, *size), 1e-9, dtype=crop.dtype, device=crop.device)
    side = max(size)
    for relative_sigma, strength in ((0.025, 1.0), (0.08, 1e-3), (0.25, 1e-6)):
        blurred = _gaussian_blur(small, max(0.5, relative_sigma * side))
        numerator = numerator + strength * blurred[:, :3]
        denominator = denominator + strength * blurred[:, 3:]
    fill = numerator / denominator
    if scale < 1:
        fill = F.interpolate(fill, size=(h, w), mode="bilinear", align_corners=False)
    return weight * crop + (1 - weight) * fill[0]


def _orient(image: Tensor, mask: Tensor, seed: int | None) -> tuple[Tensor, Tensor]:
    """One of the 8 flips / quarter turns of the square, drawn from ``seed`` (None: as is)."""
    if seed is None:
        return image, mask
    k = int(np.random.default_rng(seed).integers(8))
    image, mask = torch.rot90(image, k % 4, dims=(-2, -1)), torch.rot90(mask, k % 4, dims=(-2, -1))
    if k >= 4:
        image, mask = image.flip(-1), mask.flip(-1)
    return image, mask


# ----------------------------------------------------------------------------- the paste


def lesion_copy_paste(
    image: Tensor,
    mask: Tensor,
    source_image: Tensor,
    source_mask: Tensor,
    *,
    harmonize: bool = True,
    feather: float = 0.15,
    seed: int | None = None,
) -> Tensor:
    """Paste the lesion of ``source_image`` into the lesion region ``mask`` of ``image``.

    Args:
        image: (3, H, W) float tensor in [0, 1], a real skin image.
        mask: (H, W) tensor with values {0, 1} (or bool), non-empty: the target lesion. It is
            also the mask of the result: the pasted lesion fills it.
        source_image: (3, h, w) float tensor in [0, 1] holding the lesion to copy.
        source_mask: (h, w) non-empty binary mask of that lesion.
        harmonize: shift the pasted colours by (target skin mean - source skin mean) per RGB
            channel, where "skin" is the lesion box outside the slightly dilated mask.
        feather: width of the soft edge, as a fraction of the target lesion's equivalent
            diameter (the Gaussian's sigma); 0 gives a hard edge exactly on ``mask``.
        seed: ``None`` pastes the source lesion as it is; an int draws one of its 8 flips /
            90-degree rotations (deterministic for a given seed).

    Returns:
        A new (3, H, W) tensor of ``image``'s dtype and device, values in [0, 1]. Pixels
        farther than about ``feather * d`` outside ``mask`` are bit-identical to ``image``.

    Raises:
        TypeError / ValueError naming the argument for non-tensors, wrong shapes or dtypes,
        NaN / inf, values outside [0, 1], non-binary or empty masks, bad options.
    """
    image = _check_image(image, "image")
    target = _check_mask(mask, "mask", "image", tuple(image.shape[-2:]))
    source_image = _check_image(source_image, "source_image")
    source = _check_mask(source_mask, "source_mask", "source_image", tuple(source_image.shape[-2:]))
    harmonize, feather, seed = _check_options(harmonize, feather, seed)

    device = image.device
    work = torch.float64 if image.dtype == torch.float64 else torch.float32
    img = image.to(work)
    target = target.to(device)
    src = source_image.to(device=device, dtype=work)
    source = source.to(device)
    height, width = target.shape

    shift = None
    if harmonize:
        skin_target, skin_source = _skin_mean(img, target), _skin_mean(src, source)
        if skin_target is not None and skin_source is not None:
            shift = skin_target - skin_source

    # 1-2. orient the source, cut its lesion box, scale it so the bounding boxes match
    src, source = _orient(src, source, seed)
    sy0, sy1, sx0, sx1 = _bbox(source)
    ty0, ty1, tx0, tx1 = _bbox(target)
    top, left, cut_h, cut_w = _cut_box(source)
    scale_y, scale_x = (ty1 - ty0) / (sy1 - sy0), (tx1 - tx0) / (sx1 - sx0)
    crop_h, crop_w = max(1, round(cut_h * scale_y)), max(1, round(cut_w * scale_x))
    stack = torch.cat([src, source[None].to(work)])[:, top : top + cut_h, left : left + cut_w]
    if (crop_h, crop_w) != (cut_h, cut_w):
        stack = F.interpolate(stack[None], size=(crop_h, crop_w), mode="bilinear", align_corners=False, antialias=True)[0]
    crop, weight = stack[:3], stack[3:].clamp(0, 1)

    # 3-4. lesion colours everywhere in the cut-out, harmonised
    content = _extend_lesion_colours(crop, weight)
    if shift is not None:
        content = content + shift.view(3, 1, 1)
    content = content.clamp(0, 1)

    # 5. alpha on a window around the target lesion (nothing outside it changes)
    area = float(target.sum())
    sigma = feather * 2.0 * math.sqrt(area / math.pi)
    pad = math.ceil(3 * sigma) + 2
    wy0, wy1 = max(0, ty0 - pad), min(height, ty1 + pad)
    wx0, wx1 = max(0, tx0 - pad), min(width, tx1 + pad)
    window = target[wy0:wy1, wx0:wx1].to(work)
    if sigma > 0:
        blurred = _gaussian_blur(window[None, None], sigma)[0, 0]
        alpha = ((blurred - _ALPHA_LO) / (_ALPHA_HI - _ALPHA_LO)).clamp(0, 1)
    else:
        alpha = window

    # target pixel centre -> source crop coordinates (bounding box onto bounding box)
    fy, fx = crop_h / cut_h, crop_w / cut_w
    cy0, cy1 = (sy0 - top) * fy, (sy1 - top) * fy
    cx0, cx1 = (sx0 - left) * fx, (sx1 - left) * fx
    ys = torch.arange(wy0, wy1, dtype=work, device=device) + 0.5
    xs = torch.arange(wx0, wx1, dtype=work, device=device) + 0.5
    u = cy0 + (ys - ty0) * (cy1 - cy0) / (ty1 - ty0)
    v = cx0 + (xs - tx0) * (cx1 - cx0) / (tx1 - tx0)
    grid = torch.stack(torch.meshgrid(2 * v / crop_w - 1, 2 * u / crop_h - 1, indexing="xy"), dim=-1)
    pasted = F.grid_sample(content[None], grid[None], mode="bilinear", padding_mode="border", align_corners=False)[0]

    region = img[:, wy0:wy1, wx0:wx1]
    blended = (region * (1 - alpha) + pasted * alpha).clamp(0, 1)
    out = image.clone()
    out[:, wy0:wy1, wx0:wx1] = torch.where(alpha > 0, blended, region).to(image.dtype)
    return out


# ----------------------------------------------------------------------------- the bank


def _draw_index(rng: Any, n: int) -> int:
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(n))
    if isinstance(rng, np.random.RandomState):
        return int(rng.randint(n))
    if isinstance(rng, random.Random):
        return rng.randrange(n)
    if isinstance(rng, torch.Generator):
        return int(torch.randint(n, (), generator=rng))
    if rng is None:
        return int(torch.randint(n, ()))
    raise TypeError(
        "rng must be a numpy Generator / RandomState, a random.Random, a torch.Generator or None, " f"got {type(rng).__name__}"
    )


class LesionBank:
    """Source lesions for copy-paste: ``(image, mask)`` pairs, each stored as its lesion-box
    crop (downscaled to at most ``max_side`` pixels a side, uint8 RGB + bool mask) to save memory.

    Build from lists of tensors (``LesionBank(images, masks)``: images (3, h, w) float in
    [0, 1] or uint8, masks (h, w) binary and non-empty) or from a data set
    (:meth:`from_dataset`); :meth:`save` / :meth:`load` keep it in a ``.npz`` file (no pickle),
    which is how a pipeline holding it is serialised.
    """

    def __init__(self, images: Sequence[Tensor], masks: Sequence[Tensor], *, max_side: int = _BANK_MAX_SIDE) -> None:
        if len(images) != len(masks):
            raise ValueError(f"LesionBank: got {len(images)} images but {len(masks)} masks")
        if len(images) == 0:
            raise ValueError("LesionBank needs at least one lesion")
        self._reset(max_side)
        for i, (image, mask) in enumerate(zip(images, masks)):
            if isinstance(image, Tensor) and image.dtype == torch.uint8:
                if image.ndim != 3 or image.shape[0] != 3:
                    raise ValueError(f"images[{i}] must have shape (3, h, w), got {tuple(image.shape)}")
                image = image.float() / 255.0
            image = _check_image(image, f"images[{i}]")
            m = _check_mask(mask, f"masks[{i}]", f"images[{i}]", tuple(image.shape[-2:]))
            self._add(image, m)

    def _reset(self, max_side: int) -> None:
        if max_side < 8:
            raise ValueError(f"LesionBank: max_side must be >= 8, got {max_side}")
        self.max_side = int(max_side)
        self.source: str | None = None  # the file it was loaded from / saved to (serialisation)
        self._images: list[Tensor] = []  # lesion-box crops, uint8 (3, h, w)
        self._masks: list[Tensor] = []  # bool (h, w)

    def _add(self, image: Tensor, mask: Tensor) -> None:
        top, left, h, w = _cut_box(mask)
        crop = image.float()[:, top : top + h, left : left + w]
        crop_mask = mask[top : top + h, left : left + w].float()
        factor = min(1.0, self.max_side / max(h, w))
        if factor < 1:
            size = (max(1, round(h * factor)), max(1, round(w * factor)))
            crop = F.interpolate(crop[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]
            soft = F.interpolate(crop_mask[None, None], size=size, mode="bilinear", align_corners=False, antialias=True)[0, 0]
            crop_mask = soft >= 0.5 if bool((soft >= 0.5).any()) else soft >= soft.max()  # a thin lesion keeps its strongest pixels
        self._images.append(crop.clamp(0, 1).mul(255).round().to(torch.uint8).cpu())
        self._masks.append(crop_mask.bool().cpu())

    @classmethod
    def from_dataset(cls, dataset: Any, max_items: int | None = None, seed: int = 0, *, max_side: int = _BANK_MAX_SIDE) -> LesionBank:
        """Lesions of a :class:`gan_augment.data.DermDataset` (or any sequence of dicts with
        ``"image"`` HWC uint8 and ``"mask"`` HW numpy arrays; non-zero mask pixels are lesion).

        Items with an empty mask are skipped. ``max_items`` takes that many lesions from a
        ``seed``-shuffled order (all, in order, when ``None``). Only indexing is used: no data
        reader is imported here.
        """
        if max_items is not None and max_items < 1:
            raise ValueError(f"max_items must be >= 1 or None, got {max_items}")
        n = len(dataset)
        order = range(n) if max_items is None else np.random.default_rng(seed).permutation(n).tolist()
        bank = cls.__new__(cls)
        bank._reset(max_side)
        for i in order:
            item = dataset[i]
            if "mask" not in item:
                raise ValueError(f"LesionBank.from_dataset: item {i} has no 'mask' (a copy-paste source needs a lesion mask)")
            mask = torch.as_tensor(np.asarray(item["mask"])) != 0
            if mask.ndim == 3 and mask.shape[-1] == 1:
                mask = mask[..., 0]
            if not bool(mask.any()):
                continue
            image = np.asarray(item["image"])
            if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
                raise ValueError(f"LesionBank.from_dataset: item {i}: image must be HWC uint8 RGB, got {image.dtype} {image.shape}")
            if mask.shape != image.shape[:2]:
                raise ValueError(f"LesionBank.from_dataset: item {i}: mask {tuple(mask.shape)} and image {image.shape[:2]} differ in size")
            bank._add(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255.0, mask)
            if max_items is not None and len(bank) >= max_items:
                break
        if len(bank) == 0:
            raise ValueError("LesionBank.from_dataset: no item has a non-empty lesion mask")
        return bank

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        """Lesion ``index`` as ``(image (3, h, w) float32 in [0, 1], mask (h, w) float32 {0, 1})``."""
        return self._images[index].float() / 255.0, self._masks[index].float()

    def draw(self, rng: Any = None) -> tuple[Tensor, Tensor]:
        """A random lesion ``(image, mask)``; ``rng``: numpy Generator / RandomState,
        random.Random, torch.Generator, or None (torch's global generator)."""
        return self[_draw_index(rng, len(self))]

    def save(self, path: str | os.PathLike) -> None:
        """Write the bank to a ``.npz`` file (uint8 arrays only, no pickle) and remember the path."""
        arrays: dict[str, np.ndarray] = {"max_side": np.array(self.max_side)}
        for i, (image, mask) in enumerate(zip(self._images, self._masks)):
            arrays[f"image_{i}"], arrays[f"mask_{i}"] = image.numpy(), mask.numpy().astype(np.uint8)
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)
        self.source = os.fspath(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> LesionBank:
        """Read a bank written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            n = sum(1 for key in data.files if key.startswith("image_"))
            if n == 0 or any(f"mask_{i}" not in data.files for i in range(n)):
                raise ValueError(f"{os.fspath(path)} is not a LesionBank file (expected image_i / mask_i arrays)")
            bank = cls.__new__(cls)
            bank._reset(int(data["max_side"]) if "max_side" in data.files else _BANK_MAX_SIDE)
            bank._images = [torch.from_numpy(data[f"image_{i}"].astype(np.uint8)) for i in range(n)]
            bank._masks = [torch.from_numpy(data[f"mask_{i}"] != 0) for i in range(n)]
        bank.source = os.fspath(path)
        return bank

    def __repr__(self) -> str:
        where = f", source={self.source!r}" if self.source else ""
        return f"LesionBank({len(self)} lesions{where})"


def as_lesion_bank(bank: Any, owner: str) -> LesionBank:
    """The adapters' ``bank`` argument: a :class:`LesionBank` or the path of a saved one."""
    if isinstance(bank, LesionBank):
        return bank
    if isinstance(bank, (str, os.PathLike)):
        return LesionBank.load(bank)
    raise TypeError(f"{owner}: bank must be a LesionBank or the path of a saved one (LesionBank.save), got {type(bank).__name__}")


def bank_name(bank: LesionBank, owner: str) -> str:
    """What serialisation stores for ``bank``: the file it came from."""
    if bank.source is None:
        raise ValueError(
            f"{owner} holds an in-memory LesionBank: save it with bank.save('lesions.npz') and pass that path to serialise the pipeline"
        )
    return bank.source


def check_paste_arguments(owner: str, probability: float, harmonize: Any, feather: Any) -> None:
    """Constructor checks of the adapters (errors name the owner and the argument)."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"{owner}: the probability must lie in [0, 1], got {probability}")
    try:
        _check_options(harmonize, feather, None)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{owner}: {error}") from None


def paste_from_bank(
    bank: LesionBank, image: Tensor, mask: Tensor, *, index: int, seed: int, harmonize: bool, feather: float
) -> Tensor | None:
    """What the adapters do for one sample: paste lesion ``index`` of ``bank`` into ``image``
    (3HW [0, 1]) inside ``mask`` (HW {0, 1}); ``None`` when the mask has no lesion pixels
    (the sample then passes unchanged)."""
    if not bool(mask.any()):
        return None
    source_image, source_mask = bank[index]
    return lesion_copy_paste(image, mask, source_image, source_mask, harmonize=harmonize, feather=feather, seed=seed)
