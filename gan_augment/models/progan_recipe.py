"""Training step of :mod:`gan_augment.models.progan` (imported only when training starts;
see the model file for the paper and its sections)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_augment.diffaugment import diff_augment
from gan_augment.models._blocks import set_requires_grad
from gan_augment.models.progan import ProGANDiscriminator, ProGANGenerator, ProGANHParams
from gan_augment.recipe import EMARecipe, NoiseRecipe


def growth(images_seen: int, phase_images: int, max_stage: int) -> tuple[int, float]:
    """(stage, alpha) after ``images_seen`` images: stage 0 stabilises, then each further
    stage has a fade-in phase (alpha 0 -> 1) and a stabilisation phase (alpha = 1)."""
    phase = images_seen // phase_images
    stage = min((phase + 1) // 2, max_stage)
    if stage < max_stage or phase < 2 * max_stage:
        fading = phase % 2 == 1
        alpha = (images_seen % phase_images) / phase_images if fading else 1.0
        return stage, alpha
    return max_stage, 1.0


class ProGANRecipe(EMARecipe, NoiseRecipe):
    architecture = "progan"

    def __init__(self, generator: ProGANGenerator, generator_config: dict[str, Any], hparams: ProGANHParams, image_size: int):
        super().__init__(generator, generator_config, hparams, image_size)
        cfg = {k: generator_config[k] for k in ("image_size", "fmap_base", "fmap_max", "num_classes", "channels") if k in generator_config}
        if hparams.loss not in ("wgan-gp", "logistic-r1"):
            raise ValueError(f"progan loss must be 'wgan-gp' or 'logistic-r1', got {hparams.loss!r}")
        if int(hparams.r1_every) < 1:
            raise ValueError(f"r1_every must be >= 1, got {hparams.r1_every}")
        for key in ("lr_d", "d_fmap_base", "d_fmap_max"):
            if getattr(hparams, key) < 0:
                raise ValueError(f"{key} must be >= 0 (0: the generator's value), got {getattr(hparams, key)}")
        if hparams.d_fmap_base:
            cfg["fmap_base"] = int(hparams.d_fmap_base)
        if hparams.d_fmap_max:
            cfg["fmap_max"] = int(hparams.d_fmap_max)
        self.discriminator = ProGANDiscriminator(**cfg)
        betas = (float(hparams.beta1), float(hparams.beta2))
        lr_d = float(hparams.lr_d or hparams.lr)
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=float(hparams.lr), betas=betas, eps=1e-8)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr_d, betas=betas, eps=1e-8)
        self._step = 0
        # Karras et al. 2018 sample from a moving average of G (their Sec. 4.1); 0 turns it off
        self.init_ema(hparams.ema_half_life_images)

    def networks(self) -> dict[str, nn.Module]:
        return {**self.generator_networks(), "D": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def set_progress(self, step: int, total_steps: int) -> None:
        self._step = step

    def _grow(self, batch_size: int) -> tuple[int, float]:
        stage, alpha = growth(self._step * batch_size, self.hparams.phase_images, self.generator.max_stage)
        self.generator.stage.fill_(stage)
        self.generator.alpha.fill_(alpha)
        return stage, alpha

    @staticmethod
    def _real_at(images: Tensor, stage: int, alpha: float) -> Tensor:
        """Real images at the current resolution, faded like the generator's output."""
        size = 4 * 2**stage
        x = F.adaptive_avg_pool2d(images, size) if images.shape[-1] != size else images
        if stage > 0 and alpha < 1.0:
            low = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
            x = alpha * x + (1 - alpha) * low
        return x

    def _gradient_penalty(self, real: Tensor, fake: Tensor, labels: Tensor | None, stage: int, alpha: float) -> Tensor:
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
        mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
        scores = self.discriminator(mixed, labels, stage, alpha)
        (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
        return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()

    def _r1_penalty(self, real: Tensor, labels: Tensor | None, stage: int, alpha: float) -> Tensor:
        """Squared gradient norm of D at real images (Mescheder et al. 2018, R1)."""
        real = real.detach().requires_grad_(True)
        scores = self.discriminator(real, labels, stage, alpha)
        (grad,) = torch.autograd.grad(scores.sum(), real, create_graph=True)
        return grad.flatten(1).pow(2).sum(dim=1).mean()

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        hp = self.hparams
        n = batch["image"].shape[0]
        stage, alpha = self._grow(self.global_batch(n))
        real = self._real_at(batch["image"], stage, alpha)
        labels = batch["label"] if self.generator.num_classes else None
        z = torch.randn(n, self.generator.latent_dim, device=real.device)
        logistic = hp.loss == "logistic-r1"

        aug = (lambda x: diff_augment(x, hp.diffaugment)) if hp.diffaugment else (lambda x: x)
        set_requires_grad(self.discriminator, True)
        self.opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            fake = self.generator(z, labels)
            real_in, fake_in = aug(real), aug(fake.detach())
            d_real = self.discriminator(real_in, labels, stage, alpha).float()
            d_fake = self.discriminator(fake_in, labels, stage, alpha).float()
        if logistic:
            loss_d = F.softplus(d_fake).mean() + F.softplus(-d_real).mean()
            penalty = None
            if self._step % int(hp.r1_every) == 0:  # lazy regularisation, weighted to keep its average strength
                penalty = self._r1_penalty(real_in.float(), labels, stage, alpha)
                loss_d = loss_d + 0.5 * hp.r1_gamma * int(hp.r1_every) * penalty
        else:
            penalty = self._gradient_penalty(real_in.float(), fake_in.float(), labels, stage, alpha)  # in fp32
            loss_d = d_fake.mean() - d_real.mean() + hp.gp_weight * penalty + hp.drift * d_real.pow(2).mean()
        loss_d.backward()
        self.opt_d.step()

        set_requires_grad(self.discriminator, False)  # no gradients for D's weights in G's step
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            d_out = self.discriminator(aug(fake), labels, stage, alpha).float()
            loss_g = F.softplus(-d_out).mean() if logistic else -d_out.mean()
        loss_g.backward()
        self.opt_g.step()
        set_requires_grad(self.discriminator, True)
        self.update_ema(n)
        losses = {"D": loss_d.detach(), "G": loss_g.detach(), "stage": torch.tensor(float(stage)), "alpha": torch.tensor(alpha)}
        if penalty is not None:  # lazy R1: logged on the steps that compute it
            losses["R1" if logistic else "GP"] = penalty.detach()
        return losses
