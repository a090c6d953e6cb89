"""Training step of :mod:`gan_augment.models.cyclegan` (imported only when training starts;
see the model file for the paper and its sections)."""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import Tensor, nn

from gan_augment.ema import EMA
from gan_augment.functional import from_model_range, seeded
from gan_augment.losses import GAN_MODES, summed_adversarial_loss
from gan_augment.models._blocks import PatchDiscriminator, init_gan_weights, require_input_size, set_requires_grad
from gan_augment.models.cyclegan import CycleGANGenerator, CycleGANHParams
from gan_augment.models.realism_recipe import check_discriminator, conditional_discriminator, discriminate
from gan_augment.recipe import EMARecipe


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


class CycleGANRecipe(EMARecipe):
    """Two generators (``G``: A -> B, ``G_BA``: B -> A), two unconditional discriminators
    (``D_A`` judges domain A, ``D_B`` domain B): the paper's PatchGANs, or projected
    discriminators (``discriminator="projected"``, of which only the per-scale heads train).
    With ``ema_half_life_images > 0`` both generators keep a moving average, saved as ``G`` /
    ``G_BA`` (what ``gan-augment export [--network G_BA]`` takes) next to the trained
    ``G_train`` / ``G_BA_train``."""

    architecture = "cyclegan"

    def __init__(self, generator: CycleGANGenerator, generator_config: dict[str, Any], hparams: CycleGANHParams, image_size: int):
        super().__init__(generator, generator_config, hparams, image_size)
        hp = hparams
        if hp.gan_mode not in GAN_MODES:
            raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {hp.gan_mode!r}")
        check_discriminator(hp.discriminator)
        self.g_ba = CycleGANGenerator(**generator_config)
        if hp.discriminator == "projected":
            self.d_a, trainable_a = conditional_discriminator(hp, 3, 0, "instance", image_size, "cyclegan")
            self.d_b, trainable_b = conditional_discriminator(hp, 3, 0, "instance", image_size, "cyclegan")
        else:  # built, then initialised, in this order: the paper's runs start from the same weights as before
            require_input_size(
                f"CycleGAN's discriminators (d_layers={hp.d_layers})", image_size,
                PatchDiscriminator.min_input_size(hp.d_layers), "use a larger --size or fewer layers (--set d_layers=2)",
            )
            self.d_a = trainable_a = PatchDiscriminator(3, hp.ndf, hp.d_layers, "instance")
            self.d_b = trainable_b = PatchDiscriminator(3, hp.ndf, hp.d_layers, "instance")
            init_gan_weights(self.d_a)
            init_gan_weights(self.d_b)
        self._trainable_d = (trainable_a, trainable_b)
        self.init_ema(hp.ema_half_life_images)
        self.ema_ba = EMA(self.g_ba, hp.ema_half_life_images) if self.ema is not None else None
        betas, lr = (float(hp.beta1), float(hp.beta2)), float(hp.lr)  # `--set beta1=0` arrives as an int
        self.opt_g = torch.optim.Adam(itertools.chain(generator.parameters(), self.g_ba.parameters()), lr=lr, betas=betas)
        d_params = [p for p in itertools.chain(self.d_a.parameters(), self.d_b.parameters()) if p.requires_grad]
        self.opt_d = torch.optim.Adam(d_params, lr=lr, betas=betas)
        self.pool_a, self.pool_b = ImagePool(hp.pool_size), ImagePool(hp.pool_size)

    def networks(self) -> dict[str, nn.Module]:
        g_ba = {"G_BA": self.g_ba} if self.ema_ba is None else {"G_BA": self.ema_ba.module, "G_BA_train": self.g_ba}
        return {**self.generator_networks(), **g_ba, "D_A": self.d_a, "D_B": self.d_b}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def update_ema(self, local_batch: int) -> None:
        """Both averages after the generators' optimiser step (one count of images seen)."""
        super().update_ema(local_batch)
        if self.ema_ba is not None:
            self.ema_ba.update(self.g_ba, self.global_batch(local_batch), self.images_seen)

    @property
    def exported_g_ba(self) -> nn.Module:
        return self.ema_ba.module if self.ema_ba is not None else self.g_ba

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

    def _adv(self, discriminator: nn.Module, image: Tensor, real: bool, for_d: bool) -> Tensor:
        """Adversarial loss of ``image`` for one domain's discriminator, summed over its scales."""
        logits = discriminate(discriminator, self.hparams, image, None)
        return summed_adversarial_loss(logits, real, self.hparams.gan_mode, for_discriminator=for_d)

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        hp = self.hparams
        real_a, real_b = batch["a_image"], batch["b_image"]
        adv = self._adv
        for trainable in self._trainable_d:
            set_requires_grad(trainable, False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            fake_b = self.generator(real_a)
            fake_a = self.g_ba(real_b)
            loss_gan = adv(self.d_b, fake_b, True, False) + adv(self.d_a, fake_a, True, False)
            rec_a, rec_b = self.g_ba(fake_b), self.generator(fake_a)
            loss_cycle = (rec_a.float() - real_a).abs().mean() + (rec_b.float() - real_b).abs().mean()
            loss_idt = torch.zeros((), device=real_a.device)
            if hp.lambda_identity > 0:
                loss_idt = (self.generator(real_b).float() - real_b).abs().mean() + (self.g_ba(real_a).float() - real_a).abs().mean()
        loss_g = loss_gan + hp.lambda_cycle * loss_cycle + hp.lambda_cycle * hp.lambda_identity * loss_idt
        loss_g.backward()
        self.opt_g.step()
        self.update_ema(real_a.shape[0])

        for trainable in self._trainable_d:
            set_requires_grad(trainable, True)
        self.opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            pooled_b, pooled_a = self.pool_b.query(fake_b), self.pool_a.query(fake_a)
            loss_d_b = 0.5 * (adv(self.d_b, real_b, True, True) + adv(self.d_b, pooled_b, False, True))
            loss_d_a = 0.5 * (adv(self.d_a, real_a, True, True) + adv(self.d_a, pooled_a, False, True))
        (loss_d_a + loss_d_b).backward()
        self.opt_d.step()
        return {"G_gan": loss_gan.detach(), "cycle": loss_cycle.detach(), "identity": loss_idt.detach(), "D_A": loss_d_a.detach(), "D_B": loss_d_b.detach()}

    def preview(self, batch: dict[str, Tensor]) -> list[Tensor]:
        with seeded(0, self.device):
            fake_b = self.exported_generator(batch["a_image"]).float()
            fake_a = self.exported_g_ba(batch["b_image"]).float()
        return [from_model_range(batch["a_image"]), from_model_range(fake_b), from_model_range(batch["b_image"]), from_model_range(fake_a)]
