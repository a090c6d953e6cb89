"""Background-preserving Mask2Lesion: draw a new lesion into the mask of a real skin image.

The generator sees a real image whose lesion region (the target mask, dilated) is blanked,
that region, and the target mask, plus a noise vector, and paints the region; every pixel
outside the region is the input pixel, bit-exact. It works in the *lesion box* (the square
box around the mask with a 25 % margin, :mod:`gan_augment.lesion_box`) at the model's size,
so the lesion gets the model's full resolution whatever the size of the image.

Lineage: the mask-conditioned lesion synthesis of Mask2Lesion (Abhishek & Hamarneh,
SASHIMI 2019) recast as inpainting, as the lesion add/remove U-Net of Furger et al. (2020)
edits inside a mask; U-Net generator (Ronneberger et al. 2015) with resize-convolutions
instead of transposed convolutions (no checkerboards, Odena et al., Distill 2016); noise
through adaptive instance normalisation (Huang & Belongie 2017; StyleGAN, Karras et al.
2019) with a mode-seeking diversity loss (Mao et al., CVPR 2019; capped as in Yang et al., ICLR 2019) so that one mask gives many
lesions; trained against a projected discriminator (Sauer et al., NeurIPS 2021, Sec. 3:
frozen pretrained features, random projections, per-scale discriminators) with
DiffAugment (Zhao et al. 2020) and an EMA generator (Karras et al. 2018).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_augment.functional import from_model_range, resize_images, seeded, to_model_range
from gan_augment.lesion_box import DEFAULT_MARGIN, crop_resize, dilate, lesion_box
from gan_augment.registry import ModelSpec, register


class AdaIN(nn.Module):
    """Instance normalisation whose scale and shift come from the style vector ``w``."""

    def __init__(self, channels: int, w_dim: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.affine = nn.Linear(w_dim, 2 * channels)
        nn.init.zeros_(self.affine.weight)
        nn.init.zeros_(self.affine.bias)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        gamma, beta = self.affine(w).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return self.norm(x) * (1 + gamma) + beta


class UpBlock(nn.Module):
    """Nearest 2x upsampling, concatenation with the skip, two 3x3 convolutions with AdaIN."""

    def __init__(self, cin: int, cskip: int, cout: int, w_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin + cskip, cout, 3, 1, 1)
        self.norm1 = AdaIN(cout, w_dim)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.norm2 = AdaIN(cout, w_dim)

    def forward(self, x: Tensor, skip: Tensor, w: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = F.leaky_relu(self.norm1(self.conv1(torch.cat([x, skip], dim=1)), w), 0.2)
        return F.leaky_relu(self.norm2(self.conv2(x), w), 0.2)


class LesionInpaintGenerator(nn.Module):
    """U-Net inpainter: (blanked image, region, target mask) + noise -> image.

    Input channels: the image in [-1, 1] with the region set to 0, the region (the target
    mask dilated by ``dilation`` pixels at the model's size) and the target mask. Noise
    ``z`` (``z_dim``, drawn inside ``forward`` when not given, so ``seeded`` reproduces
    it) goes through a 2-layer mapping to a style ``w`` that modulates every decoder layer.
    The output is composited: outside the region it is the input image exactly.
    """

    def __init__(self, ngf: int = 32, num_downs: int = 5, z_dim: int = 64, w_dim: int = 128, dilation: int = 6) -> None:
        super().__init__()
        if num_downs < 2:
            raise ValueError(f"num_downs must be >= 2, got {num_downs}")
        self.z_dim, self.dilation, self.num_downs = z_dim, dilation, num_downs
        widths = [ngf * min(2**i, 8) for i in range(num_downs + 1)]
        self.stem = nn.Conv2d(5, widths[0], 3, 1, 1)
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(widths[i], widths[i + 1], 4, 2, 1), nn.InstanceNorm2d(widths[i + 1]), nn.LeakyReLU(0.2, True))
            for i in range(num_downs)
        )
        self.mapping = nn.Sequential(nn.Linear(z_dim, w_dim), nn.LeakyReLU(0.2, True), nn.Linear(w_dim, w_dim), nn.LeakyReLU(0.2, True))
        self.bottleneck = nn.Conv2d(widths[-1] + w_dim, widths[-1], 3, 1, 1)
        self.bottleneck_norm = AdaIN(widths[-1], w_dim)
        self.up = nn.ModuleList(UpBlock(widths[i + 1], widths[i], widths[i], w_dim) for i in reversed(range(num_downs)))
        self.to_rgb = nn.Conv2d(widths[0], 3, 3, 1, 1)

    def make_input(self, masks: Tensor, images: Tensor, erase_masks: Tensor | None = None) -> Tensor:
        """Generator input from target masks N1HW {0, 1} and images N3HW in [-1, 1] at the
        model's size; ``erase_masks`` (old lesions to paint over) grow the region."""
        cover = masks if erase_masks is None else torch.maximum(masks.float(), erase_masks.float())
        region = dilate(cover, self.dilation)
        return torch.cat([images * (1 - region), region, masks.float()], dim=1)

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        size = 2**self.num_downs
        if x.shape[1] != 5:
            raise ValueError(f"input must have 5 channels (blanked image, region, mask), got {x.shape[1]}")
        if x.shape[-1] % size or x.shape[-2] % size:
            raise ValueError(f"input height and width must be multiples of {size}, got {tuple(x.shape[-2:])}")
        if z is None:
            z = torch.randn(x.shape[0], self.z_dim, device=x.device)
        w = self.mapping(z)
        skips, h = [], self.stem(x)
        for layer in self.down:
            skips.append(h)
            h = layer(h)
        wmap = w.unsqueeze(-1).unsqueeze(-1).expand(-1, -1, *h.shape[-2:])
        h = F.leaky_relu(self.bottleneck_norm(self.bottleneck(torch.cat([h, wmap], dim=1)), w), 0.2)
        for block in self.up:
            h = block(h, skips.pop(), w)
        painted = torch.tanh(self.to_rgb(h))
        region = x[:, 3:4]
        return x[:, :3] * (1 - region) + painted * region


def inpaint_translate(
    network: LesionInpaintGenerator,
    masks: Tensor,
    images: Tensor,
    *,
    image_size: int,
    seed: int | None = None,
    erase_masks: Tensor | None = None,
) -> Tensor:
    """Paint a new lesion into each image's mask, in its lesion box at ``image_size``.

    ``masks`` N1HW {0, 1} (each non-empty), ``images`` N3HW [0, 1], any size; ``erase_masks``
    (same shape) are old lesions painted over too (reshape: the new lesion has another shape
    than the old one). Pixels outside the region (masks and erase masks, dilated by the
    model's dilation scaled to the box) are returned bit-exact. Returns N3HW in [0, 1] on
    the input's device.
    """
    device = next(network.parameters()).device
    cover = masks if erase_masks is None else torch.maximum(masks, erase_masks)
    boxes, crops, crop_masks, crop_erase = [], [], [], []
    for i in range(masks.shape[0]):
        if not bool(masks[i].any()):
            raise ValueError(f"masks[{i}] is empty: the inpainting model paints a lesion into a non-empty mask")
        box = lesion_box(cover[i, 0], DEFAULT_MARGIN)
        boxes.append(box)
        crops.append(crop_resize(images[i].float(), box, image_size))
        crop_masks.append(crop_resize(masks[i].float(), box, image_size, nearest=True))
        crop_erase.append(crop_resize(cover[i].float(), box, image_size, nearest=True))
    m = torch.stack(crop_masks).to(device)
    erase = torch.stack(crop_erase).to(device) if erase_masks is not None else None
    x = network.make_input(m, to_model_range(torch.stack(crops).to(device)), erase)
    with torch.inference_mode(), seeded(seed, device):
        painted = from_model_range(network(x).float()).to(images.device)
    region = x[:, 3:4].to(images.device)
    out = images.clone()
    for i, (top, left, side) in enumerate(boxes):
        window = (slice(top, top + side), slice(left, left + side))
        patch = resize_images(painted[i : i + 1], (side, side))[0].clamp(0, 1).to(images.dtype)
        inside = F.interpolate(region[i : i + 1], size=(side, side), mode="nearest-exact")[0].bool()
        inside |= cover[i][(slice(None), *window)].bool()
        out[i][(slice(None), *window)] = torch.where(inside, patch, images[i][(slice(None), *window)])
    return out


@dataclass
class InpaintHParams:
    """Projected GAN defaults (Sauer et al. 2021): Adam lr 2e-4, betas (0, 0.99), hinge loss,
    EfficientNet-Lite1 features; DiffAugment off by default as for every model (the bundled
run uses ``--diffaugment color,translation,cutout``, as Projected GAN does); EMA half-life
    10k images; diversity term weight 1: the mode-seeking loss (Mao et al. 2019), the
reciprocal of the ratio of image distance (inside the region) to noise distance, capped
as in Yang et al. (ICLR 2019, DSGAN): ``ms_tau / min(ratio, ms_tau)`` (denominator held at
1e-3 or more, its gradient kept), so it stops
pushing once outputs differ enough (ratio ``ms_tau``); L1 on the skin ring around the
    lesion (region minus mask) to continue the surrounding skin, weight 1."""

    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.99
    backbone: int = 1
    feature_input_size: int = 128
    d_width: int = 64
    projection_seed: int = 0
    diffaugment: str = ""
    lambda_ms: float = 1.0
    ms_tau: float = 0.25
    lambda_ring: float = 1.0
    ema_half_life_images: float = 10_000.0


SPEC = register(
    ModelSpec(
        name="inpaint",
        task="image_to_image",
        generator=LesionInpaintGenerator,
        recipe="gan_augment.models.inpaint_recipe:InpaintRecipe",
        hparams=InpaintHParams,
        paper="Abhishek & Hamarneh 2019 (Mask2Lesion) as inpainting; Sauer et al. 2021 (Projected GAN); Mao et al. 2019 (mode seeking)",
        summary="background-preserving Mask2Lesion: paints a new lesion into the mask of a real image (pixels outside bit-exact)",
        default_image_size=128,
        tiny_generator_config={"ngf": 4, "num_downs": 3, "z_dim": 8, "w_dim": 8, "dilation": 2},
        tiny_hparams={"d_width": 8, "feature_input_size": 32},
        tiny_image_size=32,
        needs_mask=True,
        needs_image=True,
        reshapes=True,
        keeps_outside_mask=True,
        training_data="gan_augment.models.inpaint_recipe:lesion_box_training_data",
        translator=inpaint_translate,
    )
)
