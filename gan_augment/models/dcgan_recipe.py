"""Training step of :mod:`gan_augment.models.dcgan` (imported only when training starts;
see the model file for the paper and its sections)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_augment.diffaugment import diff_augment
from gan_augment.losses import multiscale_adversarial_loss
from gan_augment.models._blocks import set_requires_grad
from gan_augment.models.dcgan import DCGANDiscriminator, DCGANGenerator, DCGANHParams
from gan_augment.recipe import NoiseRecipe


class DCGANRecipe(NoiseRecipe):
    """Alternating D / G steps on the non-saturating GAN loss; ``d_scales=2`` adds a second
    discriminator on the 2x-downsampled image and averages the two losses."""

    architecture = "dcgan"

    def __init__(self, generator: DCGANGenerator, generator_config: dict[str, Any], hparams: DCGANHParams, image_size: int):
        super().__init__(generator, generator_config, hparams, image_size)
        if hparams.d_scales not in (1, 2):
            raise ValueError(f"d_scales must be 1 or 2, got {hparams.d_scales}")
        nc, ch = generator.num_classes, generator_config.get("channels", 3)
        self.discriminators = nn.ModuleList(
            DCGANDiscriminator(hparams.ndf, image_size // 2**s, ch, nc) for s in range(hparams.d_scales)
        )
        betas = (hparams.beta1, hparams.beta2)
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=hparams.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminators.parameters(), lr=hparams.lr, betas=betas)

    def networks(self) -> dict[str, nn.Module]:
        return {"G": self.generator, "D": self.discriminators}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def _d(self, images: Tensor, labels: Tensor | None) -> list[Tensor]:
        if self.hparams.diffaugment:
            images = diff_augment(images, self.hparams.diffaugment)
        outputs = []
        for s, d in enumerate(self.discriminators):
            outputs.append(d(images if s == 0 else F.avg_pool2d(images, 2**s), labels))
        return outputs

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        hp, real = self.hparams, batch["image"]
        labels = batch["label"] if self.generator.num_classes else None
        z = torch.randn(real.shape[0], self.generator.latent_dim, device=real.device)
        with self.autocast():
            fake = self.generator(z, labels)
        set_requires_grad(self.discriminators, True)
        self.opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            loss_real = multiscale_adversarial_loss(self._d(real, labels), True, hp.gan_mode, for_discriminator=True)
            loss_fake = multiscale_adversarial_loss(self._d(fake.detach(), labels), False, hp.gan_mode, for_discriminator=True)
        (loss_real + loss_fake).backward()
        self.opt_d.step()
        set_requires_grad(self.discriminators, False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            loss_g = multiscale_adversarial_loss(self._d(fake, labels), True, hp.gan_mode, for_discriminator=False)
        loss_g.backward()
        self.opt_g.step()
        return {"D_real": loss_real.detach(), "D_fake": loss_fake.detach(), "G": loss_g.detach()}
