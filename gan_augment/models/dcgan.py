"""DCGAN: latent noise (optionally + class) -> dermoscopic image.

Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional
GANs", ICLR 2016 (architecture guidelines Sec. 3, training details Sec. 4: Adam 2e-4,
beta1 0.5, N(0, 0.02) init, batch norm, ReLU in G / LeakyReLU 0.2 in D). Skin-lesion
variants: the 64x64 network of the student report; Beynek et al.'s 128x128 generator
(train with ``--size 128 --set lr=0.00015``); Furger et al. 2020's dense input layer
(``input_layer="dense"``), 2-scale discriminator (``d_scales=2``, losses averaged) and
truncation trick at sampling (``Synthesizer.sample(..., truncation=t)``, off by default).
Class conditioning (``num_classes``): one model for all classes, the one-hot label
concatenated to z in G and as constant feature maps to the image in D (conditional GAN,
Mirza & Osindero 2014) — instead of one model per class (``gan-augment train --classes``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_augment.models._blocks import init_gan_weights, label_maps
from gan_augment.registry import ModelSpec, register


def _levels(image_size: int) -> int:
    """Number of 2x up/down-sampling steps between 4x4 and ``image_size``."""
    if image_size < 8 or image_size & (image_size - 1):
        raise ValueError(f"DCGAN needs a power-of-two image size >= 8, got {image_size}")
    return image_size.bit_length() - 3


def image_size_config(size: int) -> dict[str, int]:
    _levels(size)
    return {"image_size": size}


class DCGANGenerator(nn.Module):
    """z (+ one-hot class) -> 4x4 -> ... -> ``image_size``: transposed 4x4 stride-2
    convolutions halving the width each step, BatchNorm + ReLU, tanh output.

    ``upsample="resize"`` replaces each transposed convolution by nearest 2x upsampling +
    3x3 convolution: no checkerboard (Odena et al., Distill 2016; measured on the bundled
    transposed-convolution checkpoint with :func:`gan_augment.metrics.upsampling_peaks`:
    peak 2.36 vs 0.75 for real HAM10000 images)."""

    def __init__(
        self,
        latent_dim: int = 100,
        ngf: int = 64,
        image_size: int = 64,
        channels: int = 3,
        num_classes: int = 0,
        input_layer: str = "conv",
        upsample: str = "transpose",
    ) -> None:
        super().__init__()
        if upsample not in ("transpose", "resize"):
            raise ValueError(f"upsample must be 'transpose' or 'resize', got {upsample!r}")
        levels = _levels(image_size)
        widths = [ngf * 2 ** (levels - 1 - i) for i in range(levels)]
        in_dim = latent_dim + num_classes
        if input_layer == "conv":  # project z with a 4x4 transposed convolution from 1x1
            self.project = nn.Sequential(nn.Unflatten(1, (in_dim, 1, 1)), nn.ConvTranspose2d(in_dim, widths[0], 4, 1, 0, bias=False))
        elif input_layer == "dense":  # Furger et al.: a dense layer reshaped to 4x4
            self.project = nn.Sequential(nn.Linear(in_dim, widths[0] * 16, bias=False), nn.Unflatten(1, (widths[0], 4, 4)))
        else:
            raise ValueError(f"input_layer must be 'conv' or 'dense', got {input_layer!r}")
        layers: list[nn.Module] = [nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        def up(cin: int, cout: int, bias: bool) -> list[nn.Module]:
            if upsample == "transpose":
                return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=bias)]
            return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=bias)]

        for cin, cout in itertools.pairwise(widths):
            layers += [*up(cin, cout, False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [*up(widths[-1], channels, True), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        self.latent_dim, self.num_classes = latent_dim, num_classes
        init_gan_weights(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.num_classes:
            if labels is None:
                raise ValueError("this generator is class-conditional: pass labels")
            z = torch.cat([z, F.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)
        return self.body(self.project(z))


class DCGANDiscriminator(nn.Module):
    """``image_size`` -> 4x4 with 4x4 stride-2 convolutions (no BatchNorm on the first),
    LeakyReLU 0.2, then a 4x4 convolution to one logit."""

    def __init__(self, ndf: int = 64, image_size: int = 64, channels: int = 3, num_classes: int = 0) -> None:
        super().__init__()
        levels = _levels(image_size)
        layers: list[nn.Module] = [nn.Conv2d(channels + num_classes, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for _ in range(levels - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2, True)]
            width *= 2
        layers.append(nn.Conv2d(width, 1, 4, 1, 0))
        self.body = nn.Sequential(*layers)
        self.num_classes = num_classes
        init_gan_weights(self)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.num_classes:
            x = torch.cat([x, label_maps(labels, self.num_classes, *x.shape[-2:]).to(x.dtype)], dim=1)
        return self.body(x).flatten(1)


@dataclass
class DCGANHParams:
    ndf: int = 64
    d_scales: int = 1
    gan_mode: str = "vanilla"
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    diffaugment: str = ""


SPEC = register(
    ModelSpec(
        name="dcgan",
        task="noise_to_image",
        generator=DCGANGenerator,
        recipe="gan_augment.models.dcgan_recipe:DCGANRecipe",
        hparams=DCGANHParams,
        paper="Radford et al. 2016 (DCGAN); Beynek et al. (128x128); Furger et al. 2020 (dense input, 2-scale D, truncation)",
        summary="DCGAN, optionally class-conditional: noise (+ class) -> lesion image",
        default_image_size=64,
        tiny_generator_config={"latent_dim": 8, "ngf": 4},
        tiny_hparams={"ndf": 4, "d_scales": 2},
        tiny_image_size=16,
        config_for_size=image_size_config,
        needs_mask=False,
    )
)
