"""Training step of :mod:`gan_augment.models.pix2pixhd` (imported only when training starts;
see the model file for the paper and its sections)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gan_augment.diffaugment import diff_augment
from gan_augment.functional import from_model_range, seeded
from gan_augment.losses import feature_matching_loss, multiscale_adversarial_loss, summed_adversarial_loss
from gan_augment.models._blocks import MultiScaleDiscriminator, init_gan_weights, require_input_size, set_requires_grad
from gan_augment.models.pix2pixhd import GlobalGenerator, Pix2PixHDHParams
from gan_augment.models.pix2pixhd_maps import LABELS, NUM_CONDITION_CHANNELS, condition_maps
from gan_augment.models.realism_recipe import (
    check_discriminator,
    check_mode_seeking,
    discriminate,
    matching_aware,
    mode_seeking_term,
    noise_pairs,
    projected_discriminator,
)
from gan_augment.recipe import EMARecipe
from gan_augment.train_data import GANTrainingView


class Pix2PixHDRecipe(EMARecipe):
    """Multi-scale PatchGANs on (maps, image) pairs with feature matching, or the projected
    discriminator conditioned on the maps (``discriminator="projected"``, no feature
    matching); with ``ema_half_life_images > 0`` the exported ``G`` is the generator's
    moving average."""

    architecture = "pix2pixhd"

    def __init__(self, generator: GlobalGenerator, generator_config: dict[str, Any], hparams: Pix2PixHDHParams, image_size: int):
        super().__init__(generator, generator_config, hparams, image_size)
        if image_size % generator.multiple:
            raise ValueError(f"pix2pixHD with n_downsampling={generator_config.get('n_downsampling')} needs an image size that is a multiple of {generator.multiple}, got {image_size}")
        check_discriminator(hparams.discriminator)
        check_mode_seeking(hparams, generator)
        condition_channels = generator_config.get("in_channels", NUM_CONDITION_CHANNELS)
        self.projected = hparams.discriminator == "projected"
        if self.projected:
            self.discriminator = projected_discriminator(hparams, condition_channels)
            self._trainable_d: nn.Module = self.discriminator.heads
        else:
            require_input_size(
                f"pix2pixHD's discriminator (num_D={hparams.num_D}, d_layers={hparams.d_layers})",
                image_size,
                MultiScaleDiscriminator.min_input_size(hparams.d_layers, hparams.num_D),
                "train at 128 px (the default) or use fewer scales, e.g. --set num_D=2",
            )
            in_ch = condition_channels + generator_config.get("out_channels", 3)
            self.discriminator = MultiScaleDiscriminator(in_ch, hparams.ndf, hparams.d_layers, "instance", hparams.num_D)
            init_gan_weights(self.discriminator)
            self._trainable_d = self.discriminator
        self.init_ema(hparams.ema_half_life_images)
        betas, lr = (float(hparams.beta1), float(hparams.beta2)), float(hparams.lr)  # `--set beta1=0` arrives as an int
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam([p for p in self._trainable_d.parameters() if p.requires_grad], lr=lr, betas=betas)

    def networks(self) -> dict[str, nn.Module]:
        return {**self.generator_networks(), "D": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def _d(self, condition: Tensor, image: Tensor) -> list:
        """Per scale: the PatchGAN's features then logits, or the projected head's logits."""
        if self.projected:  # the maps are in {0, 1}; discriminate takes conditions in [-1, 1]
            return discriminate(self.discriminator, self.hparams, image, condition * 2 - 1, condition_first=True)
        pair = torch.cat([condition, image], 1)
        if self.hparams.diffaugment:  # same geometry for maps and image; colour on the image only
            pair = diff_augment(pair, self.hparams.diffaugment, color_channels=slice(condition.shape[1], None))
        return self.discriminator(pair, features=True)

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        hp = self.hparams
        real_condition, real = batch["condition"], batch["image"]
        condition, paired_real, z, half = noise_pairs(self.generator, real_condition, real)
        with self.autocast():
            fake = self.generator(condition, z) if z is not None else self.generator(condition)

        set_requires_grad(self._trainable_d, True)
        self.opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            pred_fake = self._d(condition, fake.detach())
            pred_real = self._d(real_condition, real)
            loss_d_fake = self._adv(pred_fake, False, True)
            loss_d_real = self._adv(pred_real, True, True)
            fake_term, loss_mismatch = matching_aware(hp, loss_d_fake, lambda c: self._adv(self._d(c, real), False, True), real_condition)
        (0.5 * (fake_term + loss_d_real)).backward()
        self.opt_d.step()

        set_requires_grad(self._trainable_d, False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            pred = self._d(condition, fake)
            loss_g_gan = self._adv(pred, True, False)
            losses = {"D_real": loss_d_real.detach(), "D_fake": loss_d_fake.detach(), "G_gan": loss_g_gan.detach()}
            if loss_mismatch is not None:
                losses["D_mismatch"] = loss_mismatch.detach()
            total = loss_g_gan
            if not self.projected and hp.lambda_feat > 0:
                if z is not None:  # the fakes' conditions are pairs: match the features of their own real images
                    with torch.no_grad():
                        pred_real = self._d(condition, paired_real)
                loss_g_feat = feature_matching_loss(pred, pred_real) * hp.lambda_feat
                total = total + loss_g_feat
                losses["G_feat"] = loss_g_feat.detach()
        loss_ms = mode_seeking_term(hp, fake.float(), z, half)
        if loss_ms is not None:
            total = total + loss_ms
            losses["G_ms"] = loss_ms.detach()
        total.backward()
        self.opt_g.step()
        self.update_ema(real.shape[0])
        return losses

    def _adv(self, predictions: list, real: bool, for_d: bool) -> Tensor:
        """The paper's mean over PatchGAN scales; the projected heads' losses summed (as in
        the other recipes with that discriminator)."""
        loss = summed_adversarial_loss if self.projected else multiscale_adversarial_loss
        return loss(predictions, real, self.hparams.gan_mode, for_discriminator=for_d)

    def preview(self, batch: dict[str, Tensor]) -> list[Tensor]:
        g = self.exported_generator
        lesion = batch["condition"][:, LABELS.index("lesion") : LABELS.index("lesion") + 1]
        columns = [lesion, batch["condition"][:, -1:], from_model_range(batch["image"])]
        for s in range(3 if g.style_dim else 1):  # with a noise input: three draws per pair of maps
            with seeded(s, self.device):
                columns.append(from_model_range(g(batch["condition"]).float()))
        return columns


def training_data(dataset: Any, image_size: int, seed: int) -> GANTrainingView:
    return GANTrainingView(dataset, image_size, seed=seed, condition_maps=condition_maps)
