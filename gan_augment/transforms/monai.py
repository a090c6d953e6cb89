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
from collections.abc import Hashable, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import TransformBackends
from torch.utils.data import get_worker_info

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

ValueRange = tuple[float, float] | str


def check_value_range(value_range: ValueRange, owner: str) -> ValueRange:
    """``"auto"`` or a ``(low, high)`` pair with low < high."""
    if isinstance(value_range, str):
        if value_range != "auto":
            raise ValueError(f"{owner}: value_range must be 'auto' or (low, high), got {value_range!r}")
        return value_range
    if len(value_range) != 2 or not value_range[1] > value_range[0]:
        raise ValueError(f"{owner}: value_range must be (low, high) with low < high, got {value_range}")
    return (float(value_range[0]), float(value_range[1]))


def reseed_in_new_worker(transform: RandomizableTransform) -> None:
    """Under a plain ``torch.utils.data.DataLoader`` every worker starts from a copy of the
    same random state (MONAI's DataLoader reseeds, torch's does not): once per worker
    process, unless ``set_random_state`` was called there already (MONAI's DataLoader, a
    user's ``worker_init_fn``), reseed from torch's per-worker seed (reproducible with a
    seeded loader)."""
    info = get_worker_info()
    if info is None or getattr(transform, "_seeded_in_pid", None) == os.getpid():
        return
    transform._seeded_in_pid = os.getpid()
    transform.set_random_state(seed=info.seed % 2**32)


class RandGANAugment(RandomizableTransform):
    """With probability ``prob``, replace a channel-first RGB image by a GAN sample
    conditioned on ``mask`` (``__call__(img, mask)``); same type, shape and dtype.

    ``value_range`` is the range of the input's values: ``"auto"`` (default: uint8 images
    and floats above 1, as ``LoadImaged`` gives for 8-bit files, are 0-255; other floats
    0-1), or explicitly ``(0, 1)`` / ``(0, 255)``; uint8 images are always 0-255.
    Under a plain torch DataLoader each worker reseeds itself (different draws per worker).
    With ``label`` and a class-conditional generator this array version returns only the
    image: the caller sets the sample's class (:class:`RandGANAugmentd` does, via ``class_key``).
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        generator: GeneratorArg,
        prob: float = 0.5,
        on_empty_mask: EmptyMaskPolicy = "raise",
        value_range: ValueRange = "auto",
        device: str = "auto",
        label: int | str | None = None,
    ) -> None:
        check_arguments("RandGANAugment", prob, on_empty_mask)
        RandomizableTransform.__init__(self, prob)
        self.lazy = LazySynthesizer(generator, device)
        self.on_empty_mask, self.label = on_empty_mask, label
        self.value_range = check_value_range(value_range, "RandGANAugment")
        self._seed = 0

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandGANAugment:
        super().set_random_state(seed, state)
        self._seeded_in_pid = os.getpid()  # seeded in this process: no automatic worker reseed
        return self

    def randomize(self, data: Any = None) -> None:
        reseed_in_new_worker(self)
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
        image01, low, high = _to_unit_range(img, self.value_range, "RandGANAugment")
        condition = None if mask is None else binary_mask(mask, "RandGANAugment", tuple(image01.shape[-2:]))
        result = synthesize(
            self.lazy, image01, condition, seed=seed, owner="RandGANAugment", on_empty_mask=self.on_empty_mask, label=self.label,
            erase_mask=erase,
        )
        return img if result is None else _like_img(result, img, low, high)

    def relabels(self) -> bool:
        """Whether applying draws a class (``label`` with a class-conditional noise generator)."""
        if self.label is None:
            return False
        synth = self.lazy.get()
        return "labels" in synth.reads


class RandGANAugmentd(RandomizableTransform, MapTransform):
    """Dictionary version: the image entry is replaced, the mask entry passes through.

    Name the entries with ``keys=(image_key, mask_key)`` (MONAI style; the mask key
    optional) or by name: ``image_key="image"``, ``label_key="label"`` (the segmentation
    label, i.e. the lesion mask; ``None`` for none). With ``label`` (a class) and a
    class-conditional generator, ``class_key`` names the entry holding the sample's class,
    which is set to ``label`` when the transform applies (required then).
    """

    backend = RandGANAugment.backend

    def __init__(
        self,
        keys: KeysCollection | None = None,
        generator: GeneratorArg | None = None,
        prob: float = 0.5,
        on_empty_mask: EmptyMaskPolicy = "raise",
        value_range: ValueRange = "auto",
        device: str = "auto",
        label: int | str | None = None,
        allow_missing_keys: bool = False,
        mode: Mode = "retexture",
        reshape_strength: float = 0.15,
        *,
        image_key: str | None = None,
        label_key: str | None = None,
        class_key: str | None = None,
    ) -> None:
        check_arguments("RandGANAugmentd", prob, on_empty_mask)
        if generator is None:
            raise TypeError("RandGANAugmentd: pass generator= (a Synthesizer or a checkpoint name / folder)")
        if keys is None:
            keys = (image_key or "image",) + ((label_key,) if label_key is not None else ())
        elif image_key is not None or label_key is not None:
            raise ValueError("RandGANAugmentd: give keys=(image_key, mask_key) or image_key= / label_key=, not both")
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        if not 1 <= len(self.keys) <= 2:
            raise ValueError(f"keys must be (image_key,) or (image_key, mask_key), got {self.keys}")
        self.array = RandGANAugment(generator, 1.0, on_empty_mask, value_range, device, label)
        check_mode("RandGANAugmentd", mode, self.array.lazy)
        if mode == "reshape" and len(self.keys) < 2:
            raise ValueError("RandGANAugmentd: mode='reshape' returns a new mask: give keys=(image_key, mask_key)")
        self.mode, self.reshape_strength, self.class_key = mode, reshape_strength, class_key

    @property
    def image_key(self) -> Hashable:
        return self.keys[0]

    @property
    def label_key(self) -> Hashable | None:
        return self.keys[1] if len(self.keys) > 1 else None

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandGANAugmentd:
        super().set_random_state(seed, state)
        self.array.set_random_state(seed, state)
        self._seeded_in_pid = os.getpid()  # seeded in this process: no automatic worker reseed
        return self

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        reseed_in_new_worker(self)
        self.randomize(None)
        seed = int(self.R.randint(0, 2**31 - 1))
        if not self._do_transform:
            return d
        image_key, mask_key = self.image_key, self.label_key
        if image_key not in d:
            if self.allow_missing_keys:
                return d
            raise KeyError(f"RandGANAugmentd: key {image_key!r} not in the data")
        relabel = self.array.relabels()
        if relabel and (self.class_key is None or self.class_key not in d):
            raise ValueError(
                f"RandGANAugmentd: draws images of class {self.array.label!r} from a class-conditional generator, so the "
                "sample's class must change too: name its entry with class_key= (it must be in the data)"
            )
        mask = d.get(mask_key) if mask_key is not None else None
        if self.mode == "reshape" and mask is not None:
            image = d[image_key]
            condition = binary_mask(mask, "RandGANAugmentd", tuple(image.shape[-2:]))
            new, erase = mode_condition(self.mode, condition, seed, self.reshape_strength)
            if erase is not None:
                d[image_key] = self.array.apply(image, new, seed, erase=erase)
                d[mask_key] = new_mask_like(new, mask)
                return d
        before = d[image_key]
        d[image_key] = self.array.apply(before, mask, seed)
        if relabel and d[image_key] is not before:
            old = d[self.class_key]
            d[self.class_key] = torch.as_tensor(self.array.label, dtype=old.dtype) if isinstance(old, torch.Tensor) else self.array.label
        return d


def _to_unit_range(img: Any, value_range: ValueRange, owner: str) -> tuple[torch.Tensor, float, float]:
    """Channel-first image -> (float tensor in [0, 1], low, high) of its value range."""
    check_image_array(img, owner, channel_axis=0, check_range=False)
    tensor = as_plain_tensor(img)
    if tensor.dtype == torch.uint8:
        low, high = 0.0, 255.0
    elif value_range == "auto":
        low, high = (0.0, 255.0) if tensor.numel() and float(tensor.max()) > 1.0 else (0.0, 1.0)
    else:
        low, high = value_range
    image01 = (tensor.float() - low) / (high - low)
    if image01.min() < 0 or image01.max() > 1:
        shown = "'auto' (0-1, or 0-255 above 1)" if value_range == "auto" else str(value_range)
        raise ValueError(
            f"{owner}: image values must lie in value_range {shown}, found [{float(tensor.min()):.3g}, {float(tensor.max()):.3g}]"
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
