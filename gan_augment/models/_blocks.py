"""The few layers several papers share: normalisation choice, weight init, PatchGAN.

Kept deliberately small: a layer lives here only once two paper files need it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

NORMS = ("batch", "instance", "none")


def norm_layer(kind: str) -> Callable[[int], nn.Module]:
    """Factory for a 2-D normalisation layer: ``batch``, ``instance`` (no affine) or ``none``."""
    if kind == "batch":
        return nn.BatchNorm2d
    if kind == "instance":
        return lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)
    if kind == "none":
        return lambda c: nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


def init_gan_weights(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN/pix2pix initialisation: conv weights ~ N(0, std), norm scales ~ N(1, std)."""
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


class MultiScaleDiscriminator(nn.Module):
    """``num_scales`` PatchGANs, each on the input downsampled 2x more (Wang et al. 2018, Sec. 3.2)."""

    def __init__(
        self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "instance", num_scales: int = 3
    ) -> None:
        super().__init__()
        self.scales = nn.ModuleList(PatchDiscriminator(in_channels, ndf, n_layers, norm) for _ in range(num_scales))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: Tensor, features: bool = False) -> list:
        results = []
        for i, d in enumerate(self.scales):
            if i:
                x = self.downsample(x)
            results.append(d(x, features=features))
        return results


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def assert_finite(tensor: Tensor, what: str) -> None:
    if not torch.isfinite(tensor).all():
        raise FloatingPointError(f"{what} is not finite")
