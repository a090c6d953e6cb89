"""Training step of :mod:`gan_augment.models.residual_unet` (imported only when training starts;
see the model file for the paper and its sections)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gan_augment.functional import from_model_range, seeded
from gan_augment.losses import summed_adversarial_loss
from gan_augment.models._blocks import set_requires_grad
from gan_augment.models.realism_recipe import conditional_discriminator, discriminate
from gan_augment.models.residual_unet import ResidualUNet, ResidualUNetHParams
from gan_augment.recipe import EMARecipe


class ResidualUNetRecipe(EMARecipe):
    """D judges (image, mask) pairs: for ``add`` the real pairs are lesion crops with their
    masks, for ``remove`` skin patches with the same masks. The paper's PatchGAN reads them
    concatenated; the projected discriminator (``discriminator="projected"``) reads the mask
    at each feature scale. With ``ema_half_life_images > 0`` the exported ``G`` is the
    generator's moving average."""

    architecture = "residual_unet"

    def __init__(self, generator: ResidualUNet, generator_config: dict[str, Any], hparams: ResidualUNetHParams, image_size: int):
        super().__init__(generator, generator_config, hparams, image_size)
        hp = hparams
        if hp.direction not in ("add", "remove"):
            raise ValueError(f"direction must be 'add' or 'remove', got {hp.direction!r}")
        self.discriminator, self._trainable_d = conditional_discriminator(hp, generator.out_channels, 1, "instance", image_size, "residual_unet")
        self.init_ema(hp.ema_half_life_images)
        betas, lr = (float(hp.beta1), float(hp.beta2)), float(hp.lr)  # `--set beta1=0` arrives as an int
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam([p for p in self.discriminator.parameters() if p.requires_grad], lr=lr, betas=betas)

    def networks(self) -> dict[str, nn.Module]:
        return {**self.generator_networks(), "D": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def _split(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """(source image, mask, real target-domain image)."""
        skin, lesion, mask = batch["a_image"], batch["b_image"], batch["b_mask"]
        return (skin, mask, lesion) if self.hparams.direction == "add" else (lesion, mask, skin)

    def _adv(self, image: Tensor, mask_pm: Tensor, real: bool, for_d: bool) -> Tensor:
        """Adversarial loss of ``image`` with its mask (in {-1, 1}), summed over D's scales."""
        logits = discriminate(self.discriminator, self.hparams, image, mask_pm, condition_first=False)
        return summed_adversarial_loss(logits, real, self.hparams.gan_mode, for_discriminator=for_d)

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        hp = self.hparams
        source, mask, target = self._split(batch)
        mask_pm = mask * 2 - 1
        with self.autocast():
            fake = self.generator(torch.cat([source, mask_pm], 1))

        set_requires_grad(self._trainable_d, True)
        self.opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            loss_d_fake = self._adv(fake.detach(), mask_pm, False, True)
            loss_d_real = self._adv(target, mask_pm, True, True)
        (0.5 * (loss_d_fake + loss_d_real)).backward()
        self.opt_d.step()

        set_requires_grad(self._trainable_d, False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            loss_g_gan = self._adv(fake, mask_pm, True, False)
        outside = 1.0 - mask
        relevancy = ((fake.float() - source) ** 2 * outside).sum() / (outside.sum() * source.shape[1]).clamp_min(1)
        (loss_g_gan + hp.lambda_relevancy * relevancy).backward()
        self.opt_g.step()
        self.update_ema(source.shape[0])
        return {"D_real": loss_d_real.detach(), "D_fake": loss_d_fake.detach(), "G_gan": loss_g_gan.detach(), "relevancy": relevancy.detach()}

    def preview(self, batch: dict[str, Tensor]) -> list[Tensor]:
        source, mask, target = self._split(batch)
        with seeded(0, self.device):
            fake = self.exported_generator(torch.cat([source, mask * 2 - 1], 1)).float()
        return [mask, from_model_range(source), from_model_range(fake), from_model_range(target)]
