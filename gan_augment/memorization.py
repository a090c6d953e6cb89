"""Does a generator copy its training images? Nearest training image per output.

For each synthetic image: its nearest training image by cosine distance of EfficientNet-Lite0
features, and the SSIM between the two (pixels at the evaluation size). The same for real
held-out images gives the yardstick: a held-out image is not a copy of any training image, so
a synthetic output closer to its nearest training image than almost every held-out image is
(below the ``quantile`` of their distances, 5 % by default) counts as a *near-copy*. A
generator that does not memorise has a near-copy share near ``quantile``; one that copies has
more. SSIM: Wang et al. 2004, Gaussian window 11 / sigma 1.5, on [0, 1] RGB, channel mean.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["memorization", "nearest_training", "ssim"]


def ssim(a: Tensor, b: Tensor, *, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Mean SSIM of each pair of N3HW images in [0, 1] (N values)."""
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"ssim needs two N C H W batches of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = a.double(), b.double()
    coords = torch.arange(window, dtype=torch.float64) - (window - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = (g / g.sum()).to(a.device)
    c = a.shape[1]
    kernel = (g[:, None] * g[None, :]).expand(c, 1, window, window).contiguous()

    def blur(x: Tensor) -> Tensor:
        return F.conv2d(x, kernel, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.mean(dim=(1, 2, 3))


def nearest_training(features: Tensor, training_features: Tensor, chunk: int = 1024) -> tuple[Tensor, Tensor]:
    """Cosine distance to, and index of, the nearest training feature vector of each row."""
    t = F.normalize(training_features.double(), dim=1)
    distances, indices = [], []
    for part in features.double().split(chunk):
        sim = F.normalize(part, dim=1) @ t.T
        best = sim.max(dim=1)
        distances.append(1 - best.values)
        indices.append(best.indices)
    return torch.cat(distances), torch.cat(indices)


def memorization(
    synthetic: Tensor,
    synthetic_features: Tensor,
    heldout: Tensor,
    heldout_features: Tensor,
    training: Tensor,
    training_features: Tensor,
    *,
    quantile: float = 0.05,
) -> dict[str, Any]:
    """Nearest-training-image statistics of ``synthetic`` next to those of real ``heldout``
    images (all N3HW in [0, 1] or uint8, one size; features from one extractor)."""
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile}")

    def as_float(x: Tensor) -> Tensor:
        return x.float() / 255 if x.dtype == torch.uint8 else x.float()

    d_syn, i_syn = nearest_training(synthetic_features, training_features)
    d_real, i_real = nearest_training(heldout_features, training_features)
    threshold = float(torch.quantile(d_real, quantile))
    s_syn = ssim(as_float(synthetic), as_float(training[i_syn]))
    s_real = ssim(as_float(heldout), as_float(training[i_real]))
    return {
        "n_training": int(training.shape[0]),
        "distance_median": {"synthetic": float(d_syn.median()), "heldout_real": float(d_real.median())},
        "ssim_median": {"synthetic": float(s_syn.median()), "heldout_real": float(s_real.median())},
        "ssim_max": {"synthetic": float(s_syn.max()), "heldout_real": float(s_real.max())},
        "near_copy_quantile": quantile,
        "near_copy_threshold": threshold,
        "near_copy_share": float((d_syn < threshold).double().mean()),
        "most_copied": i_syn[d_syn.argsort()[:4]].tolist(),
    }
