"""pix2pixHD: semantic label map + SLIC instance map -> dermoscopic image.

Wang et al., "High-Resolution Image Synthesis and Semantic Manipulation with Conditional
GANs", CVPR 2018: the global generator G1 (Sec. 3.2: c7s1-64, 4 stride-2 downsamplings,
9 residual blocks, 4 transposed-convolution upsamplings, c7s1-3), three multi-scale
PatchGAN discriminators (Sec. 3.2), LSGAN + feature-matching loss with weight 10 (Eq. 4),
instance-boundary maps (Sec. 3.3). For skin lesions (Bissoto et al., ISIC Skin Image
Analysis Workshop 2018, Sec. 3.2) the label map holds outside-of-field border, skin,
lesion and the five ISIC 2018 Task 2 attributes, and the instances are SLIC superpixels
(``gan_augment.models.pix2pixhd_maps``). The VGG perceptual loss of the paper is not used (no offline VGG).

Options beyond the paper (its recipe stays the default): a noise input (``style_dim``) with
mode seeking (``lambda_ms``), ``upsample="resize"`` (nearest 2x
upsampling + 3x3 convolution instead of transposed convolutions, no checkerboard artefacts;
Odena et al., Distill 2016) and, in :class:`Pix2PixHDHParams`, an EMA of the generator
(exported as ``G``), DiffAugment (Zhao et al. 2020) and ``discriminator="projected"`` (the
projected discriminator of Sauer et al. 2021 conditioned on the maps at each feature scale,
in place of the multi-scale PatchGANs; feature matching needs their features and is off).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from gan_augment.models._blocks import MatchingAwareOptions, ResnetGenerator
from gan_augment.models.pix2pixhd_maps import NUM_CONDITION_CHANNELS, condition_maps
from gan_augment.registry import ModelSpec, register


class GlobalGenerator(ResnetGenerator):
    """pix2pixHD's G1 (a :class:`ResnetGenerator` with 4 downsamplings and 9 blocks) over
    the 8-channel label map + 1-channel instance-boundary map.

    ``upsample``: ``"transpose"`` (the paper's 3x3 stride-2 transposed convolutions) or
    ``"resize"`` (nearest 2x upsampling + 3x3 convolution). ``style_dim > 0``: a noise input
    that restyles the normalisations (see :class:`ResnetGenerator`), so one pair of maps
    can give several skin tones and textures (the paper's answer is an instance-wise
    feature encoder sampled from clusters at test time)."""

    def __init__(
        self,
        in_channels: int = NUM_CONDITION_CHANNELS,
        out_channels: int = 3,
        ngf: int = 64,
        n_downsampling: int = 4,
        n_blocks: int = 9,
        norm: str = "instance",
        upsample: str = "transpose",
        style_dim: int = 0,
        w_dim: int = 128,
    ) -> None:
        super().__init__(in_channels, out_channels, ngf, n_downsampling, n_blocks, norm, upsample, style_dim, w_dim)


def maps_condition(masks: Tensor | None, images: Tensor | None) -> Tensor:
    """Generator input for inference: label + instance maps built from each image (in
    [-1, 1]) and its mask, exactly as :class:`GANTrainingView` built them for training."""
    maps = []
    for image, mask in zip(images, masks):
        rgb = ((image.float().cpu().permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
        maps.append(condition_maps(rgb, (mask[0].cpu().numpy() > 0).astype(np.uint8)))
    return torch.from_numpy(np.stack(maps)).float().to(masks.device)


@dataclass
class Pix2PixHDHParams(MatchingAwareOptions):
    """Paper defaults: 3 discriminators of 3 layers (instance norm), LSGAN, lambda_feat 10,
    Adam 2e-4 / beta1 0.5, linear decay over the second half.

    ``ema_half_life_images > 0`` keeps an EMA generator (exported as ``G``; the trained one
    is saved as ``G_train``); ``discriminator="projected"`` trains against the projected
    discriminator conditioned on the maps (use ``gan_mode=hinge``, ``beta1=0``,
    ``beta2=0.99``), without feature matching; ``lambda_ms > 0`` adds the capped
    mode-seeking term (Mao et al. 2019) for a generator with a noise input (``style_dim``)."""

    ndf: int = 64
    d_layers: int = 3
    num_D: int = 3
    gan_mode: str = "lsgan"
    lambda_feat: float = 10.0
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lr_decay_start: float = 0.5
    diffaugment: str = ""
    lambda_ms: float = 0.0
    ms_tau: float = 0.25


SPEC = register(
    ModelSpec(
        name="pix2pixhd",
        task="mask_to_image",
        generator=GlobalGenerator,
        recipe="gan_augment.models.pix2pixhd_recipe:Pix2PixHDRecipe",
        hparams=Pix2PixHDHParams,
        paper="Wang et al. 2018 (pix2pixHD); Bissoto et al. 2018 (skin lesion label + SLIC instance maps)",
        summary="pix2pixHD global G + 3 multi-scale D + feature matching: label map + SLIC instance map -> lesion image",
        default_image_size=128,
        tiny_generator_config={"ngf": 4, "n_downsampling": 2, "n_blocks": 1},
        tiny_hparams={"ndf": 4, "num_D": 2, "d_layers": 2},
        tiny_image_size=32,
        condition=maps_condition,
        needs_image=True,
        training_data="gan_augment.models.pix2pixhd_recipe:training_data",
    )
)
