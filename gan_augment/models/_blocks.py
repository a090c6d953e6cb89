"""The few layers several papers share: normalisation choice, weight init, PatchGAN.

Kept deliberately small: a layer lives here only once two paper files need it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NORMS = ("batch", "instance", "none")
UPSAMPLING = ("transpose", "resize")


def norm_layer(kind: str) -> Callable[[int], nn.Module]:
    """Factory for a 2-D normalisation layer: ``batch``, ``instance`` (no affine) or ``none``."""
    if kind == "batch":
        return nn.BatchNorm2d
    if kind == "instance":
        return lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)
    if kind == "none":
        return lambda c: nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


def check_upsample(kind: str) -> None:
    if kind not in UPSAMPLING:
        raise ValueError(f"upsample must be one of {UPSAMPLING}, got {kind!r}")


def upsample_x2(in_channels: int, out_channels: int, kind: str, *, kernel_size: int = 4, bias: bool = True) -> list[nn.Module]:
    """Layers that double the height and width: ``"transpose"``, a stride-2 transposed
    convolution of ``kernel_size`` (4: pix2pix; 3 with output padding 1: Johnson et al.),
    or ``"resize"``, nearest 2x upsampling + 3x3 convolution, which avoids checkerboard
    artefacts (Odena et al., "Deconvolution and Checkerboard Artifacts", Distill 2016)."""
    check_upsample(kind)
    if kind == "transpose":
        padding = (kernel_size - 1) // 2
        return [nn.ConvTranspose2d(in_channels, out_channels, kernel_size, 2, padding, output_padding=2 * padding + 2 - kernel_size, bias=bias)]
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=bias)]


def init_gan_weights(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN/pix2pix initialisation: conv weights ~ N(0, std), norm scales ~ N(1, std).

    A no-op for modules built on the meta device (lazy loading): there is nothing to fill,
    and torch's meta random kernels cost ~150 MB of one-time imports."""
    if any(p.is_meta for p in module.parameters()):
        return
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


class PatchDiscriminator(nn.Module):
    """PatchGAN: classifies overlapping patches as real/fake (Isola et al. 2017, Sec. 3.2.2).

    With ``n_layers=3`` and 4x4 kernels each output unit sees a 70x70 input patch.
    ``forward(x, features=True)`` also returns every intermediate activation, which
    pix2pixHD's feature-matching loss compares between real and fake.
    """

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        make_norm = norm_layer(norm)
        bias = norm != "batch"
        blocks: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True))
        ]
        channels = ndf
        for n in range(1, n_layers + 1):
            out = ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            blocks.append(
                nn.Sequential(
                    nn.Conv2d(channels, out, 4, stride, 1, bias=bias), make_norm(out), nn.LeakyReLU(0.2, True)
                )
            )
            channels = out
        blocks.append(nn.Conv2d(channels, 1, 4, 1, 1))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor, features: bool = False) -> Tensor | list[Tensor]:
        outputs = []
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        return outputs if features else x

    @staticmethod
    def min_input_size(n_layers: int) -> int:
        """Smallest input side for which every layer still has an output (and every
        normalised layer more than one pixel): ``n_layers + 1`` halvings, then two 4x4
        convolutions of stride 1 that each take a pixel off."""
        return 3 * 2**n_layers


def require_input_size(discriminator: str, image_size: int, minimum: int, hint: str) -> None:
    """A clear error instead of a normalisation error deep inside the first training step."""
    if image_size < minimum:
        raise ValueError(f"{discriminator} needs images of at least {minimum} px, got {image_size}; {hint}")


class MultiScaleDiscriminator(nn.Module):
    """``num_scales`` PatchGANs, each on the input downsampled 2x more (Wang et al. 2018, Sec. 3.2)."""

    def __init__(
        self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "instance", num_scales: int = 3
    ) -> None:
        super().__init__()
        self.scales = nn.ModuleList(PatchDiscriminator(in_channels, ndf, n_layers, norm) for _ in range(num_scales))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    @staticmethod
    def min_input_size(n_layers: int, num_scales: int) -> int:
        """Smallest input side whose coarsest scale (``num_scales - 1`` poolings, each to
        ceil(side / 2)) still fits :meth:`PatchDiscriminator.min_input_size`."""
        side = PatchDiscriminator.min_input_size(n_layers)
        for _ in range(num_scales - 1):
            side = 2 * side - 1
        return side

    def forward(self, x: Tensor, features: bool = False) -> list:
        results = []
        for i, d in enumerate(self.scales):
            if i:
                x = self.downsample(x)
            results.append(d(x, features=features))
        return results


class ResnetBlock(nn.Module):
    """Two reflection-padded 3x3 convolutions with a skip (Johnson et al. 2016; used by
    pix2pixHD's global generator and CycleGAN's generator)."""

    def __init__(self, channels: int, norm: str = "instance") -> None:
        super().__init__()
        make_norm = norm_layer(norm)
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), make_norm(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), make_norm(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def style_mapping(style_dim: int, w_dim: int) -> nn.Sequential:
    """The noise input's mapping z -> w: two linear layers with LeakyReLU 0.2 (a short
    StyleGAN mapping network)."""
    return nn.Sequential(nn.Linear(style_dim, w_dim), nn.LeakyReLU(0.2, True), nn.Linear(w_dim, w_dim), nn.LeakyReLU(0.2, True))


def reset_style_layers(mapping: nn.Module, modulation: nn.ModuleList) -> None:
    """After :func:`init_gan_weights`: PyTorch's default init for the mapping (at std 0.02 it
    would mute z), zero for every modulation (the generator starts as plain normalisation)."""
    for m in mapping.modules():
        if isinstance(m, nn.Linear):
            m.reset_parameters()
    for m in modulation:
        nn.init.zeros_(m.weight)
        nn.init.zeros_(m.bias)


def draw_style(z: Tensor | None, batch: int, style_dim: int, device: torch.device) -> Tensor:
    """``z`` as given, else standard normal noise drawn here (so ``seeded`` reproduces it)."""
    if z is None:
        return torch.randn(batch, style_dim, device=device)
    if z.shape != (batch, style_dim):
        raise ValueError(f"z must have shape ({batch}, {style_dim}), got {tuple(z.shape)}")
    return z


def modulate(x: Tensor, modulation: nn.Module, w: Tensor) -> Tensor:
    """Scale and shift each channel of (normalised) ``x`` by ``1 + gamma``, ``beta`` computed
    from the style ``w`` (adaptive instance normalisation; Huang & Belongie 2017)."""
    gamma, beta = modulation(w)[:, :, None, None].chunk(2, dim=1)
    return x * (1 + gamma) + beta


class ResnetGenerator(nn.Module):
    """c7s1-ngf, ``n_downsampling`` stride-2 3x3 convolutions doubling the width, ``n_blocks``
    residual blocks, as many stride-2 3x3 transposed convolutions, c7s1-out, tanh (Johnson et
    al. 2016). pix2pixHD's global generator and CycleGAN's generator are instances of it.

    ``upsample``: ``"transpose"`` (the papers' transposed convolutions, the default) or
    ``"resize"`` (nearest 2x upsampling + 3x3 convolution, :func:`upsample_x2`).

    ``style_dim > 0`` adds a noise input (not in the papers; a deterministic translator
    cannot choose, e.g., a skin tone that its input does not fix): ``z`` (drawn inside
    ``forward`` when not given) goes through :func:`style_mapping` to ``w``, which scales and
    shifts the normalisation before the residual blocks and after every upsampling
    (:func:`modulate`). Without it the network and its weights are the papers'."""

    def __init__(
        self, in_channels: int, out_channels: int = 3, ngf: int = 64, n_downsampling: int = 2, n_blocks: int = 9, norm: str = "instance",
        upsample: str = "transpose", style_dim: int = 0, w_dim: int = 128,
    ) -> None:
        super().__init__()
        check_upsample(upsample)
        make_norm = norm_layer(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7), make_norm(ngf), nn.ReLU(True)]
        for i in range(n_downsampling):
            w = ngf * 2**i
            layers += [nn.Conv2d(w, 2 * w, 3, 2, 1), make_norm(2 * w), nn.ReLU(True)]
        styled = {len(layers) - 2: ngf * 2**n_downsampling}  # index of a normalisation layer -> its width
        layers += [ResnetBlock(ngf * 2**n_downsampling, norm) for _ in range(n_blocks)]
        for i in range(n_downsampling, 0, -1):
            w = ngf * 2**i
            layers += [*upsample_x2(w, w // 2, upsample, kernel_size=3), make_norm(w // 2), nn.ReLU(True)]
            styled[len(layers) - 2] = w // 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.multiple = 2**n_downsampling
        self.style_dim = style_dim
        if style_dim:
            self.mapping = style_mapping(style_dim, w_dim)
            self.modulation = nn.ModuleList(nn.Linear(w_dim, 2 * width) for width in styled.values())
            self._styled = {index: k for k, index in enumerate(styled)}
        init_gan_weights(self)
        if style_dim and not any(p.is_meta for p in self.parameters()):
            reset_style_layers(self.mapping, self.modulation)

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        if x.shape[-1] % self.multiple or x.shape[-2] % self.multiple:
            raise ValueError(f"input height and width must be multiples of {self.multiple}, got {tuple(x.shape[-2:])}")
        if not self.style_dim:
            return self.model(x)
        w = self.mapping(draw_style(z, x.shape[0], self.style_dim, x.device))
        for index, layer in enumerate(self.model):
            x = layer(x)
            if index in self._styled:
                x = modulate(x, self.modulation[self._styled[index]], w)
        return x


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def label_maps(labels: Tensor, num_classes: int, height: int, width: int) -> Tensor:
    """One-hot labels as constant N x classes x H x W maps."""
    return F.one_hot(labels, num_classes).float()[:, :, None, None].expand(-1, -1, height, width)


@dataclass
class RealismRecipeOptions:
    """The realism recipe's options shared by the conditional translators' hyper-parameters
    (paper defaults: PatchGAN, no moving average): ``discriminator`` ``"patch"`` or
    ``"projected"`` and the projected discriminator's settings (see
    ``gan_augment.models.projected``; ``condition_gain="balanced"`` makes a conditional one
    read its condition as loudly as its features), and the half-life in images of the
    exported moving average of G (0: none)."""

    discriminator: str = "patch"
    backbone: int = 1
    feature_input_size: int = 128
    d_width: int = 64
    projection_seed: int = 0
    ema_half_life_images: float = 0.0
    condition_gain: str = "none"


@dataclass
class MatchingAwareOptions(RealismRecipeOptions):
    """:class:`RealismRecipeOptions` for translators whose D reads the condition with the image
    (pix2pix, pix2pixHD). ``mismatch_weight > 0`` makes D matching-aware (Reed et al.,
    "Generative Adversarial Text to Image Synthesis", ICML 2016, GAN-CLS): real images paired
    with another image's condition count as fake with this weight (the fakes keep
    ``1 - mismatch_weight``; the paper's 0.5), so D must check that image and condition
    agree, not only that the image looks real."""

    mismatch_weight: float = 0.0
