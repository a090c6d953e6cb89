"""torchvision v2 adapter: ``RandomGANAugment`` for ``v2.Compose``.

Handles ``tv_tensors.Image`` (or a plain CHW tensor, or a PIL image) with an optional
``tv_tensors.Mask``; the mask passes through unchanged and the image is replaced by a GAN
sample conditioned on it. Randomness comes from torch's global generator, as for every
torchvision v2 transform (``torch.manual_seed`` / DataLoader worker seeding reproduce it).
"""

from __future__ import annotations

from typing import Any

import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from gan_augment.transforms._core import (
    EmptyMaskPolicy,
    GeneratorArg,
    LazySynthesizer,
    binary_mask,
    check_arguments,
    check_image_array,
    like_input,
    synthesize,
    to_float01,
)


class RandomGANAugment(v2.Transform):
    """Replace the image by a GAN sample conditioned on the mask with probability ``p``.

    Images: uint8 or float in [0, 1], shape (3, H, W); masks: (H, W) or (1, H, W) with
    values {0, 1} or {0, 255}.
    """

    _transformed_types = (tv_tensors.Image, tv_tensors.Mask, PIL.Image.Image, torch.Tensor)

    def __init__(
        self,
        generator: GeneratorArg,
        p: float = 0.5,
        on_empty_mask: EmptyMaskPolicy = "raise",
        device: str = "auto",
        label: int | None = None,
    ) -> None:
        super().__init__()
        check_arguments("RandomGANAugment", p, on_empty_mask)
        self.lazy = LazySynthesizer(generator, device)
        self.p, self.on_empty_mask, self.label = p, on_empty_mask, label

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        apply = torch.rand(()) < self.p
        seed = int(torch.randint(0, 2**31 - 1, ()))
        if not apply:
            return {"image_id": None}
        masks = [x for x in flat_inputs if isinstance(x, tv_tensors.Mask)]
        images = [x for x in flat_inputs if not isinstance(x, tv_tensors.Mask)]
        if len(images) != 1 or len(masks) > 1:
            raise ValueError(f"RandomGANAugment: expected one image and at most one mask, got {len(images)} images and {len(masks)} masks")
        image = images[0]
        tensor = TF.pil_to_tensor(image) if isinstance(image, PIL.Image.Image) else image.as_subclass(torch.Tensor)
        check_image_array(tensor, "RandomGANAugment", channel_axis=0)
        mask = binary_mask(masks[0], "RandomGANAugment", tuple(tensor.shape[-2:])) if masks else None
        result = synthesize(self.lazy, to_float01(tensor), mask, seed=seed, owner="RandomGANAugment", on_empty_mask=self.on_empty_mask, label=self.label)
        return {"image_id": id(image) if result is not None else None, "output": None if result is None else like_input(result, tensor)}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if params["image_id"] is None or id(inpt) != params["image_id"]:
            return inpt
        out = params["output"]
        if isinstance(inpt, PIL.Image.Image):
            return TF.to_pil_image(out)
        if isinstance(inpt, tv_tensors.Image):
            return tv_tensors.wrap(out, like=inpt)
        return out
