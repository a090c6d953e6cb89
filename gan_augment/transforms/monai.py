"""MONAI adapters: ``RandGANAugment`` (array) and ``RandGANAugmentd`` (dictionary), and the
no-learning baseline ``RandLesionCopyPaste`` / ``RandLesionCopyPasted`` (a real lesion from a
:class:`~gan_augment.copy_paste.LesionBank` pasted into the mask).

Both are ``RandomizableTransform``s drawing from ``self.R``, so ``set_random_state`` and
MONAI's per-worker seeding (``monai.data.DataLoader`` / ``worker_init_fn``) reproduce
them. Images are channel-first (3, H, W) numpy arrays, tensors or ``MetaTensor``s (metadata
is kept); masks (1, H, W) or (H, W).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import TransformBackends

from gan_augment.copy_paste import LesionBank, as_lesion_bank, check_paste_arguments, paste_from_bank
from gan_augment.transforms._core import (
    EmptyMaskPolicy,
    GeneratorArg,
    LazySynthesizer,
    Mode,
    as_plain_tensor,
    binary_mask,
    check_arguments,
    check_image_array,
    check_mode,
    mode_condition,
    new_mask_like,
    synthesize,
)


class RandGANAugment(RandomizableTransform):
    """With probability ``prob``, replace a channel-first RGB image by a GAN sample
    conditioned on ``mask`` (``__call__(img, mask)``); same type, shape and dtype.

    ``value_range`` is the range of the input's values: ``(0, 1)`` for floats in [0, 1],
    ``(0, 255)`` for images loaded as 0-255 floats; uint8 images are always 0-255.
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        generator: GeneratorArg,
        prob: float = 0.5,
        on_empty_mask: EmptyMaskPolicy = "raise",
        value_range: tuple[float, float] = (0.0, 1.0),
        device: str = "auto",
        label: int | None = None,
    ) -> None:
        check_arguments("RandGANAugment", prob, on_empty_mask)
        if value_range[1] <= value_range[0]:
            raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}")
        RandomizableTransform.__init__(self, prob)
        self.lazy = LazySynthesizer(generator, device)
        self.on_empty_mask, self.value_range, self.label = on_empty_mask, tuple(value_range), label
        self._seed = 0

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        self._seed = int(self.R.randint(0, 2**31 - 1))

    def __call__(self, img: Any, mask: Any = None, randomize: bool = True) -> Any:
        if randomize:
            self.randomize()
        if not self._do_transform:
            return img
        return self.apply(img, mask, self._seed)

    def apply(self, img: Any, mask: Any, seed: int, erase: torch.Tensor | None = None) -> Any:
        """The synthesis itself, for a given seed (no randomness drawn); ``erase``: the old
        lesion to paint over (reshape mode of :class:`RandGANAugmentd`)."""
        check_image_array(img, "RandGANAugment", channel_axis=0, check_range=False)
        tensor = as_plain_tensor(img)
        low, high = (0.0, 255.0) if tensor.dtype == torch.uint8 else self.value_range
        image01 = (tensor.float() - low) / (high - low)
        if image01.min() < 0 or image01.max() > 1:
            raise ValueError(
                f"RandGANAugment: image values must lie in value_range {self.value_range}, "
                f"found [{float(tensor.min()):.3g}, {float(tensor.max()):.3g}]"
            )
        condition = None if mask is None else binary_mask(mask, "RandGANAugment", tuple(tensor.shape[-2:]))
        result = synthesize(
            self.lazy, image01, condition, seed=seed, owner="RandGANAugment", on_empty_mask=self.on_empty_mask, label=self.label,
            erase_mask=erase,
        )
        if result is None:
            return img
        values = result * (high - low) + low
        if tensor.dtype == torch.uint8:
            values = values.round().clamp(0, 255)
        out = img.copy() if isinstance(img, np.ndarray) else img.clone()
        out[...] = values.numpy().astype(img.dtype) if isinstance(img, np.ndarray) else values.to(img.dtype)
        return out


class RandGANAugmentd(RandomizableTransform, MapTransform):
    """Dictionary version: ``keys=("image", "label")`` names the image and (optionally) the
    mask entry; the mask passes through, the image is replaced."""

    backend = RandGANAugment.backend

    def __init__(
        self,
        keys: KeysCollection,
        generator: GeneratorArg,
        prob: float = 0.5,
        on_empty_mask: EmptyMaskPolicy = "raise",
        value_range: tuple[float, float] = (0.0, 1.0),
        device: str = "auto",
        label: int | None = None,
        allow_missing_keys: bool = False,
        mode: Mode = "retexture",
        reshape_strength: float = 0.15,
    ) -> None:
        check_arguments("RandGANAugmentd", prob, on_empty_mask)
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        if not 1 <= len(self.keys) <= 2:
            raise ValueError(f"keys must be (image_key,) or (image_key, mask_key), got {self.keys}")
        self.array = RandGANAugment(generator, 1.0, on_empty_mask, value_range, device, label)
        check_mode("RandGANAugmentd", mode, self.array.lazy)
        if mode == "reshape" and len(self.keys) < 2:
            raise ValueError("RandGANAugmentd: mode='reshape' returns a new mask: give keys=(image_key, mask_key)")
        self.mode, self.reshape_strength = mode, reshape_strength

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandGANAugmentd:
        super().set_random_state(seed, state)
        self.array.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize(None)
        seed = int(self.R.randint(0, 2**31 - 1))
        if not self._do_transform:
            return d
        image_key = self.keys[0]
        mask_key: Sequence[Hashable] | Hashable | None = self.keys[1] if len(self.keys) > 1 else None
        if image_key not in d:
            if self.allow_missing_keys:
                return d
            raise KeyError(f"RandGANAugmentd: key {image_key!r} not in the data")
        mask = d.get(mask_key) if mask_key is not None else None
        if self.mode == "reshape" and mask is not None:
            image = d[image_key]
            condition = binary_mask(mask, "RandGANAugmentd", tuple(image.shape[-2:]))
            new, erase = mode_condition(self.mode, condition, seed, self.reshape_strength)
            if erase is not None:
                d[image_key] = self.array.apply(image, new, seed, erase=erase)
                d[mask_key] = new_mask_like(new, mask)
                return d
        d[image_key] = self.array.apply(d[image_key], mask, seed)
        return d


def _to_unit_range(img: Any, value_range: tuple[float, float], owner: str) -> tuple[torch.Tensor, float, float]:
    """Channel-first image -> (float tensor in [0, 1], low, high) of its value range."""
    check_image_array(img, owner, channel_axis=0, check_range=False)
    tensor = as_plain_tensor(img)
    low, high = (0.0, 255.0) if tensor.dtype == torch.uint8 else value_range
    image01 = (tensor.float() - low) / (high - low)
    if not bool(torch.isfinite(image01).all()) or image01.min() < 0 or image01.max() > 1:
        raise ValueError(
            f"{owner}: image values must be finite and lie in value_range {value_range}, "
            f"found [{float(tensor.min()):.3g}, {float(tensor.max()):.3g}]"
        )
    return image01, low, high


def _like_img(result: torch.Tensor, img: Any, low: float, high: float) -> Any:
    """A [0, 1] result back in ``img``'s value range, type and dtype (MetaTensor metadata kept)."""
    values = result * (high - low) + low
    if str(img.dtype).endswith("uint8"):
        values = values.round().clamp(0, 255)
    out = img.copy() if isinstance(img, np.ndarray) else img.clone()
    out[...] = values.numpy().astype(img.dtype) if isinstance(img, np.ndarray) else values.to(img.dtype)
    return out


class RandLesionCopyPaste(RandomizableTransform):
    """With probability ``prob``, paste a real lesion drawn from ``bank`` into the lesion
    region of a channel-first RGB image (``__call__(img, mask)``); same type, shape and dtype.

    The no-learning baseline of :class:`RandGANAugment` (see
    :func:`gan_augment.copy_paste.lesion_copy_paste`): the pasted lesion fills ``mask``, which
    is not changed; an image whose mask has no lesion pixels is returned unchanged. Which
    lesion and which of its flips / rotations are drawn from ``self.R``. ``value_range`` as
    in :class:`RandGANAugment`.
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        bank: LesionBank | str | os.PathLike,
        prob: float = 0.5,
        harmonize: bool = True,
        feather: float = 0.15,
        value_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        check_paste_arguments("RandLesionCopyPaste", prob, harmonize, feather)
        if value_range[1] <= value_range[0]:
            raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}")
        RandomizableTransform.__init__(self, prob)
        self.bank = as_lesion_bank(bank, "RandLesionCopyPaste")
        self.harmonize, self.feather, self.value_range = harmonize, feather, tuple(value_range)
        self._index, self._seed = 0, 0

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        self._index = int(self.R.randint(0, len(self.bank)))
        self._seed = int(self.R.randint(0, 2**31 - 1))

    def __call__(self, img: Any, mask: Any = None, randomize: bool = True) -> Any:
        if randomize:
            self.randomize()
        if not self._do_transform:
            return img
        return self.apply(img, mask, self._index, self._seed)

    def apply(self, img: Any, mask: Any, index: int, seed: int) -> Any:
        """The paste itself, for a given lesion index and seed (no randomness drawn)."""
        if mask is None:
            raise ValueError("RandLesionCopyPaste: pass a mask (the lesion region to paste into)")
        image01, low, high = _to_unit_range(img, self.value_range, "RandLesionCopyPaste")
        condition = binary_mask(mask, "RandLesionCopyPaste", tuple(image01.shape[-2:]))
        result = paste_from_bank(self.bank, image01, condition, index=index, seed=seed, harmonize=self.harmonize, feather=self.feather)
        return img if result is None else _like_img(result, img, low, high)


class RandLesionCopyPasted(RandomizableTransform, MapTransform):
    """Dictionary version: ``keys=("image", "label")`` names the image and the mask entry;
    the mask passes through, the image gets the pasted lesion."""

    backend = RandLesionCopyPaste.backend

    def __init__(
        self,
        keys: KeysCollection,
        bank: LesionBank | str | os.PathLike,
        prob: float = 0.5,
        harmonize: bool = True,
        feather: float = 0.15,
        value_range: tuple[float, float] = (0.0, 1.0),
        allow_missing_keys: bool = False,
    ) -> None:
        check_paste_arguments("RandLesionCopyPasted", prob, harmonize, feather)
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        if len(self.keys) != 2:
            raise ValueError(f"keys must be (image_key, mask_key), got {self.keys}")
        self.array = RandLesionCopyPaste(bank, 1.0, harmonize, feather, value_range)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandLesionCopyPasted:
        super().set_random_state(seed, state)
        self.array.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize(None)
        index = int(self.R.randint(0, len(self.array.bank)))
        seed = int(self.R.randint(0, 2**31 - 1))
        if not self._do_transform:
            return d
        image_key, mask_key = self.keys
        missing = [k for k in (image_key, mask_key) if k not in d]
        if missing:
            if self.allow_missing_keys:
                return d
            raise KeyError(f"RandLesionCopyPasted: key {missing[0]!r} not in the data")
        d[image_key] = self.array.apply(d[image_key], d[mask_key], index, seed)
        return d
