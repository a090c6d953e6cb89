"""``GANAugment``: an Albumentations ``DualTransform`` that replaces the image with a
synthetic one generated for the (already augmented) mask; the mask passes through, so
image and mask stay aligned. ``LesionCopyPaste``: the no-learning baseline, a real lesion
from a :class:`~gan_augment.copy_paste.LesionBank` pasted into the mask."""

from __future__ import annotations

import os
from typing import Any, Literal

import albumentations as A
import numpy as np
import torch
from albumentations.core.transforms_interface import BaseTransformInitSchema
from pydantic import Field
from torch.utils.data import get_worker_info

from gan_augment.copy_paste import LesionBank, as_lesion_bank, bank_name, paste_from_bank
from gan_augment.functional import float_to_uint8
from gan_augment.transforms._core import (
    EmptyMaskPolicy,
    GeneratorArg,
    LazySynthesizer,
    Mode,
    binary_mask,
    check_image_array,
    check_mode,
    mode_condition,
    new_mask_like,
    synthesize,
)


class GANAugment(A.DualTransform):
    """Replace ``image`` by a GAN sample conditioned on ``mask`` with probability ``p``.

    Args:
        generator: a :class:`~gan_augment.Synthesizer` or a checkpoint name / folder / hub id
            (loaded on first use). Serialisation (``A.to_dict``) stores the name.
        p: probability of applying the transform.
        on_empty_mask: ``"raise"`` (default) or ``"skip"`` (leave samples without lesion pixels unchanged).
        label: class to draw for class-conditional noise generators (classification pipelines);
            the sample's ``label_key`` target is set to it (the call must pass one).
        mode: for the inpainting model: ``"retexture"`` (default: a new lesion in the same mask)
            or ``"reshape"`` (a new mask, an elastic deformation of the old one by
            ``reshape_strength``, returned as the mask target; the old lesion is painted over).
        device: where to run the generator when it is loaded by name (``"auto"``: CUDA when
            present, but always the CPU inside DataLoader workers).
        label_key: the name of the class-label target (``pipeline(image=..., label=...)``).

    Targets: image (uint8, or float32 in [0, 1]; RGB HWC), mask (HW, values {0, 1} or {0, 255}).
    Every other target passes through unchanged: ``masks``, ``bboxes``, ``keypoints`` and
    ``additional_targets`` such as ``image2`` (in reshape mode they still describe the old
    lesion). Randomness comes from the transform's own generator: ``A.Compose(..., seed=s)``
    reproduces. The applied parameters hold only the drawn seed, so ``ReplayCompose``
    replays are JSON-serialisable and replaying on other data synthesises for *that* mask.
    """

    class InitSchema(BaseTransformInitSchema):
        generator: Any
        on_empty_mask: Literal["raise", "skip"]
        device: str
        label: int | str | None
        mode: Literal["retexture", "reshape"]
        reshape_strength: float
        label_key: str

    def __init__(
        self,
        generator: GeneratorArg,
        p: float = 0.5,
        on_empty_mask: EmptyMaskPolicy = "raise",
        device: str = "auto",
        label: int | str | None = None,
        mode: Mode = "retexture",
        reshape_strength: float = 0.15,
        label_key: str = "label",
    ) -> None:
        super().__init__(p=p)
        self._lazy = LazySynthesizer(generator, device)
        check_mode("GANAugment", mode, self._lazy)
        self.generator = generator
        self.on_empty_mask = on_empty_mask
        self.device = device
        self.label = label
        self.mode = mode
        self.reshape_strength = reshape_strength
        self.label_key = label_key

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """Only the seed: everything else is read from the data when applied (replays too)."""
        return {"seed": int(self.random_generator.integers(0, 2**31 - 1))}

    def apply_with_params(self, params: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Synthesise ``image`` for ``mask`` with ``params["seed"]``; other targets pass through."""
        if kwargs.get("image") is None:
            raise ValueError("GANAugment: pass one image as image= (batches as images= are not supported)")
        image, mask, seed = kwargs["image"], kwargs.get("mask"), int(params["seed"])
        check_image_array(image, "GANAugment", channel_axis=-1)
        condition = None if mask is None else binary_mask(mask, "GANAugment", image.shape[:2])
        condition, erase = mode_condition(self.mode, condition, seed, self.reshape_strength)
        relabel = self._relabels()
        if relabel and self.label_key not in kwargs:
            raise ValueError(
                f"GANAugment: draws images of class {self.label!r} from a class-conditional generator, so the sample's "
                f"label must change too: pass it in the call ({self.label_key}=...; label_key= names another target)"
            )
        out = dict(kwargs)
        new_image = self.apply(image, condition=condition, seed=seed, erase=erase)
        if new_image is image:  # skipped (empty mask)
            return out
        out["image"] = new_image
        if erase is not None and condition is not None:
            out["mask"] = new_mask_like(condition, mask)
        if relabel:
            out[self.label_key] = self.label
        return out

    def _relabels(self) -> bool:
        return self.label is not None and "labels" in self._lazy.get().reads

    def apply(
        self, img: np.ndarray, condition: torch.Tensor | None = None, seed: int = 0, erase: torch.Tensor | None = None, **params: Any
    ) -> np.ndarray:
        """The synthetic image for a validated HW ``condition`` mask (or none) and ``seed``."""
        image01 = _chw01(img)
        result = synthesize(
            self._lazy, image01, condition, seed=seed, owner="GANAugment", on_empty_mask=self.on_empty_mask, label=self.label,
            erase_mask=erase,
        )
        return img if result is None else _like_hwc(result, img)

    def get_transform_init_args(self) -> dict[str, Any]:
        return {
            "generator": self._lazy.serializable_name("GANAugment"),
            "on_empty_mask": self.on_empty_mask,
            "device": self.device,
            "label": self.label,
            "mode": self.mode,
            "reshape_strength": self.reshape_strength,
            "label_key": self.label_key,
        }


class LesionCopyPaste(A.DualTransform):
    """Paste a real lesion drawn from ``bank`` into the lesion region ``mask`` with probability ``p``.

    The no-learning baseline of :class:`GANAugment`: see
    :func:`gan_augment.copy_paste.lesion_copy_paste`. The mask passes through unchanged and the
    pasted lesion fills it, so image and mask stay aligned; a sample whose mask has no lesion
    pixels passes unchanged.

    Args:
        bank: a :class:`~gan_augment.copy_paste.LesionBank` or the path of one saved with
            ``bank.save(path)``. Serialisation (``A.to_dict``) stores the path.
        harmonize: shift the pasted lesion's colours by the skin colour difference.
        p: probability of applying the transform.
        feather: soft-edge width as a fraction of the lesion's equivalent diameter.

    Targets: image (uint8, or float32 in [0, 1]; RGB HWC), mask (HW, values {0, 1} or {0, 255};
    required); all others pass through unchanged. Which lesion and which of its flips / rotations come from the transform's own
    generator: ``A.Compose(..., seed=s)`` reproduces.
    """

    class InitSchema(BaseTransformInitSchema):
        bank: Any
        harmonize: bool
        feather: float = Field(ge=0)

    def __init__(self, bank: LesionBank | str | os.PathLike, harmonize: bool = True, p: float = 0.5, feather: float = 0.15) -> None:
        super().__init__(p=p)
        self.bank = as_lesion_bank(bank, "LesionCopyPaste")
        self.harmonize = harmonize
        self.feather = feather

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """Only the lesion index and a seed (JSON-serialisable replays); the mask is read when applied."""
        index = int(self.random_generator.integers(0, len(self.bank)))
        seed = int(self.random_generator.integers(0, 2**31 - 1))
        return {"index": index, "seed": seed}

    def apply_with_params(self, params: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Paste into ``image`` inside ``mask``; every other target passes through unchanged."""
        if kwargs.get("image") is None:
            raise ValueError("LesionCopyPaste: pass one image as image= (batches as images= are not supported)")
        image = kwargs["image"]
        check_image_array(image, "LesionCopyPaste", channel_axis=-1)
        if kwargs.get("mask") is None:
            raise ValueError("LesionCopyPaste: pass a mask (the lesion region to paste into)")
        condition = binary_mask(kwargs["mask"], "LesionCopyPaste", image.shape[:2])
        return {**kwargs, "image": self.apply(image, condition=condition, index=int(params["index"]), seed=int(params["seed"]))}

    def apply(self, img: np.ndarray, condition: torch.Tensor | None = None, index: int = 0, seed: int = 0, **params: Any) -> np.ndarray:
        image01 = _chw01(img)
        result = paste_from_bank(self.bank, image01, condition, index=index, seed=seed, harmonize=self.harmonize, feather=self.feather)
        return img if result is None else _like_hwc(result, img)

    def get_transform_init_args(self) -> dict[str, Any]:
        return {"bank": bank_name(self.bank, "LesionCopyPaste"), "harmonize": self.harmonize, "feather": self.feather}

    def __repr__(self) -> str:  # an in-memory bank has no name to serialise, but prints
        return f"LesionCopyPaste(bank={self.bank!r}, harmonize={self.harmonize}, p={self.p}, feather={self.feather})"


def albumentations_worker_init(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=...)``: give each worker's Albumentations pipelines their own seed.

    ``A.Compose(seed=s)`` is copied into every worker with the same random state, so without
    this all workers draw the same augmentations (GANAugment's included). This reseeds every
    ``Compose`` reachable from the worker's data set, however it is wrapped (``Subset``,
    ``ConcatDataset``, pipelines held in dicts, lists or attributes of attributes), with
    torch's per-worker seed (plus the pipeline's position, so two pipelines do not draw in
    lockstep), which is reproducible when the DataLoader gets a seeded ``generator``.
    """
    info = get_worker_info()
    if info is None:
        return
    for k, pipeline in enumerate(find_pipelines(info.dataset)):
        pipeline.set_random_seed((info.seed + k) % 2**32)


def find_pipelines(root: Any, max_depth: int = 6) -> list[A.BaseCompose]:
    """Every Albumentations ``Compose`` reachable from ``root`` through attributes, dict values
    and list / tuple items (each once, in a fixed order), without descending into pipelines,
    arrays or tensors."""
    found: list[A.BaseCompose] = []
    seen: set[int] = set()

    def visit(obj: Any, depth: int) -> None:
        if id(obj) in seen or depth > max_depth:
            return
        seen.add(id(obj))
        if isinstance(obj, A.BaseCompose):
            found.append(obj)
        elif isinstance(obj, dict):
            for value in list(obj.values()):
                visit(value, depth + 1)
        elif isinstance(obj, (list, tuple)):
            for value in obj:
                visit(value, depth + 1)
        elif not isinstance(obj, (str, bytes, int, float, np.ndarray, torch.Tensor, type)) and hasattr(obj, "__dict__"):
            for value in list(vars(obj).values()):
                visit(value, depth + 1)

    visit(root, 0)
    return found


def _chw01(img: np.ndarray) -> torch.Tensor:
    """HWC uint8 / float [0, 1] array -> CHW float tensor in [0, 1]."""
    image01 = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)
    return image01.float() / 255.0 if img.dtype == np.uint8 else image01.float()


def _like_hwc(result: torch.Tensor, img: np.ndarray) -> np.ndarray:
    """A CHW [0, 1] result as an HWC array of ``img``'s dtype (uint8 rounds)."""
    if img.dtype == np.uint8:
        return float_to_uint8(result)
    return result.permute(1, 2, 0).cpu().numpy().astype(img.dtype)
