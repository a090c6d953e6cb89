"""Mask synthesis: binary, right size, seedable, sensible; bad input raises."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import disk_mask
from hypothesis import given, settings
from hypothesis import strategies as st

from gan_augment.data import bundled_sample
from gan_augment.masks import SHAPES, PCAShapeModel, elastic_deform, geometric_mask, largest_contour

sizes = st.one_of(st.integers(16, 160), st.tuples(st.integers(16, 160), st.integers(16, 160)))


def as_hw(size):
    return (size, size) if isinstance(size, int) else size


@settings(max_examples=40, deadline=None)
@given(size=sizes, seed=st.integers(0, 2**31), kind=st.sampled_from((None, *SHAPES)))
def test_geometric_masks_are_binary_sized_seeded_and_plausible(size, seed, kind):
    mask = geometric_mask(size, seed, kind)
    assert mask.shape == as_hw(size) and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 1}
    h, w = as_hw(size)
    assert 0.005 < mask.sum() / min(h, w) ** 2 < 0.6  # a lesion, not a speck or the whole image
    assert np.array_equal(mask, geometric_mask(size, seed, kind))


def test_geometric_kinds_and_seeds_differ():
    a, b = geometric_mask(64, 0, "ellipse"), geometric_mask(64, 1, "ellipse")
    assert not np.array_equal(a, b)
    with pytest.raises(ValueError, match="kind must be one of"):
        geometric_mask(64, 0, "square")
    with pytest.raises(ValueError, match="at least 8x8"):
        geometric_mask(4, 0)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), h=st.integers(24, 96), w=st.integers(24, 96))
def test_elastic_deformation_keeps_a_similar_binary_blob(seed, h, w):
    mask = disk_mask(h, w)
    out = elastic_deform(mask, seed)
    assert out.shape == mask.shape and out.dtype == np.uint8 and set(np.unique(out)) <= {0, 1}
    assert np.array_equal(out, elastic_deform(mask, seed))
    assert 0.4 < out.sum() / mask.sum() < 1.8  # deformed, not destroyed
    with pytest.raises(ValueError, match="HW"):
        elastic_deform(np.zeros((4, 4, 3)))


def test_contour_resampling_is_ordered_and_closed():
    pts = largest_contour(disk_mask(64, 64, r=20), 32)
    assert pts.shape == (32, 2)
    radii = np.hypot(pts[:, 0] - 32, pts[:, 1] - 32)
    assert np.allclose(radii, 20, atol=1.5)
    assert largest_contour(np.zeros((16, 16), np.uint8), 8) is None


def test_pca_shape_model_fits_real_masks_and_samples_new_ones(tmp_path):
    masks = [item["mask"] for item in bundled_sample()]
    model = PCAShapeModel(n_points=48).fit(masks)
    assert 1 <= len(model.variance_) <= len(masks) - 1
    samples = [model.sample(96, seed=s, k=2.0) for s in range(10)]
    for m in samples:
        assert m.shape == (96, 96) and set(np.unique(m)) <= {0, 1} and m.sum() > 0
    assert np.array_equal(model.sample(96, seed=3), samples[3])
    assert len({m.tobytes() for m in samples}) > 1
    mean_only = model.sample(96, seed=0, k=0.0)  # k=0: the mean shape at a training centroid
    assert mean_only.sum() > 0
    model.save(tmp_path / "pca.npz")
    again = PCAShapeModel.load(tmp_path / "pca.npz")
    assert np.array_equal(again.sample(96, seed=5), model.sample(96, seed=5))


def test_pca_shape_model_errors():
    with pytest.raises(ValueError, match="at least 2"):
        PCAShapeModel().fit([np.zeros((16, 16), np.uint8)])
    with pytest.raises(RuntimeError, match="fit"):
        PCAShapeModel().sample(32)
    model = PCAShapeModel().fit([disk_mask(32, 32, r=r) for r in (6, 8, 10)])
    with pytest.raises(ValueError, match="non-negative"):
        model.sample(32, k=-1)
