"""Progressive growing GAN with label conditioning.

Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and
Variation", ICLR 2018: resolutions grow 4 -> 8 -> ... (Sec. 2), each new block faded in
with weight alpha going 0 -> 1 and then stabilised; equalised learning rate (Sec. 4.1),
pixelwise feature normalisation in G (Sec. 4.2), minibatch standard deviation in D
(Sec. 3); WGAN-GP loss with drift penalty (App. A.1). Applied to skin lesions with the
class label concatenated to the input of every layer but the last of G and D by Bissoto
et al., "Skin Lesion Synthesis with Generative Adversarial Networks", ISIC Skin Image
Analysis Workshop 2018 (Sec. 3.1). The growth schedule (images per fade-in / stabilisation
phase) is the ``phase_images`` training option.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_augment.models._blocks import label_maps
from gan_augment.registry import ModelSpec, register


def _standard_normal(*shape: int) -> Tensor:
    """N(0, 1) weights; left unfilled on the meta device (lazy loading builds models there)."""
    w = torch.empty(*shape)
    return w if w.is_meta else nn.init.normal_(w)


class EqualizedConv2d(nn.Module):
    """Conv with weights ~ N(0, 1) scaled at run time by He's constant (equalised LR)."""

    def __init__(self, cin: int, cout: int, kernel: int, padding: int = 0) -> None:
        super().__init__()
        self.weight = nn.Parameter(_standard_normal(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = math.sqrt(2.0 / (cin * kernel * kernel))
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    def __init__(self, cin: int, cout: int, gain: float = math.sqrt(2.0)) -> None:
        super().__init__()
        self.weight = nn.Parameter(_standard_normal(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = gain / math.sqrt(cin)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: Tensor, eps: float = 1e-8) -> Tensor:
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def minibatch_stddev(x: Tensor, group: int = 4) -> Tensor:
    """Append the mean over features of the per-group standard deviation as one channel."""
    n, c, h, w = x.shape
    g = min(group, n)
    while n % g:
        g -= 1
    y = x.float().view(g, -1, c, h, w)
    y = (y - y.mean(0)).pow(2).mean(0).add(1e-8).sqrt().mean(dim=(1, 2, 3))
    y = y.view(-1, 1, 1, 1).repeat(g, 1, h, w).to(x.dtype)
    return torch.cat([x, y], dim=1)


def _stages(image_size: int) -> int:
    if image_size < 4 or image_size & (image_size - 1):
        raise ValueError(f"ProGAN needs a power-of-two image size >= 4, got {image_size}")
    return image_size.bit_length() - 3  # 4x4 is stage 0, 8x8 stage 1, ...


def _widths(image_size: int, fmap_base: int, fmap_max: int) -> list[int]:
    """Channels per stage (4x4 first): ``fmap_base / 2**stage``, at most ``fmap_max``."""
    stages = _stages(image_size)
    nf = [min(fmap_base // 2**s, fmap_max) for s in range(stages + 1)]
    if min(nf) < 1:
        raise ValueError(f"ProGAN at {image_size} px needs fmap_base >= {2**stages} (one channel at the last stage), got {fmap_base}")
    return nf


def image_size_config(size: int) -> dict[str, int]:
    _stages(size)
    return {"image_size": size}


class ProGANGenerator(nn.Module):
    """Grows from 4x4 to ``image_size``; ``stage`` and ``alpha`` are buffers, so the state
    dict records how far training has grown it. Output is linear (clamped at inference)."""

    def __init__(
        self,
        latent_dim: int = 256,
        image_size: int = 128,
        fmap_base: int = 4096,
        fmap_max: int = 256,
        num_classes: int = 0,
        channels: int = 3,
    ) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.max_stage = latent_dim, num_classes, _stages(image_size)
        nf = _widths(image_size, fmap_base, fmap_max)
        nc = num_classes
        self.dense = EqualizedLinear(latent_dim + nc, nf[0] * 16, gain=math.sqrt(2) / 4)
        self.conv0 = EqualizedConv2d(nf[0] + nc, nf[0], 3, 1)
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualizedConv2d(nf[s - 1] + nc, nf[s], 3, 1), EqualizedConv2d(nf[s] + nc, nf[s], 3, 1)])
            for s in range(1, self.max_stage + 1)
        )
        self.to_rgb = nn.ModuleList(EqualizedConv2d(nf[s], channels, 1) for s in range(self.max_stage + 1))
        self.register_buffer("stage", torch.tensor(self.max_stage))
        self.register_buffer("alpha", torch.tensor(1.0))

    def _cat(self, x: Tensor, labels: Tensor | None) -> Tensor:
        if not self.num_classes:
            return x
        return torch.cat([x, label_maps(labels, self.num_classes, *x.shape[-2:]).to(x.dtype)], dim=1)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.num_classes and labels is None:
            raise ValueError("this generator is class-conditional: pass labels")
        stage, alpha = int(self.stage), float(self.alpha)
        z = pixel_norm(z)
        if self.num_classes:
            z = torch.cat([z, F.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)
        x = pixel_norm(F.leaky_relu(self.dense(z).view(z.shape[0], -1, 4, 4), 0.2))
        x = pixel_norm(F.leaky_relu(self.conv0(self._cat(x, labels)), 0.2))
        previous = x
        for block in self.blocks[:stage]:
            previous = x
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            for conv in block:
                x = pixel_norm(F.leaky_relu(conv(self._cat(x, labels)), 0.2))
        out = self.to_rgb[stage](x)
        if stage > 0 and alpha < 1.0:  # fade the new block in over the upsampled old output
            old = F.interpolate(self.to_rgb[stage - 1](previous), scale_factor=2, mode="nearest")
            out = alpha * out + (1 - alpha) * old
        return out


class ProGANDiscriminator(nn.Module):
    """Mirror of the generator: fromRGB at the current resolution, blocks of two 3x3
    convolutions + 2x average pooling, minibatch stddev and a dense output at 4x4."""

    def __init__(self, image_size: int = 128, fmap_base: int = 4096, fmap_max: int = 256, num_classes: int = 0, channels: int = 3):
        super().__init__()
        self.num_classes, self.max_stage = num_classes, _stages(image_size)
        nf = _widths(image_size, fmap_base, fmap_max)
        nc = num_classes
        self.from_rgb = nn.ModuleList(EqualizedConv2d(channels + nc, nf[s], 1) for s in range(self.max_stage + 1))
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualizedConv2d(nf[s] + nc, nf[s], 3, 1), EqualizedConv2d(nf[s] + nc, nf[s - 1], 3, 1)])
            for s in range(1, self.max_stage + 1)
        )
        self.conv0 = EqualizedConv2d(nf[0] + 1 + nc, nf[0], 3, 1)
        self.conv4 = EqualizedConv2d(nf[0] + nc, nf[0], 4, 0)
        self.out = EqualizedLinear(nf[0], 1, gain=1.0)

    def _cat(self, x: Tensor, labels: Tensor | None) -> Tensor:
        if not self.num_classes:
            return x
        return torch.cat([x, label_maps(labels, self.num_classes, *x.shape[-2:]).to(x.dtype)], dim=1)

    def _block(self, s: int, x: Tensor, labels: Tensor | None) -> Tensor:
        for conv in self.blocks[s - 1]:
            x = F.leaky_relu(conv(self._cat(x, labels)), 0.2)
        return F.avg_pool2d(x, 2)

    def forward(self, x: Tensor, labels: Tensor | None, stage: int, alpha: float) -> Tensor:
        h = F.leaky_relu(self.from_rgb[stage](self._cat(x, labels)), 0.2)
        if stage > 0:
            h = self._block(stage, h, labels)
            if alpha < 1.0:
                low = F.leaky_relu(self.from_rgb[stage - 1](self._cat(F.avg_pool2d(x, 2), labels)), 0.2)
                h = alpha * h + (1 - alpha) * low
            for s in range(stage - 1, 0, -1):
                h = self._block(s, h, labels)
        h = F.leaky_relu(self.conv0(self._cat(minibatch_stddev(h), labels)), 0.2)
        h = F.leaky_relu(self.conv4(self._cat(h, labels)), 0.2)
        return self.out(h.flatten(1))


@dataclass
class ProGANHParams:
    """Karras et al. defaults: Adam lr 1e-3, betas (0, 0.99); WGAN-GP lambda 10, drift 1e-3.
    ``phase_images``: real images shown per fade-in phase and per stabilisation phase.
    ``ema_half_life_images``: half-life of the generator's moving average that is exported
    and sampled (0: export the last iterate).
    ``loss``: ``"wgan-gp"`` (the paper's) or ``"logistic-r1"``, the non-saturating logistic
    loss with a lazy R1 penalty on real images (Karras et al. 2020, StyleGAN2 Sec. 3.1:
    ``r1_gamma``, every ``r1_every`` D steps, weighted by ``r1_every``): no third D pass and
    double backward on most steps, which is what makes WGAN-GP slow on a CPU.
    ``lr_d``: D's learning rate (0: ``lr``; the two time-scale rule, Heusel et al. 2017).
    ``d_fmap_base`` / ``d_fmap_max``: D's widths (0: the generator's), for a D wider than
    the narrow high-resolution layers a CPU-sized G affords."""

    phase_images: int = 300_000
    lr: float = 1e-3
    beta1: float = 0.0
    beta2: float = 0.99
    gp_weight: float = 10.0
    drift: float = 1e-3
    diffaugment: str = ""
    ema_half_life_images: float = 10_000.0
    loss: str = "wgan-gp"
    r1_gamma: float = 1.0
    r1_every: int = 16
    lr_d: float = 0.0
    d_fmap_base: int = 0
    d_fmap_max: int = 0


SPEC = register(
    ModelSpec(
        name="progan",
        task="noise_to_image",
        generator=ProGANGenerator,
        recipe="gan_augment.models.progan_recipe:ProGANRecipe",
        hparams=ProGANHParams,
        paper="Karras et al. 2018 (progressive growing); Bissoto et al. 2018 (label-conditioned, skin lesions)",
        summary="progressive growing GAN, label in every layer but the last: noise + class -> lesion image",
        default_image_size=128,
        tiny_generator_config={"latent_dim": 8, "fmap_base": 16, "fmap_max": 8, "num_classes": 3},
        tiny_hparams={"phase_images": 4},
        tiny_image_size=16,
        config_for_size=image_size_config,
        needs_mask=False,
    )
)
