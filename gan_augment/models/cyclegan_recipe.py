"""Training step of :mod:`gan_augment.models.cyclegan` (imported only when training starts;
see the model file for the paper and its sections)."""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import Tensor, nn

from gan_augment.diffaugment import diff_augment
from gan_augment.functional import from_model_range, seeded
from gan_augment.losses import adversarial_loss
from gan_augment.models._blocks import PatchDiscriminator, init_gan_weights, require_input_size, set_requires_grad
from gan_augment.models.cyclegan import CycleGANGenerator, CycleGANHParams
from gan_augment.recipe import Recipe


class ImagePool:
    """The last ``size`` generated images; with probability 1/2 D sees an older one
    (Shrivastava et al. 2017). Its contents are part of the checkpoint, so resume is exact."""

    def __init__(self, size: int = 50) -> None:
        self.size, self.images = size, []

    def query(self, images: Tensor) -> Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(()) < 0.5:
                i = int(torch.randint(self.size, ()))
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict[str, Any]:
        return {"images": [t.cpu() for t in self.images]}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.images = [t.to(device) for t in state["images"]]


class CycleGANRecipe(Recipe):
    architecture = "cyclegan"

    def __init__(self, generator: CycleGANGenerator, generator_config: dict[str, Any], hparams: CycleGANHParams, image_size: int):
        super().__init__(generator, generator_config, hparams, image_size)
        self.g_ba = CycleGANGenerator(**generator_config)
        require_input_size(
            f"CycleGAN's discriminators (d_layers={hparams.d_layers})", image_size,
            PatchDiscriminator.min_input_size(hparams.d_layers), "use a larger --size or fewer layers (--set d_layers=2)",
        )
        self.d_a = PatchDiscriminator(3, hparams.ndf, hparams.d_layers, "instance")
        self.d_b = PatchDiscriminator(3, hparams.ndf, hparams.d_layers, "instance")
        init_gan_weights(self.d_a)
        init_gan_weights(self.d_b)
        betas = (hparams.beta1, hparams.beta2)
        self.opt_g = torch.optim.Adam(itertools.chain(generator.parameters(), self.g_ba.parameters()), lr=hparams.lr, betas=betas)
        self.opt_d = torch.optim.Adam(itertools.chain(self.d_a.parameters(), self.d_b.parameters()), lr=hparams.lr, betas=betas)
        self.pool_a, self.pool_b = ImagePool(hparams.pool_size), ImagePool(hparams.pool_size)

    def networks(self) -> dict[str, nn.Module]:
        return {"G": self.generator, "G_BA": self.g_ba, "D_A": self.d_a, "D_B": self.d_b}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), **self.local_state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.load_local_state_dict(state)

    def local_state_dict(self) -> dict[str, Any]:
        """Each process keeps its own pools (of its own fakes)."""
        return {"pools": {"A": self.pool_a.state_dict(), "B": self.pool_b.state_dict()}}

    def load_local_state_dict(self, state: dict[str, Any]) -> None:
        self.pool_a.load_state_dict(state["pools"]["A"], self.device)
        self.pool_b.load_state_dict(state["pools"]["B"], self.device)

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        hp = self.hparams
        real_a, real_b = batch["a_image"], batch["b_image"]
        adv = adversarial_loss
        aug = (lambda x: diff_augment(x, hp.diffaugment)) if hp.diffaugment else (lambda x: x)
        set_requires_grad(self.d_a, False)
        set_requires_grad(self.d_b, False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            fake_b = self.generator(real_a)
            fake_a = self.g_ba(real_b)
            loss_gan = adv(self.d_b(aug(fake_b)), True, hp.gan_mode, for_discriminator=False) + adv(self.d_a(aug(fake_a)), True, hp.gan_mode, for_discriminator=False)
            rec_a, rec_b = self.g_ba(fake_b), self.generator(fake_a)
            loss_cycle = (rec_a.float() - real_a).abs().mean() + (rec_b.float() - real_b).abs().mean()
            loss_idt = torch.zeros((), device=real_a.device)
            if hp.lambda_identity > 0:
                loss_idt = (self.generator(real_b).float() - real_b).abs().mean() + (self.g_ba(real_a).float() - real_a).abs().mean()
        loss_g = loss_gan + hp.lambda_cycle * loss_cycle + hp.lambda_cycle * hp.lambda_identity * loss_idt
        loss_g.backward()
        self.opt_g.step()

        set_requires_grad(self.d_a, True)
        set_requires_grad(self.d_b, True)
        self.opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            pooled_b, pooled_a = self.pool_b.query(fake_b), self.pool_a.query(fake_a)
            loss_d_b = 0.5 * (adv(self.d_b(aug(real_b)), True, hp.gan_mode, for_discriminator=True) + adv(self.d_b(aug(pooled_b)), False, hp.gan_mode, for_discriminator=True))
            loss_d_a = 0.5 * (adv(self.d_a(aug(real_a)), True, hp.gan_mode, for_discriminator=True) + adv(self.d_a(aug(pooled_a)), False, hp.gan_mode, for_discriminator=True))
        (loss_d_a + loss_d_b).backward()
        self.opt_d.step()
        return {"G_gan": loss_gan.detach(), "cycle": loss_cycle.detach(), "identity": loss_idt.detach(), "D_A": loss_d_a.detach(), "D_B": loss_d_b.detach()}

    def preview(self, batch: dict[str, Tensor]) -> list[Tensor]:
        with seeded(0, self.device):
            fake_b = self.generator(batch["a_image"]).float()
            fake_a = self.g_ba(batch["b_image"]).float()
        return [from_model_range(batch["a_image"]), from_model_range(fake_b), from_model_range(batch["b_image"]), from_model_range(fake_a)]
