"""KID/FID/contrast behave as metrics should on controlled inputs."""

from __future__ import annotations

import pytest
import torch
from conftest import disk_mask

from gan_augment.metrics import FeatureExtractor, fid, kid, mask_contrast, nearest_real_distance


def test_kid_is_near_zero_for_one_distribution_and_grows_with_shift():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 16, generator=g), torch.randn(300, 16, generator=g)
    same, _ = kid(a, b, subset_size=100, subsets=50)
    shifted, _ = kid(a, b + 1.0, subset_size=100, subsets=50)
    assert abs(same) < 0.02 and shifted > 10 * max(abs(same), 1e-3)
    assert kid(a, b, seed=1) == kid(a, b, seed=1)
    with pytest.raises(ValueError):
        kid(a[:1], b[:1])


def test_fid_zero_for_identical_sets_positive_for_shift():
    a = torch.randn(200, 8, generator=torch.Generator().manual_seed(1))
    assert abs(fid(a, a)) < 1e-6
    assert fid(a, a + 2) > 1.0


def test_mask_contrast_sign_and_nan_for_empty():
    mask = torch.from_numpy(disk_mask(32, 32)).float()[None, None]
    dark_inside = torch.where(mask.bool(), 0.2, 0.8).expand(1, 3, 32, 32)
    assert mask_contrast(dark_inside, mask).item() == pytest.approx(0.6)
    assert mask_contrast(1 - dark_inside, mask).item() == pytest.approx(-0.6)
    assert torch.isnan(mask_contrast(dark_inside, torch.zeros_like(mask))).all()


def test_nearest_real_distance_is_zero_for_copies():
    real = torch.randn(10, 5)
    assert torch.allclose(nearest_real_distance(real[:3], real), torch.zeros(3, dtype=torch.float64), atol=1e-12)


def test_efficientnet_features_offline():
    extractor = FeatureExtractor()
    x = torch.rand(3, 3, 64, 48)
    f = extractor(x)
    assert f.shape == (3, 1280) and torch.isfinite(f).all()
    assert torch.allclose(extractor(x), f)  # deterministic (eval mode)


def test_upsampling_peaks_find_a_checkerboard_and_not_smooth_images():
    from gan_augment.metrics import upsampling_peaks

    gen = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.avg_pool2d(torch.rand(32, 3, 64, 64, generator=gen), 5, 1, 2)
    checker = smooth.clone()
    checker[..., ::2, ::2] += 0.05
    clean, artefact = upsampling_peaks(smooth), upsampling_peaks(checker.clamp(0, 1))
    assert artefact["nyquist"] > clean["nyquist"] + 1.0 and artefact["peak"] > clean["peak"]


def test_dcgan_resize_upsampling_has_no_transposed_convolutions():
    from gan_augment.models import create

    g = create("dcgan", ngf=4, image_size=32, upsample="resize")
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in g.body.modules())
    assert g(torch.randn(2, 100)).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="upsample"):
        create("dcgan", upsample="bilinear-ish")
