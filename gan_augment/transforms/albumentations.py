"""``GANAugment``: an Albumentations ``DualTransform`` that replaces the image with a
synthetic one generated for the (already augmented) mask; the mask passes through, so
image and mask stay aligned."""

from __future__ import annotations

from typing import Any, Literal

import albumentations as A
import numpy as np
import torch
from albumentations.core.transforms_interface import BaseTransformInitSchema

from gan_augment.functional import float_to_uint8
from gan_augment.transforms._core import (
    EmptyMaskPolicy,
    GeneratorArg,
    LazySynthesizer,
    binary_mask,
    check_image_array,
    synthesize,
)


class GANAugment(A.DualTransform):
    """Replace ``image`` by a GAN sample conditioned on ``mask`` with probability ``p``.

    Args:
        generator: a :class:`~gan_augment.Synthesizer` or a checkpoint name / folder / hub id
            (loaded on first use). Serialisation (``A.to_dict``) stores the name.
        p: probability of applying the transform.
        on_empty_mask: ``"raise"`` (default) or ``"skip"`` (leave samples without lesion pixels unchanged).
        label: class to draw for class-conditional noise generators (classification pipelines).
        device: where to run the generator when it is loaded by name (``"auto"``: CUDA when
            present, but always the CPU inside DataLoader workers).

    Targets: image (uint8, or float32 in [0, 1]; RGB HWC), mask (HW, values {0, 1} or {0, 255}).
    Randomness comes from the transform's own generator: ``A.Compose(..., seed=s)`` reproduces.
    """

    class InitSchema(BaseTransformInitSchema):
        generator: Any
        on_empty_mask: Literal["raise", "skip"]
        device: str
        label: int | None

    def __init__(
        self,
        generator: GeneratorArg,
        p: float = 0.5,
        on_empty_mask: EmptyMaskPolicy = "raise",
        device: str = "auto",
        label: int | None = None,
    ) -> None:
        super().__init__(p=p)
        self._lazy = LazySynthesizer(generator, device)
        self.generator = generator
        self.on_empty_mask = on_empty_mask
        self.device = device
        self.label = label

    @property
    def targets_as_params(self) -> list[str]:
        return ["image"]

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        image = data["image"]
        check_image_array(image, "GANAugment", channel_axis=-1)
        mask = data.get("mask")
        condition = None if mask is None else binary_mask(mask, "GANAugment", image.shape[:2])
        seed = int(self.random_generator.integers(0, 2**31 - 1))
        return {"condition": condition, "seed": seed}

    def apply(self, img: np.ndarray, condition: torch.Tensor | None = None, seed: int = 0, **params: Any) -> np.ndarray:
        image01 = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)
        image01 = image01.float() / 255.0 if img.dtype == np.uint8 else image01.float()
        result = synthesize(
            self._lazy, image01, condition, seed=seed, owner="GANAugment", on_empty_mask=self.on_empty_mask, label=self.label
        )
        if result is None:
            return img
        if img.dtype == np.uint8:
            return float_to_uint8(result)
        return result.permute(1, 2, 0).cpu().numpy().astype(img.dtype)

    def apply_to_mask(self, mask: np.ndarray, **params: Any) -> np.ndarray:
        return mask

    def get_transform_init_args(self) -> dict[str, Any]:
        return {
            "generator": self._lazy.serializable_name("GANAugment"),
            "on_empty_mask": self.on_empty_mask,
            "device": self.device,
            "label": self.label,
        }


def albumentations_worker_init(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=...)``: give each worker's Albumentations pipelines their own seed.

    ``A.Compose(seed=s)`` is copied into every worker with the same random state, so without
    this all workers draw the same augmentations (GANAugment's included). This reseeds every
    ``Compose`` held by the worker's data set (as an attribute) with torch's per-worker seed,
    which is reproducible when the DataLoader gets a seeded ``generator``.
    """
    from torch.utils.data import get_worker_info

    info = get_worker_info()
    if info is None:
        return
    for value in vars(info.dataset).values():
        if isinstance(value, A.BaseCompose):
            value.set_random_seed(info.seed % 2**32)
