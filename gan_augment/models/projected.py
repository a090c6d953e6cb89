"""Projected discriminator (Sauer et al., "Projected GANs Converge Faster", NeurIPS 2021).

A frozen ImageNet feature network (EfficientNet-Lite1, Sec. 3.1 / Table 1 of the paper:
the EfficientNet-lite family gave the best FID per compute), its four feature maps mixed by
fixed random projections (cross-channel mixing CCM: 1x1 convolutions; cross-scale mixing
CSM: a top-down pathway of 3x3 convolutions, Sec. 3.2), and one small trainable
discriminator per scale (Sec. 3.3, spectral norm, hinge loss). Only the small
discriminators learn; the features come from pretraining, which is what makes a GAN reach
realism in few images on a small data set.

Conditioning on the lesion mask: the mask, area-downsampled to each scale, is concatenated
to that scale's projected features, so every small discriminator judges "is this a real
lesion *for this mask*".

Training code only: nothing on the inference path imports this module. The frozen feature
network is held outside the module tree (not in ``state_dict``: it is rebuilt from its
PyPI wheel), while the random projections are saved, so a resumed run sees the same ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import spectral_norm

from gan_augment.imagenet_backbones import IMAGENET_MEAN, IMAGENET_STD, efficientnet_lite

# Blocks of EfficientNet-Lite1/2 after which the feature map halves (strides 4, 8, 16, 32).
_LITE_STAGE_ENDS = {1: (3, 6, 14, 20), 2: (3, 6, 14, 21)}
_LITE_STAGE_CHANNELS = {1: (24, 40, 112, 320), 2: (24, 48, 120, 352)}


class FrozenEfficientNetLite:
    """The four stage outputs of a frozen ImageNet EfficientNet-Lite (eval mode, no gradients
    to its weights, gradients flow to the input). Not an ``nn.Module`` on purpose: it is
    neither trained nor saved."""

    def __init__(self, variant: int = 1, input_size: int = 128) -> None:
        if variant not in _LITE_STAGE_ENDS:
            raise ValueError(f"the projected discriminator uses EfficientNet-Lite1 or Lite2 (Lite0 is for evaluation), got {variant}")
        self.net = efficientnet_lite(variant).requires_grad_(False)
        self.stage_ends = _LITE_STAGE_ENDS[variant]
        self.channels = _LITE_STAGE_CHANNELS[variant]
        self.input_size = int(input_size)
        self.mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def to(self, device: torch.device) -> FrozenEfficientNetLite:
        self.net.to(device)
        self.mean, self.std = self.mean.to(device), self.std.to(device)
        return self

    def __call__(self, images: Tensor) -> list[Tensor]:
        """Images N3HW in [-1, 1] -> four feature maps (strides 4, 8, 16, 32 of ``input_size``)."""
        x = (images + 1) / 2
        if x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        x = (x - self.mean) / self.std
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        features = []
        for i, block in enumerate(net._blocks):
            x = block(x)
            if i in self.stage_ends:
                features.append(x)
        return features


class RandomProjection(nn.Module):
    """CCM + CSM of Projected GAN: fixed random 1x1 convolutions to ``widths`` channels per
    scale, then a top-down pathway (upsample the coarser mixed map, add, 3x3 convolution).
    Kaiming-initialised from ``seed`` and frozen."""

    def __init__(self, in_channels: tuple[int, ...], widths: tuple[int, ...], seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.ccm = nn.ModuleList(nn.Conv2d(c, w, 1, bias=True) for c, w in zip(in_channels, widths))
        self.csm = nn.ModuleList(nn.Conv2d(w, w, 3, padding=1, bias=True) for w in widths[:-1])
        self.lateral = nn.ModuleList(nn.Conv2d(widths[i + 1], widths[i], 1, bias=False) for i in range(len(widths) - 1))
        if not any(p.is_meta for p in self.parameters()):
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                    with torch.no_grad():
                        m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                        if m.bias is not None:
                            m.bias.zero_()
        self.requires_grad_(False)

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        mixed = [ccm(f) for ccm, f in zip(self.ccm, features)]
        out = [mixed[-1]]
        for i in range(len(mixed) - 2, -1, -1):
            up = F.interpolate(self.lateral[i](out[0]), size=mixed[i].shape[-2:], mode="bilinear", align_corners=False)
            out.insert(0, self.csm[i](mixed[i] + up))
        return out


class ScaleDiscriminator(nn.Module):
    """One small discriminator: stride-2 4x4 convolutions (spectral norm, BatchNorm,
    LeakyReLU 0.2) down to 4x4 or less, then a 4x4 convolution to a logit map."""

    def __init__(self, in_channels: int, start_size: int, width: int = 64, max_width: int = 256) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size, channels, out = start_size, in_channels, width
        while size > 4:
            layers += [spectral_norm(nn.Conv2d(channels, out, 4, 2, 1, bias=False)), nn.BatchNorm2d(out), nn.LeakyReLU(0.2, True)]
            channels, out, size = out, min(out * 2, max_width), (size + 1) // 2
        layers.append(spectral_norm(nn.Conv2d(channels, 1, min(4, size), 1, 0, bias=False)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


CONDITION_GAINS = ("none", "balanced")


class ProjectedDiscriminator(nn.Module):
    """Frozen EfficientNet-Lite features -> random projections -> per-scale discriminators,
    each also reading the condition (e.g. the lesion mask) at its scale.

    ``forward(images in [-1, 1], condition N C H W or None)`` returns one logit map per scale.

    ``condition_gain``: ``"none"`` concatenates the condition (in [0, 1]) as it is. The
    projected features are far larger (std about 44, 23, 10, 2 at the four scales for
    Lite1 at 128 px) and the heads' first convolution is spectrally normalised, so they can
    barely read it: conditional generators then drew lesions that ignored their masks.
    ``"balanced"`` scales the condition, per scale and batch, so that its channels carry as
    much energy as the feature channels (gain = feature std x sqrt(feature channels /
    condition channels), not back-propagated).
    """

    def __init__(
        self,
        condition_channels: int = 1,
        backbone: int = 1,
        feature_input_size: int = 128,
        widths: tuple[int, ...] = (64, 128, 256, 512),
        d_width: int = 64,
        projection_seed: int = 0,
        condition_gain: str = "none",
    ) -> None:
        super().__init__()
        if condition_gain not in CONDITION_GAINS:
            raise ValueError(f"condition_gain must be one of {CONDITION_GAINS}, got {condition_gain!r}")
        self.condition_gain = condition_gain
        self.features = FrozenEfficientNetLite(backbone, feature_input_size)
        self.project = RandomProjection(self.features.channels, tuple(widths), seed=projection_seed)
        self.condition_channels = condition_channels
        sizes = [max(1, feature_input_size // s) for s in (4, 8, 16, 32)]
        self.heads = nn.ModuleList(
            ScaleDiscriminator(w + condition_channels, s, width=d_width) for w, s in zip(widths, sizes)
        )

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        probe = next(self.parameters())
        self.features.to(probe.device)
        return self

    def forward(self, images: Tensor, condition: Tensor | None = None) -> list[Tensor]:
        projected = self.project(self.features(images))
        logits = []
        for head, feat in zip(self.heads, projected):
            if self.condition_channels:
                if condition is None:
                    raise ValueError("this discriminator is conditional: pass condition=")
                pooled = F.adaptive_avg_pool2d(condition, feat.shape[-2:])
                if self.condition_gain == "balanced":
                    pooled = pooled * (feat.detach().float().std() * (feat.shape[1] / pooled.shape[1]) ** 0.5).to(pooled.dtype)
                feat = torch.cat([feat, pooled], dim=1)
            logits.append(head(feat))
        return logits
