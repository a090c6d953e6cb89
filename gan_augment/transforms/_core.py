"""What every adapter shares: input checks with clear errors, and one synthesis call.

Adapters convert their framework's layout to a CHW float image in [0, 1] and an HW mask
in {0, 1}, call :func:`synthesize`, and convert the result back to the input's layout and
dtype. Nothing here knows about Albumentations, MONAI or torchvision.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from gan_augment.lesion_box import lesion_box
from gan_augment.synthesizer import MissingInputError, Synthesizer, from_pretrained

EmptyMaskPolicy = Literal["raise", "skip"]
GeneratorArg = str | os.PathLike | Synthesizer


class LazySynthesizer:
    """Holds a :class:`Synthesizer` or the name to ``from_pretrained`` on first use.

    The name is what serialisation stores (``A.to_dict``), so a pipeline saved with a
    bundled or hub checkpoint is rebuilt with the same weights.
    """

    def __init__(self, generator: GeneratorArg, device: str = "auto") -> None:
        if isinstance(generator, Synthesizer):
            self._synth: Synthesizer | None = generator
            self.source = generator.source
        elif isinstance(generator, (str, os.PathLike)):
            self._synth, self.source = None, str(generator)
        else:
            raise TypeError(
                f"generator must be a Synthesizer (from gan_augment.from_pretrained) or a checkpoint name/path, "
                f"got {type(generator).__name__}"
            )
        self.device = device

    def get(self) -> Synthesizer:
        if self._synth is None:
            self._synth = from_pretrained(self.source, device=self.device)
        return self._synth

    def serializable_name(self, owner: str) -> str:
        if self.source is None:
            raise ValueError(
                f"{owner} holds an in-memory generator with no name: save it with save_pretrained(folder) "
                "and pass that folder (or a bundled/hub name) to serialise the pipeline"
            )
        return self.source


def check_arguments(owner: str, probability: float, on_empty_mask: str) -> None:
    """Constructor checks shared by the adapters that do not validate with pydantic."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"{owner}: the probability must lie in [0, 1], got {probability}")
    if on_empty_mask not in ("raise", "skip"):
        raise ValueError(f"{owner}: on_empty_mask must be 'raise' or 'skip', got {on_empty_mask!r}")


def check_image_array(image: Any, owner: str, *, channel_axis: int, check_range: bool = True) -> None:
    """Type, dtype, channel and (for floats, unless told not to) [0, 1] range checks for one image."""
    if not isinstance(image, (np.ndarray, Tensor)):
        raise TypeError(f"{owner}: image must be a numpy array or torch tensor, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[channel_axis] != 3:
        layout = "H, W, 3" if channel_axis in (-1, 2) else "3, H, W"
        raise ValueError(f"{owner}: image must be RGB with shape ({layout}), got shape {tuple(image.shape)}")
    dtype = str(image.dtype).replace("torch.", "")
    if dtype == "uint8":
        return
    if dtype not in ("float32", "float64", "float16", "bfloat16"):
        raise TypeError(f"{owner}: image dtype must be uint8 or float in [0, 1], got {dtype}")
    check_finite(image, owner, "image")
    if not check_range:
        return
    lo, hi = float(image.min()), float(image.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{owner}: float image values must lie in [0, 1], found [{lo:.3g}, {hi:.3g}]")


def as_plain_tensor(values: np.ndarray | Tensor) -> Tensor:
    """A numpy array (any strides: ``np.flip`` views included) or tensor subclass -> plain tensor."""
    if isinstance(values, Tensor):
        return values.as_subclass(Tensor)
    return torch.from_numpy(np.ascontiguousarray(values))


def check_finite(values: Any, owner: str, what: str = "image") -> None:
    """NaN or inf would silently turn the whole output into NaN: a clear error instead."""
    array = as_plain_tensor(values if isinstance(values, Tensor) else np.asarray(values))
    if array.is_floating_point() and not bool(torch.isfinite(array).all()):
        bad = int((~torch.isfinite(array)).sum())
        raise ValueError(f"{owner}: {what} contains {bad} NaN or infinite value(s); values must be finite")


def binary_mask(mask: Any, owner: str, image_hw: tuple[int, int]) -> Tensor:
    """Validate a mask (HW, 1HW or HW1; values {0, 1} or {0, 255}) -> float HW tensor in {0, 1}."""
    if not isinstance(mask, (np.ndarray, Tensor)):
        raise TypeError(f"{owner}: mask must be a numpy array or torch tensor, got {type(mask).__name__}")
    m = as_plain_tensor(mask)
    if m.ndim == 3 and 1 in (m.shape[0], m.shape[-1]):
        m = m.squeeze(0) if m.shape[0] == 1 else m.squeeze(-1)
    if m.ndim != 2:
        raise ValueError(f"{owner}: mask must be a single-channel HW mask, got shape {tuple(mask.shape)}")
    if tuple(m.shape) != tuple(image_hw):
        raise ValueError(f"{owner}: mask size {tuple(m.shape)} differs from image size {tuple(image_hw)}")
    values = torch.unique(m)
    allowed = {0.0, 1.0} if values.numel() == 0 or float(values.max()) <= 1 else {0.0, 255.0}
    bad = [v for v in values.tolist() if float(v) not in allowed]
    if bad:
        raise ValueError(f"{owner}: mask must be binary ({{0, 1}} or {{0, 255}}), found values {sorted(values.tolist())[:8]}")
    return (m > 0).float()


def synthesize(
    lazy: LazySynthesizer,
    image: Tensor,
    mask: Tensor | None,
    *,
    seed: int,
    owner: str,
    on_empty_mask: EmptyMaskPolicy = "raise",
    label: int | None = None,
    erase_mask: Tensor | None = None,
) -> Tensor | None:
    """One synthetic image (3HW float in [0, 1]) for ``image`` (3HW [0, 1]) and ``mask`` (HW {0, 1}).

    :meth:`Synthesizer.generate` gives each model what its kind reads (the mask, the image,
    both, or noise + ``label``); noise generators replace the image by a sample of the same
    size (only without a mask: a sample has no mask to stay aligned with). Returns ``None``
    when the mask is empty and ``on_empty_mask="skip"``.
    """
    synth = lazy.get()
    if mask is not None and "masks" in synth.reads and not bool(mask.any()):
        if on_empty_mask == "skip":
            return None
        raise ValueError(
            f"{owner}: mask is empty (no lesion pixels); {synth.architecture} needs a lesion mask. "
            "Pass on_empty_mask='skip' to leave such samples unchanged"
        )
    extra = {"erase_masks": erase_mask[None, None]} if erase_mask is not None else {}
    try:
        with torch.no_grad():
            out = synth.generate(
                masks=None if mask is None else mask[None, None], images=image.unsqueeze(0), labels=label, seed=seed,
                aligned=mask is not None, **extra,
            )
    except MissingInputError as err:
        hint = {"masks": "pass a mask target", "images": "pass the image", "labels": "pass labels (label=...)"}[err.input]
        raise ValueError(f"{owner}: {err}; {hint}") from None
    except ValueError as err:
        raise ValueError(f"{owner}: {err}") from None
    return out[0].to(image.device)


Mode = Literal["retexture", "reshape"]
MODES = ("retexture", "reshape")


def reshaped_mask(mask: Tensor, seed: int, strength: float = 0.15) -> Tensor:
    """A new lesion shape for *reshape* mode: an elastic deformation of the HW ``mask``
    (:func:`gan_augment.masks.elastic_deform`, displacement ``strength`` x the lesion's
    size); the old mask when the deformation would leave no lesion pixel."""
    # lazy: gan_augment.masks imports scikit-image, needed only in reshape mode (not to load a transform)
    from gan_augment.masks import elastic_deform

    if not bool(mask.any()):
        return mask
    top, left, side = lesion_box(mask)
    window = mask[top : top + side, left : left + side].cpu().numpy()
    warped = torch.from_numpy(elastic_deform(window, seed=seed, alpha=strength)).to(mask.dtype)
    if not bool(warped.any()):
        return mask
    out = mask.clone()
    out[top : top + side, left : left + side] = warped.to(mask.device)
    return out


def mode_condition(mode: str, mask: Tensor | None, seed: int, strength: float) -> tuple[Tensor | None, Tensor | None]:
    """``(condition, erase)`` for a mode: re-texture keeps the mask (no erase mask); reshape
    draws a new mask from the old one, which becomes the erase mask."""
    if mode != "reshape" or mask is None or not bool(mask.any()):
        return mask, None
    return reshaped_mask(mask, seed, strength), mask


def new_mask_like(new: Tensor, original: Any) -> Any:
    """The reshaped HW mask in the original mask's type, dtype, scale ({0, 1} / {0, 255}) and shape."""
    as_array = np.asarray(original) if isinstance(original, np.ndarray) else original.as_subclass(Tensor)
    scale = 255 if float(as_array.max()) > 1 else 1
    values = new.reshape(tuple(original.shape)) * scale
    if isinstance(original, np.ndarray):
        return values.cpu().numpy().astype(original.dtype)
    out = original.clone()
    out.as_subclass(Tensor)[...] = values.to(original.dtype).to(out.device)
    return out


def check_mode(owner: str, mode: str, lazy: LazySynthesizer) -> None:
    if mode not in MODES:
        raise ValueError(f"{owner}: mode must be one of {MODES}, got {mode!r}")
    if mode == "reshape" and lazy._synth is not None and not lazy._synth.spec.reshapes:
        raise ValueError(f"{owner}: mode='reshape' needs a model that can paint over the old lesion (inpaint), not {lazy._synth.architecture}")


def to_float01(image: Tensor) -> Tensor:
    """uint8 or float image tensor -> float32 in [0, 1]."""
    return image.float().div(255.0) if image.dtype == torch.uint8 else image.float()


def like_input(result: Tensor, reference: Tensor) -> Tensor:
    """Cast a [0, 1] float result to the reference tensor's dtype (uint8 rounds)."""
    if reference.dtype == torch.uint8:
        return result.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
    return result.to(reference.dtype)
