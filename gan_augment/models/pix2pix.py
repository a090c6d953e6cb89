"""pix2pix "Mask2Lesion": binary lesion mask -> dermoscopic image.

Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017
(U-Net generator Sec. 3.1.1 / App. 6.1.1, 70x70 PatchGAN Sec. 3.2.2 / App. 6.1.2, cGAN + L1
objective Eq. 4, optimisation Sec. 3.3); applied to skin lesions by Abhishek & Hamarneh,
"Mask2Lesion: Mask-Constrained Adversarial Skin Lesion Image Synthesis", SASHIMI 2019.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gan_augment.models._blocks import (
    MatchingAwareOptions,
    check_upsample,
    draw_style,
    init_gan_weights,
    modulate,
    norm_layer,
    reset_style_layers,
    style_mapping,
    upsample_x2,
)
from gan_augment.registry import ModelSpec, register


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

    ``style_dim > 0`` adds a noise input the generator cannot drop as it drops dropout
    (Isola et al. Sec. 3.1 note that pix2pix ignores its noise): ``z`` (drawn inside
    ``forward`` when not given, so ``seeded`` reproduces it) goes through a 2-layer mapping
    to a style ``w`` that is concatenated at the bottleneck and scales and shifts every
    decoder normalisation (adaptive instance normalisation with ``norm="instance"``; Huang &
    Belongie 2017, StyleGAN). Use ``dropout=0`` with it.
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
        style_dim: int = 0,
        w_dim: int = 128,
    ) -> None:
        super().__init__()
        if num_downs < 2:
            raise ValueError(f"num_downs must be >= 2, got {num_downs}")
        check_upsample(upsample)

        def up(cin: int, cout: int, with_bias: bool) -> list[nn.Module]:
            return upsample_x2(cin, cout, upsample, kernel_size=4, bias=with_bias)

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
        self.style_dim = style_dim
        if style_dim:
            self.mapping = style_mapping(style_dim, w_dim)
            self.modulation = nn.ModuleList(nn.Linear(w_dim, 2 * widths[i - 1]) for i in reversed(range(1, num_downs)))
        self.up = nn.ModuleList()
        for i in reversed(range(num_downs)):
            innermost, outermost = i == num_downs - 1, i == 0
            in_width = (widths[i] + (w_dim if style_dim else 0)) if innermost else 2 * widths[i]
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
        if style_dim and not any(p.is_meta for p in self.parameters()):
            reset_style_layers(self.mapping, self.modulation)

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        size = 2**self.num_downs
        if x.shape[-1] % size or x.shape[-2] % size:
            raise ValueError(f"input height and width must be multiples of {size}, got {tuple(x.shape[-2:])}")
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        if not self.style_dim:
            x = self.up[0](skips.pop())
            for layer in self.up[1:]:
                x = layer(torch.cat([x, skips.pop()], dim=1))
            return x
        w = self.mapping(draw_style(z, x.shape[0], self.style_dim, x.device))
        inner = skips.pop()
        x = self.up[0](torch.cat([inner, w[:, :, None, None].expand(-1, -1, *inner.shape[-2:])], dim=1))
        for modulation, layer in zip(self.modulation, self.up[1:]):
            x = layer(torch.cat([modulate(x, modulation, w), skips.pop()], dim=1))
        return x


@dataclass
class Pix2PixHParams(MatchingAwareOptions):
    """Paper defaults: lambda_L1 = 100, Adam lr 2e-4, beta1 0.5, linear decay over the
    second half, 70x70 PatchGAN (3 layers), vanilla cGAN loss, D loss halved.

    ``discriminator="projected"`` trains against the projected discriminator instead (Sauer
    et al. 2021; frozen EfficientNet-``backbone`` features, random projections, mask-
    conditioned per-scale heads; use ``gan_mode=hinge``, ``beta1=0``, ``beta2=0.99``);
    ``ema_half_life_images > 0`` keeps an EMA generator (exported as ``G``);
    ``lambda_ms > 0`` adds the capped mode-seeking term (generators with ``style_dim``)."""

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
    lambda_ms: float = 0.0
    ms_tau: float = 0.25


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
        recipe="gan_augment.models.pix2pix_recipe:Pix2PixRecipe",
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
