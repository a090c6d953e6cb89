"""torchvision v2 adapter: ``RandomGANAugment`` for ``v2.Compose``.

Handles ``tv_tensors.Image`` (or a plain CHW tensor, or a PIL image) with an optional
``tv_tensors.Mask``; the mask passes through unchanged and the image is replaced by a GAN
sample conditioned on it. Randomness comes from torch's global generator, as for every
torchvision v2 transform (``torch.manual_seed`` / DataLoader worker seeding reproduce it).

``RandomLesionCopyPaste`` is the no-learning baseline: a real lesion from a
:class:`~gan_augment.copy_paste.LesionBank` pasted into the mask.
"""

from __future__ import annotations

import os
from typing import Any

import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from gan_augment.copy_paste import LesionBank, as_lesion_bank, check_paste_arguments, paste_from_bank
from gan_augment.transforms._core import (
    EmptyMaskPolicy,
    GeneratorArg,
    LazySynthesizer,
    Mode,
    binary_mask,
    check_arguments,
    check_image_array,
    check_mode,
    like_input,
    mode_condition,
    new_mask_like,
    synthesize,
    to_float01,
)


def split_inputs(flat_inputs: list[Any]) -> tuple[list[Any], list[tv_tensors.Mask]]:
    """(images, masks) among a sample's inputs: ``tv_tensors.Image``, PIL images or plain
    tensors are images; ``BoundingBoxes``, ``KeyPoints``, videos and other tv_tensors are not
    (they pass through unchanged)."""
    masks = [x for x in flat_inputs if isinstance(x, tv_tensors.Mask)]
    images = [
        x for x in flat_inputs
        if isinstance(x, (tv_tensors.Image, PIL.Image.Image)) or (isinstance(x, torch.Tensor) and not isinstance(x, tv_tensors.TVTensor))
    ]
    return images, masks


class RandomGANAugment(v2.Transform):
    """Replace the image by a GAN sample conditioned on the mask with probability ``p``.

    Images: uint8 or float in [0, 1], shape (3, H, W); masks: (H, W) or (1, H, W) with
    values {0, 1} or {0, 255}. ``BoundingBoxes``, ``KeyPoints`` and other inputs pass through.
    With ``label`` and a class-conditional generator, samples must be dicts holding
    ``label_key``: it is set to the drawn class when the transform applies.
    """

    _transformed_types = (tv_tensors.Image, tv_tensors.Mask, PIL.Image.Image, torch.Tensor)

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
        super().__init__()
        check_arguments("RandomGANAugment", p, on_empty_mask)
        self.lazy = LazySynthesizer(generator, device)
        check_mode("RandomGANAugment", mode, self.lazy)
        self.p, self.on_empty_mask, self.label, self.label_key = p, on_empty_mask, label, label_key
        self.mode, self.reshape_strength = mode, reshape_strength
        self._applied = False

    def forward(self, *inputs: Any) -> Any:
        """The v2 call; with a class-conditional ``label``, also the sample's ``label_key`` entry."""
        sample = inputs if len(inputs) > 1 else inputs[0]
        synth = self.lazy.get() if self.label is not None else None
        relabel = synth is not None and "labels" in synth.reads
        if relabel and not (isinstance(sample, dict) and self.label_key in sample):
            raise ValueError(
                f"RandomGANAugment: draws images of class {self.label!r} from a class-conditional generator, so the "
                f"sample's label must change too: pass a dict sample with a {self.label_key!r} entry (label_key= names another)"
            )
        self._applied = False
        out = super().forward(*inputs)
        if relabel and self._applied:
            old = sample[self.label_key]
            out[self.label_key] = torch.as_tensor(self.label, dtype=old.dtype) if isinstance(old, torch.Tensor) else self.label
        return out

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        apply = torch.rand(()) < self.p
        seed = int(torch.randint(0, 2**31 - 1, ()))
        if not apply:
            return {"image_id": None}
        images, masks = split_inputs(flat_inputs)
        if len(images) != 1 or len(masks) > 1:
            raise ValueError(f"RandomGANAugment: expected one image and at most one mask, got {len(images)} images and {len(masks)} masks")
        image = images[0]
        tensor = TF.pil_to_tensor(image) if isinstance(image, PIL.Image.Image) else image.as_subclass(torch.Tensor)
        check_image_array(tensor, "RandomGANAugment", channel_axis=0)
        mask = binary_mask(masks[0], "RandomGANAugment", tuple(tensor.shape[-2:])) if masks else None
        mask, erase = mode_condition(self.mode, mask, seed, self.reshape_strength)
        result = synthesize(
            self.lazy, to_float01(tensor), mask, seed=seed, owner="RandomGANAugment", on_empty_mask=self.on_empty_mask, label=self.label,
            erase_mask=erase,
        )
        self._applied = result is not None
        params = {"image_id": id(image) if result is not None else None, "output": None if result is None else like_input(result, tensor)}
        if erase is not None and result is not None:  # reshape: the new lesion's mask replaces the old one
            params.update(mask_id=id(masks[0]), new_mask=new_mask_like(mask, masks[0]))
        return params

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if params.get("mask_id") is not None and id(inpt) == params["mask_id"]:
            return params["new_mask"]
        return _put_back(inpt, params)


class RandomLesionCopyPaste(v2.Transform):
    """Paste a real lesion drawn from ``bank`` into the lesion region with probability ``p``.

    The no-learning baseline of :class:`RandomGANAugment` (see
    :func:`gan_augment.copy_paste.lesion_copy_paste`): needs one image (``tv_tensors.Image``,
    plain CHW tensor or PIL image; uint8 or float in [0, 1]) and one ``tv_tensors.Mask``
    ((H, W) or (1, H, W), values {0, 1} or {0, 255}). The mask passes through unchanged and
    the pasted lesion fills it; a sample whose mask has no lesion pixels passes unchanged.
    Which lesion and which of its flips / rotations come from torch's global generator.
    """

    _transformed_types = (tv_tensors.Image, tv_tensors.Mask, PIL.Image.Image, torch.Tensor)

    def __init__(self, bank: LesionBank | str | os.PathLike, p: float = 0.5, harmonize: bool = True, feather: float = 0.15) -> None:
        super().__init__()
        check_paste_arguments("RandomLesionCopyPaste", p, harmonize, feather)
        self.bank = as_lesion_bank(bank, "RandomLesionCopyPaste")
        self.p, self.harmonize, self.feather = p, harmonize, feather

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        apply = torch.rand(()) < self.p
        index = int(torch.randint(0, len(self.bank), ()))
        seed = int(torch.randint(0, 2**31 - 1, ()))
        if not apply:
            return {"image_id": None}
        images, masks = split_inputs(flat_inputs)
        if len(images) != 1 or len(masks) != 1:
            raise ValueError(f"RandomLesionCopyPaste: expected one image and one mask, got {len(images)} images and {len(masks)} masks")
        image = images[0]
        tensor = TF.pil_to_tensor(image) if isinstance(image, PIL.Image.Image) else image.as_subclass(torch.Tensor)
        check_image_array(tensor, "RandomLesionCopyPaste", channel_axis=0)
        mask = binary_mask(masks[0], "RandomLesionCopyPaste", tuple(tensor.shape[-2:]))
        result = paste_from_bank(
            self.bank, to_float01(tensor), mask, index=index, seed=seed, harmonize=self.harmonize, feather=self.feather
        )
        return {"image_id": id(image) if result is not None else None, "output": None if result is None else like_input(result, tensor)}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return _put_back(inpt, params)


def _put_back(inpt: Any, params: dict[str, Any]) -> Any:
    """The output for the one image ``make_params`` changed, in that image's type; other inputs as they are."""
    if params["image_id"] is None or id(inpt) != params["image_id"]:
        return inpt
    out = params["output"]
    if isinstance(inpt, PIL.Image.Image):
        return TF.to_pil_image(out)
    if isinstance(inpt, tv_tensors.Image):
        return tv_tensors.wrap(out, like=inpt)
    return out
