"""Pure torch helpers shared by every adapter: value ranges, resizing, seeded calls.

Public tensors in this library are float NCHW in [0, 1] (the torchvision convention);
masks are float N1HW in {0, 1}. Generators work in [-1, 1]; the conversion happens here
and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

MIN_IMAGE_SIZE = 4
MAX_IMAGE_SIZE = 4096
"""Image sizes (pixels per side) accepted anywhere a model or data size is set: checked up
front, before anything allocates (a typo such as 60000 would otherwise ask for gigabytes)."""


def check_image_size(size: object, what: str = "image_size") -> int:
    """``size`` as an int in [MIN_IMAGE_SIZE, MAX_IMAGE_SIZE], or a clear error naming ``what``."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) and not (isinstance(size, float) and size.is_integer()):
        raise TypeError(f"{what} must be a whole number of pixels, got {size!r}")
    if not MIN_IMAGE_SIZE <= int(size) <= MAX_IMAGE_SIZE:
        raise ValueError(f"{what} must lie in [{MIN_IMAGE_SIZE}, {MAX_IMAGE_SIZE}] pixels, got {size}")
    return int(size)


def to_model_range(images01: Tensor) -> Tensor:
    """[0, 1] -> [-1, 1]."""
    return images01 * 2.0 - 1.0


def from_model_range(images: Tensor) -> Tensor:
    """[-1, 1] -> [0, 1], clamped."""
    return ((images + 1.0) * 0.5).clamp_(0.0, 1.0)


def uint8_to_float(image: np.ndarray) -> Tensor:
    """HWC uint8 array -> CHW float tensor in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)


def float_to_uint8(image: Tensor) -> np.ndarray:
    """CHW float tensor in [0, 1] -> HWC uint8 array (rounded)."""
    return np.ascontiguousarray(image.detach().clamp(0, 1).mul(255.0).round_().to(torch.uint8).permute(1, 2, 0).cpu().numpy())


def resize_images(images: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear, antialiased resize of a float NCHW batch (no-op at the same size)."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)


def resize_masks(masks: Tensor, size: tuple[int, int]) -> Tensor:
    """Nearest-neighbour resize of a binary N1HW batch (keeps it binary)."""
    if tuple(masks.shape[-2:]) == tuple(size):
        return masks
    return F.interpolate(masks.float(), size=size, mode="nearest-exact")


def square_resize(array: np.ndarray, size: int, *, nearest: bool) -> np.ndarray:
    """Centre-crop to a square, then resize to ``size`` x ``size`` (bilinear / nearest)."""
    h, w = array.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    array = array[top : top + s, left : left + s]
    if s == size:
        return np.ascontiguousarray(array)
    resample = Image.NEAREST if nearest else Image.BILINEAR
    return np.array(Image.fromarray(array).resize((size, size), resample))


@contextmanager
def seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Run a block with torch's RNG (CPU and ``device``) seeded, restoring it afterwards.

    Generators that draw noise inside ``forward`` (pix2pix's dropout) become reproducible
    without touching the caller's global random state. ``seed=None`` leaves RNG alone.
    """
    if seed is None:
        yield
        return
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type="cuda"):
        torch.manual_seed(int(seed) % (2**63))
        yield


def translate(
    network: nn.Module,
    masks: Tensor | None,
    images: Tensor | None = None,
    *,
    image_size: int,
    condition: Callable[[Tensor | None, Tensor | None], Tensor] | None = None,
    seed: int | None = None,
) -> Tensor:
    """Run a translator at its native resolution.

    ``masks`` (N1HW in {0, 1}) and ``images`` (N3HW in [0, 1]) may have any size; they are
    resized to ``image_size``, turned into the generator input by ``condition(masks,
    images_in_[-1,1])``, translated, and the result is resized back. Returns N3HW float in
    [0, 1] on the input's device.
    """
    device = next(network.parameters()).device
    reference = masks if masks is not None else images
    out_size = tuple(reference.shape[-2:])
    model_size = (image_size, image_size)
    m = None if masks is None else resize_masks(masks.to(device), model_size)
    x = None if images is None else to_model_range(resize_images(images.to(device).float(), model_size))
    model_input = condition(m, x) if condition is not None else to_model_range(m)
    with torch.inference_mode(), seeded(seed, device):
        fake = network(model_input).float()
    return resize_images(from_model_range(fake), out_size).to(reference.device)


def sample(
    network: nn.Module,
    n: int,
    *,
    labels: Tensor | None = None,
    seed: int | None = None,
    truncation: float | None = None,
    size: int | None = None,
) -> Tensor:
    """``n`` images from a noise generator with ``latent_dim`` (and ``num_classes``) attributes.

    Latents are drawn on the CPU from ``seed`` (the same images on every device). Returns
    N3HW float in [0, 1] on the network's device.
    """
    device = next(network.parameters()).device
    z = latent(n, network.latent_dim, seed=seed, truncation=truncation).to(device)
    with torch.inference_mode(), seeded(seed, device):
        fake = network(z, None if labels is None else labels.to(device)).float()
    images = from_model_range(fake)
    return resize_images(images, (size, size)) if size else images


def latent(n: int, dim: int, *, seed: int | None, truncation: float | None = None) -> Tensor:
    """Standard normal latents drawn on the CPU (identical on every device for a seed).

    With ``truncation=t`` every component whose magnitude exceeds ``t`` is resampled until
    it does not (the truncation trick, Brock et al. 2019; Furger et al. 2020).
    """
    gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    z = torch.randn(n, dim, generator=gen)
    if truncation is not None:
        if truncation <= 0:
            raise ValueError(f"truncation must be positive, got {truncation}")
        outside = z.abs() > truncation
        while outside.any():
            z[outside] = torch.randn(int(outside.sum()), generator=gen)
            outside = z.abs() > truncation
    return z
