"""Training step of :mod:`gan_augment.models.residual_unet` (imported only when training starts;
see the model file for the paper and its sections)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gan_augment.diffaugment import diff_augment
from gan_augment.functional import from_model_range, seeded
from gan_augment.losses import adversarial_loss
from gan_augment.models._blocks import PatchDiscriminator, init_gan_weights, set_requires_grad
from gan_augment.models.residual_unet import ResidualUNet, ResidualUNetHParams
from gan_augment.recipe import Recipe


class ResidualUNetRecipe(Recipe):
    """D judges (image, mask) pairs: for ``add`` the real pairs are lesion crops with their
    masks, for ``remove`` skin patches with the same masks."""

    architecture = "residual_unet"

    def __init__(self, generator: ResidualUNet, generator_config: dict[str, Any], hparams: ResidualUNetHParams, image_size: int):
        super().__init__(generator, generator_config, hparams, image_size)
        if hparams.direction not in ("add", "remove"):
            raise ValueError(f"direction must be 'add' or 'remove', got {hparams.direction!r}")
        self.discriminator = PatchDiscriminator(4, hparams.ndf, hparams.d_layers, "instance")
        init_gan_weights(self.discriminator)
        betas = (hparams.beta1, hparams.beta2)
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=hparams.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=hparams.lr, betas=betas)

    def networks(self) -> dict[str, nn.Module]:
        return {"G": self.generator, "D": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def _split(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """(source image, mask, real target-domain image)."""
        skin, lesion, mask = batch["a_image"], batch["b_image"], batch["b_mask"]
        return (skin, mask, lesion) if self.hparams.direction == "add" else (lesion, mask, skin)

    def _d(self, image: Tensor, mask_pm: Tensor) -> Tensor:
        pair = torch.cat([image, mask_pm], 1)
        if self.hparams.diffaugment:  # same geometry for image and mask; colour on the image only
            pair = diff_augment(pair, self.hparams.diffaugment, color_channels=slice(0, image.shape[1]))
        return self.discriminator(pair)

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        hp = self.hparams
        source, mask, target = self._split(batch)
        mask_pm = mask * 2 - 1
        with self.autocast():
            fake = self.generator(torch.cat([source, mask_pm], 1))

        set_requires_grad(self.discriminator, True)
        self.opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            loss_d_fake = adversarial_loss(self._d(fake.detach(), mask_pm), False, hp.gan_mode, for_discriminator=True)
            loss_d_real = adversarial_loss(self._d(target, mask_pm), True, hp.gan_mode, for_discriminator=True)
        (0.5 * (loss_d_fake + loss_d_real)).backward()
        self.opt_d.step()

        set_requires_grad(self.discriminator, False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            loss_g_gan = adversarial_loss(self._d(fake, mask_pm), True, hp.gan_mode, for_discriminator=False)
        outside = 1.0 - mask
        relevancy = ((fake.float() - source) ** 2 * outside).sum() / (outside.sum() * source.shape[1]).clamp_min(1)
        (loss_g_gan + hp.lambda_relevancy * relevancy).backward()
        self.opt_g.step()
        return {"D_real": loss_d_real.detach(), "D_fake": loss_d_fake.detach(), "G_gan": loss_g_gan.detach(), "relevancy": relevancy.detach()}

    def preview(self, batch: dict[str, Tensor]) -> list[Tensor]:
        source, mask, target = self._split(batch)
        with seeded(0, self.device):
            fake = self.generator(torch.cat([source, mask * 2 - 1], 1)).float()
        return [mask, from_model_range(source), from_model_range(fake), from_model_range(target)]
