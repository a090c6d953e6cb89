"""Residual U-Net translator: add a lesion inside a mask to lesion-free skin, or remove one.

Furger et al., "Applications of Generative Adversarial Networks to Dermatologic Imaging",
ANNPR 2020 (Sec. 3): a U-Net-like generator — encoder with two strided convolutions, four
residual blocks, two transposed convolutions, skip concatenations — whose output is
*added* to the input image, so it only has to learn the change; a relevancy loss (masked
MSE between input and output outside the mask, lambda 10) keeps the rest of the image
untouched. ``direction="add"`` maps (skin patch, lesion mask) to a lesion image;
``direction="remove"`` maps (lesion image, its mask) to skin. Training data: lesion-free
skin patches and lesion crops of the same data set (``gan_augment.domains``).

Options beyond the paper (its recipe stays the default): ``upsample="resize"`` (nearest 2x
upsampling + 3x3 convolution instead of transposed convolutions, no checkerboard artefacts;
Odena et al., Distill 2016) and, in :class:`ResidualUNetHParams`, the realism recipe: the
projected discriminator (Sauer et al. 2021), a generator EMA and DiffAugment (Zhao et al. 2020).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from gan_augment.models._blocks import RealismRecipeOptions, ResnetBlock, check_upsample, init_gan_weights, norm_layer, upsample_x2
from gan_augment.registry import ModelSpec, register


class ResidualUNet(nn.Module):
    """Input: image (3 channels, [-1, 1]) + mask (1 channel, {-1, 1}); output: image + change.

    ``upsample``: ``"transpose"`` (the paper's 3x3 stride-2 transposed convolutions) or
    ``"resize"`` (nearest 2x upsampling + 3x3 convolution)."""

    def __init__(
        self, in_channels: int = 4, out_channels: int = 3, ngf: int = 64, n_blocks: int = 4, norm: str = "instance",
        upsample: str = "transpose",
    ) -> None:
        super().__init__()
        check_upsample(upsample)
        make_norm = norm_layer(norm)
        self.stem = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7), make_norm(ngf), nn.ReLU(True))
        self.down1 = nn.Sequential(nn.Conv2d(ngf, 2 * ngf, 3, 2, 1), make_norm(2 * ngf), nn.ReLU(True))
        self.down2 = nn.Sequential(nn.Conv2d(2 * ngf, 4 * ngf, 3, 2, 1), make_norm(4 * ngf), nn.ReLU(True))
        self.blocks = nn.Sequential(*[ResnetBlock(4 * ngf, norm) for _ in range(n_blocks)])
        self.up1 = nn.Sequential(*upsample_x2(4 * ngf, 2 * ngf, upsample, kernel_size=3), make_norm(2 * ngf), nn.ReLU(True))
        self.up2 = nn.Sequential(*upsample_x2(4 * ngf, ngf, upsample, kernel_size=3), make_norm(ngf), nn.ReLU(True))
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(2 * ngf, out_channels, 7), nn.Tanh())
        self.out_channels = out_channels
        init_gan_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"input height and width must be multiples of 4, got {tuple(x.shape[-2:])}")
        s0 = self.stem(x)
        s1 = self.down1(s0)
        h = self.up1(self.blocks(self.down2(s1)))
        h = self.up2(torch.cat([h, s1], 1))
        change = 2.0 * self.head(torch.cat([h, s0], 1))  # can move a pixel across the whole range
        return x[:, : self.out_channels] + change


def image_and_mask(masks: Tensor | None, images: Tensor | None) -> Tensor:
    """Generator input: the image in [-1, 1] and the mask mapped to {-1, 1}."""
    return torch.cat([images, masks.float() * 2 - 1], dim=1)


@dataclass
class ResidualUNetHParams(RealismRecipeOptions):
    """The paper's recipe: PatchGAN on image + mask, relevancy loss x 10; LSGAN loss; Adam
    lr 2e-4, decaying linearly over the second half of the run.

    ``discriminator="projected"`` trains against the projected discriminator instead (Sauer
    et al. 2021; frozen EfficientNet-``backbone`` features, random projections, per-scale
    heads conditioned on the mask; use ``gan_mode=hinge``, ``beta1=0``, ``beta2=0.99``);
    ``ema_half_life_images > 0`` keeps an EMA generator (exported as ``G``)."""

    direction: str = "add"
    ndf: int = 64
    d_layers: int = 3
    gan_mode: str = "lsgan"
    lambda_relevancy: float = 10.0
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lr_decay_start: float = 0.5
    diffaugment: str = ""


def direction_of(hparams: Mapping[str, Any], network: str | None) -> str | None:
    """The domain direction of a checkpoint: its ``direction`` hyper-parameter."""
    return hparams.get("direction")


SPEC = register(
    ModelSpec(
        name="residual_unet",
        task="image_to_image",
        generator=ResidualUNet,
        recipe="gan_augment.models.residual_unet_recipe:ResidualUNetRecipe",
        hparams=ResidualUNetHParams,
        paper="Furger et al. 2020 (residual U-Net translator, relevancy loss)",
        summary="residual U-Net: add a lesion inside a mask to skin (or remove it), rest of the image kept",
        default_image_size=128,
        tiny_generator_config={"ngf": 4, "n_blocks": 1},
        tiny_hparams={"ndf": 4, "d_layers": 2},
        tiny_image_size=32,
        condition=image_and_mask,
        needs_image=True,
        needs_mask=True,
        training_data="gan_augment.domains:skin_and_lesion_domains",
        keeps_outside_mask=True,
        domain_direction=direction_of,
    )
)
