"""Training step of :mod:`gan_augment.models.pix2pix` (imported only when training starts;
see the model file for the paper and its sections)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_augment.functional import from_model_range, seeded
from gan_augment.losses import summed_adversarial_loss
from gan_augment.models._blocks import set_requires_grad
from gan_augment.models.pix2pix import Pix2PixHParams, UNetGenerator, mask_condition
from gan_augment.models.realism_recipe import (
    check_mode_seeking,
    conditional_discriminator,
    discriminate,
    matching_aware,
    mode_seeking_term,
    noise_pairs,
)
from gan_augment.recipe import EMARecipe


class Pix2PixRecipe(EMARecipe):
    """Conditional GAN on (mask, image) pairs: D sees the mask with the image (the
    PatchGAN concatenated, the projected discriminator at each feature scale)."""

    architecture = "pix2pix"

    def __init__(self, generator: UNetGenerator, generator_config: dict[str, Any], hparams: Pix2PixHParams, image_size: int):
        super().__init__(generator, generator_config, hparams, image_size)
        hp = hparams
        check_mode_seeking(hp, generator)
        self.discriminator, self._trainable_d = conditional_discriminator(
            hp, generator_config.get("out_channels", 3), generator_config.get("in_channels", 1), hp.d_norm, image_size, "pix2pix"
        )
        self.init_ema(hp.ema_half_life_images)
        betas, lr = (float(hp.beta1), float(hp.beta2)), float(hp.lr)  # `--set beta1=0` arrives as an int
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam([p for p in self.discriminator.parameters() if p.requires_grad], lr=lr, betas=betas)

    def networks(self) -> dict[str, nn.Module]:
        return {**self.generator_networks(), "D": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def _d(self, condition: Tensor, image: Tensor) -> list[Tensor]:
        """Discriminator logits (one map per scale) for ``image`` given the mask ``condition``."""
        return discriminate(self.discriminator, self.hparams, image, condition, condition_first=True)

    def _adv(self, logits: list[Tensor], real: bool, for_d: bool) -> Tensor:
        return summed_adversarial_loss(logits, real, self.hparams.gan_mode, for_discriminator=for_d)

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        hp, g = self.hparams, self.generator
        condition, real = mask_condition(batch["mask"]), batch["image"]
        n = real.shape[0]
        fake_condition, paired_real, z, half = noise_pairs(g, condition, real)
        with self.autocast():
            fake = g(fake_condition, z) if z is not None else g(fake_condition)

        set_requires_grad(self._trainable_d, True)
        self.opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            loss_d_fake = self._adv(self._d(fake_condition, fake.detach()), False, True)
            loss_d_real = self._adv(self._d(condition, real), True, True)
            fake_term, loss_mismatch = matching_aware(hp, loss_d_fake, lambda c: self._adv(self._d(c, real), False, True), condition)
            loss_d = 0.5 * (fake_term + loss_d_real)
        loss_d.backward()
        self.opt_d.step()

        set_requires_grad(self._trainable_d, False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            loss_g_gan = self._adv(self._d(fake_condition, fake), True, False)
        fake = fake.float()
        losses = {"D_real": loss_d_real.detach(), "D_fake": loss_d_fake.detach(), "G_gan": loss_g_gan.detach()}
        if loss_mismatch is not None:
            losses["D_mismatch"] = loss_mismatch.detach()
        total = loss_g_gan
        if hp.lambda_l1 > 0:
            loss_g_l1 = F.l1_loss(fake, paired_real) * hp.lambda_l1
            total = total + loss_g_l1
            losses["G_L1"] = loss_g_l1.detach()
        loss_ms = mode_seeking_term(hp, fake, z, half)
        if loss_ms is not None:
            total = total + loss_ms
            losses["G_ms"] = loss_ms.detach()
        total.backward()
        self.opt_g.step()
        self.update_ema(n)
        return losses

    def preview(self, batch: dict[str, Tensor]) -> list[Tensor]:
        g = self.exported_generator
        columns = [batch["mask"], from_model_range(batch["image"])]
        for s in range(3 if g.style_dim else 1):
            with seeded(s, self.device):
                columns.append(from_model_range(g(mask_condition(batch["mask"])).float()))
        return columns
