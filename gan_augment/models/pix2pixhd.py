"""pix2pixHD: semantic label map + SLIC instance map -> dermoscopic image.

Wang et al., "High-Resolution Image Synthesis and Semantic Manipulation with Conditional
GANs", CVPR 2018: the global generator G1 (Sec. 3.2: c7s1-64, 4 stride-2 downsamplings,
9 residual blocks, 4 transposed-convolution upsamplings, c7s1-3), three multi-scale
PatchGAN discriminators (Sec. 3.2), LSGAN + feature-matching loss with weight 10 (Eq. 4),
instance-boundary maps (Sec. 3.3). For skin lesions (Bissoto et al., ISIC Skin Image
Analysis Workshop 2018, Sec. 3.2) the label map holds outside-of-field border, skin,
lesion and the five ISIC 2018 Task 2 attributes, and the instances are SLIC superpixels
(``gan_augment.maps``). The VGG perceptual loss of the paper is not used (no offline VGG).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gan_augment.diffaugment import diff_augment
from gan_augment.functional import from_model_range, seeded
from gan_augment.losses import feature_matching_loss, multiscale_adversarial_loss
from gan_augment.maps import LABELS, NUM_CONDITION_CHANNELS, condition_maps
from gan_augment.models._blocks import MultiScaleDiscriminator, ResnetGenerator, init_gan_weights, set_requires_grad
from gan_augment.registry import ModelSpec, register
from gan_augment.train_data import GANTrainingView
from gan_augment.training import Recipe


class GlobalGenerator(ResnetGenerator):
    """pix2pixHD's G1 (a :class:`ResnetGenerator` with 4 downsamplings and 9 blocks) over
    the 8-channel label map + 1-channel instance-boundary map."""

    def __init__(
        self,
        in_channels: int = NUM_CONDITION_CHANNELS,
        out_channels: int = 3,
        ngf: int = 64,
        n_downsampling: int = 4,
        n_blocks: int = 9,
        norm: str = "instance",
    ) -> None:
        super().__init__(in_channels, out_channels, ngf, n_downsampling, n_blocks, norm)


def maps_condition(masks: Tensor | None, images: Tensor | None) -> Tensor:
    """Generator input for inference: label + instance maps built from each image (in
    [-1, 1]) and its mask, exactly as :class:`GANTrainingView` built them for training."""
    maps = []
    for image, mask in zip(images, masks):
        rgb = ((image.float().cpu().permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
        maps.append(condition_maps(rgb, (mask[0].cpu().numpy() > 0).astype(np.uint8)))
    return torch.from_numpy(np.stack(maps)).float().to(masks.device)


@dataclass
class Pix2PixHDHParams:
    """Paper defaults: 3 discriminators of 3 layers (instance norm), LSGAN, lambda_feat 10,
    Adam 2e-4 / beta1 0.5, linear decay over the second half."""

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


class Pix2PixHDRecipe(Recipe):
    architecture = "pix2pixhd"

    def __init__(self, generator: GlobalGenerator, generator_config: dict[str, Any], hparams: Pix2PixHDHParams, image_size: int):
        super().__init__(generator, generator_config, hparams, image_size)
        if image_size % generator.multiple:
            raise ValueError(f"pix2pixHD with n_downsampling={generator_config.get('n_downsampling')} needs an image size that is a multiple of {generator.multiple}, got {image_size}")
        in_ch = generator_config.get("in_channels", NUM_CONDITION_CHANNELS) + generator_config.get("out_channels", 3)
        self.discriminator = MultiScaleDiscriminator(in_ch, hparams.ndf, hparams.d_layers, "instance", hparams.num_D)
        init_gan_weights(self.discriminator)
        betas = (hparams.beta1, hparams.beta2)
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=hparams.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=hparams.lr, betas=betas)

    def networks(self) -> dict[str, nn.Module]:
        return {"G": self.generator, "D": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def _d(self, condition: Tensor, image: Tensor) -> list:
        pair = torch.cat([condition, image], 1)
        if self.hparams.diffaugment:  # same geometry for maps and image; colour on the image only
            pair = diff_augment(pair, self.hparams.diffaugment, color_channels=slice(condition.shape[1], None))
        return self.discriminator(pair, features=True)

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        hp = self.hparams
        condition, real = batch["condition"], batch["image"]
        with self.autocast():
            fake = self.generator(condition)

        set_requires_grad(self.discriminator, True)
        self.opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            pred_fake = self._d(condition, fake.detach())
            pred_real = self._d(condition, real)
            loss_d_fake = multiscale_adversarial_loss(pred_fake, False, hp.gan_mode, for_discriminator=True)
            loss_d_real = multiscale_adversarial_loss(pred_real, True, hp.gan_mode, for_discriminator=True)
        (0.5 * (loss_d_fake + loss_d_real)).backward()
        self.opt_d.step()

        set_requires_grad(self.discriminator, False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            pred = self._d(condition, fake)
            loss_g_gan = multiscale_adversarial_loss(pred, True, hp.gan_mode, for_discriminator=False)
            loss_g_feat = feature_matching_loss(pred, pred_real) * hp.lambda_feat
        (loss_g_gan + loss_g_feat).backward()
        self.opt_g.step()
        return {"D_real": loss_d_real.detach(), "D_fake": loss_d_fake.detach(), "G_gan": loss_g_gan.detach(), "G_feat": loss_g_feat.detach()}

    def preview(self, batch: dict[str, Tensor]) -> list[Tensor]:
        with seeded(0, self.device):
            fake = self.generator(batch["condition"]).float()
        lesion = batch["condition"][:, LABELS.index("lesion") : LABELS.index("lesion") + 1]
        edges = batch["condition"][:, -1:]
        return [lesion, edges, from_model_range(batch["image"]), from_model_range(fake)]


def training_data(dataset: Any, image_size: int, seed: int) -> GANTrainingView:
    return GANTrainingView(dataset, image_size, seed=seed, condition_maps=condition_maps)


SPEC = register(
    ModelSpec(
        name="pix2pixhd",
        task="mask_to_image",
        generator=GlobalGenerator,
        recipe=Pix2PixHDRecipe,
        hparams=Pix2PixHDHParams,
        paper="Wang et al. 2018 (pix2pixHD); Bissoto et al. 2018 (skin lesion label + SLIC instance maps)",
        summary="pix2pixHD global G + 3 multi-scale D + feature matching: label map + SLIC instance map -> lesion image",
        default_image_size=128,
        tiny_generator_config={"ngf": 4, "n_downsampling": 2, "n_blocks": 1},
        tiny_hparams={"ndf": 4, "num_D": 2, "d_layers": 2},
        tiny_image_size=32,
        condition=maps_condition,
        needs_image=True,
        training_data=training_data,
    )
)
