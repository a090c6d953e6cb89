"""pix2pix "Mask2Lesion": binary lesion mask -> dermoscopic image.

Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017
(U-Net generator Sec. 3.1.1 / App. 6.1.1, 70x70 PatchGAN Sec. 3.2.2 / App. 6.1.2, cGAN + L1
objective Eq. 4, optimisation Sec. 3.3); applied to skin lesions by Abhishek & Hamarneh,
"Mask2Lesion: Mask-Constrained Adversarial Skin Lesion Image Synthesis", SASHIMI 2019.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_augment.diffaugment import diff_augment
from gan_augment.functional import from_model_range
from gan_augment.losses import adversarial_loss
from gan_augment.models._blocks import PatchDiscriminator, init_gan_weights, norm_layer, set_requires_grad
from gan_augment.registry import ModelSpec, register
from gan_augment.training import Recipe


class UNetGenerator(nn.Module):
    """U-Net with skip connections between mirrored layers (Isola et al. 2017, App. 6.1.1).

    Encoder: ``num_downs`` 4x4 stride-2 convolutions (C64-C128-C256-C512-...), BatchNorm on
    all but the first and innermost, LeakyReLU 0.2. Decoder: 4x4 stride-2 transposed
    convolutions with ReLU, BatchNorm and, in the three innermost, dropout 0.5 (the only
    noise source); tanh output. ``num_downs=7`` maps 128x128 down to 1x1.

    ``norm="instance"`` gives the normalisation the paper trains with at batch size 1
    (Sec. 3.3) at any batch size. ``upsample="resize"`` replaces each transposed
    convolution by nearest 2x upsampling + 3x3 convolution, which avoids checkerboard
    artefacts (Odena et al., Distill 2016); the default is the paper's ``"transpose"``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 3,
        ngf: int = 64,
        num_downs: int = 7,
        norm: str = "batch",
        dropout: float = 0.5,
        upsample: str = "transpose",
    ) -> None:
        super().__init__()
        if num_downs < 2:
            raise ValueError(f"num_downs must be >= 2, got {num_downs}")
        if upsample not in ("transpose", "resize"):
            raise ValueError(f"upsample must be 'transpose' or 'resize', got {upsample!r}")

        def up(cin: int, cout: int, with_bias: bool) -> list[nn.Module]:
            if upsample == "transpose":
                return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=with_bias)]
            return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=with_bias)]

        make_norm = norm_layer(norm)
        bias = norm != "batch"
        widths = [ngf * min(2**i, 8) for i in range(num_downs)]
        self.down = nn.ModuleList()
        for i, width in enumerate(widths):
            outermost, innermost = i == 0, i == num_downs - 1
            layers: list[nn.Module] = [] if outermost else [nn.LeakyReLU(0.2, True)]
            layers.append(nn.Conv2d(in_channels if outermost else widths[i - 1], width, 4, 2, 1, bias=bias or outermost or innermost))
            if not (outermost or innermost):
                layers.append(make_norm(width))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for i in reversed(range(num_downs)):
            innermost, outermost = i == num_downs - 1, i == 0
            in_width = widths[i] if innermost else 2 * widths[i]
            layers = [nn.ReLU(True)]
            if outermost:
                layers += [*up(in_width, out_channels, True), nn.Tanh()]
            else:
                layers += [*up(in_width, widths[i - 1], bias), make_norm(widths[i - 1])]
                if dropout > 0 and i >= num_downs - 3:
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        self.num_downs = num_downs
        init_gan_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        size = 2**self.num_downs
        if x.shape[-1] % size or x.shape[-2] % size:
            raise ValueError(f"input height and width must be multiples of {size}, got {tuple(x.shape[-2:])}")
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        x = self.up[0](skips.pop())
        for layer in self.up[1:]:
            x = layer(torch.cat([x, skips.pop()], dim=1))
        return x


@dataclass
class Pix2PixHParams:
    """Paper defaults: lambda_L1 = 100, Adam lr 2e-4, beta1 0.5, linear decay over the
    second half, 70x70 PatchGAN (3 layers), vanilla cGAN loss, D loss halved."""

    ndf: int = 64
    d_layers: int = 3
    d_norm: str = "batch"
    gan_mode: str = "vanilla"
    lambda_l1: float = 100.0
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lr_decay_start: float = 0.5
    diffaugment: str = ""


class Pix2PixRecipe(Recipe):
    """Conditional GAN on (mask, image) pairs: D sees the mask concatenated with the image."""

    architecture = "pix2pix"

    def __init__(self, generator: UNetGenerator, generator_config: dict[str, Any], hparams: Pix2PixHParams, image_size: int):
        super().__init__(generator, generator_config, hparams, image_size)
        in_ch = generator_config.get("in_channels", 1) + generator_config.get("out_channels", 3)
        self.discriminator = PatchDiscriminator(in_ch, hparams.ndf, hparams.d_layers, hparams.d_norm)
        init_gan_weights(self.discriminator)
        betas = (hparams.beta1, hparams.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=hparams.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=hparams.lr, betas=betas)

    def networks(self) -> dict[str, nn.Module]:
        return {"G": self.generator, "D": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def _d(self, condition: Tensor, image: Tensor) -> Tensor:
        pair = torch.cat([condition, image], dim=1)
        if self.hparams.diffaugment:  # same geometry for mask and image; colour on the image only
            pair = diff_augment(pair, self.hparams.diffaugment, color_channels=slice(condition.shape[1], None))
        return self.discriminator(pair)

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        hp = self.hparams
        condition, real = mask_condition(batch["mask"]), batch["image"]
        with self.autocast():
            fake = self.generator(condition)

        set_requires_grad(self.discriminator, True)
        self.opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            loss_d_fake = adversarial_loss(self._d(condition, fake.detach()), False, hp.gan_mode, for_discriminator=True)
            loss_d_real = adversarial_loss(self._d(condition, real), True, hp.gan_mode, for_discriminator=True)
            loss_d = 0.5 * (loss_d_fake + loss_d_real)
        loss_d.backward()
        self.opt_d.step()

        set_requires_grad(self.discriminator, False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            loss_g_gan = adversarial_loss(self._d(condition, fake), True, hp.gan_mode, for_discriminator=False)
        loss_g_l1 = F.l1_loss(fake.float(), real) * hp.lambda_l1
        (loss_g_gan + loss_g_l1).backward()
        self.opt_g.step()
        return {
            "D_real": loss_d_real.detach(),
            "D_fake": loss_d_fake.detach(),
            "G_gan": loss_g_gan.detach(),
            "G_L1": loss_g_l1.detach(),
        }

    def preview(self, batch: dict[str, Tensor]) -> list[Tensor]:
        from gan_augment.functional import seeded

        with seeded(0, self.device):
            fake = self.generator(mask_condition(batch["mask"])).float()
        return [batch["mask"], from_model_range(batch["image"]), from_model_range(fake)]


def unet_depth_for_size(size: int) -> dict[str, int]:
    """A U-Net that maps ``size`` x ``size`` down to 1x1 (num_downs = log2 size)."""
    if size < 4 or size & (size - 1):
        raise ValueError(f"pix2pix needs a power-of-two image size, got {size}")
    return {"num_downs": size.bit_length() - 1}


def mask_condition(masks: Tensor, images: Tensor | None = None) -> Tensor:
    """pix2pix input: the binary mask mapped to {-1, 1}."""
    return masks.float() * 2.0 - 1.0


SPEC = register(
    ModelSpec(
        name="pix2pix",
        task="mask_to_image",
        generator=UNetGenerator,
        recipe=Pix2PixRecipe,
        hparams=Pix2PixHParams,
        paper="Isola et al. 2017 (pix2pix); Abhishek & Hamarneh 2019 (Mask2Lesion)",
        summary="U-Net + 70x70 PatchGAN + L1: binary lesion mask -> lesion image",
        default_image_size=128,
        tiny_generator_config={"ngf": 4, "num_downs": 5},
        tiny_hparams={"ndf": 4},
        tiny_image_size=32,
        condition=mask_condition,
        config_for_size=unet_depth_for_size,
        stochastic_dropout=True,
    )
)
