"""Conditioning maps for pix2pixHD (:mod:`gan_augment.models.pix2pixhd`) (Wang et al. 2018, Sec. 3.3; Bissoto et al. 2018, Sec. 3.2).

* :func:`semantic_map`: one-hot label map with ``LABELS`` channels — the dark region outside
  the dermoscope's field of view ("outside"), skin, lesion, and the five ISIC 2018 Task 2
  dermoscopic attributes. Attributes are optional: without them those channels are zero.
* :func:`instance_edges`: boundaries of SLIC superpixels (Achanta et al. 2012, via
  scikit-image), pix2pixHD's instance-boundary map.
* :func:`condition_maps`: both stacked, the generator input.
"""

from __future__ import annotations

import numpy as np

from gan_augment.constants import ATTRIBUTES

LABELS = ("outside", "skin", "lesion", *ATTRIBUTES)
"""Channel order of :func:`semantic_map` (attributes have priority over lesion, outside over all)."""
NUM_CONDITION_CHANNELS = len(LABELS) + 1


def outside_region(image: np.ndarray, threshold: float = 0.12) -> np.ndarray:
    """Dark pixels connected to the image border: the vignette outside the dermoscope's
    circular field of view. ``image`` HWC uint8 -> HW bool."""
    from skimage import measure  # lazy: every model file is imported with the registry; scikit-image only when maps are built

    grey = image.astype(np.float32).mean(axis=2) / 255.0
    dark = grey < threshold
    labels = measure.label(dark, connectivity=1)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return np.isin(labels, border[border > 0])


def semantic_map(image: np.ndarray, mask: np.ndarray, attributes: np.ndarray | None = None) -> np.ndarray:
    """One-hot ``len(LABELS)`` x H x W uint8 label map of an image, its lesion mask (HW in
    {0, 1}) and optionally its Task 2 attribute masks (5HW in {0, 1})."""
    h, w = mask.shape
    if image.shape[:2] != (h, w):
        raise ValueError(f"image {image.shape[:2]} and mask {(h, w)} differ in size")
    index = np.ones((h, w), np.int64)  # skin
    index[mask > 0] = 2  # lesion
    if attributes is not None:
        if attributes.shape != (len(ATTRIBUTES), h, w):
            raise ValueError(f"attributes must be {len(ATTRIBUTES)}xHxW, got {attributes.shape}")
        for k in reversed(range(len(ATTRIBUTES))):  # the first listed attribute wins overlaps
            index[attributes[k] > 0] = 3 + k
    index[outside_region(image)] = 0
    return (np.arange(len(LABELS))[:, None, None] == index[None]).astype(np.uint8)


def instance_edges(image: np.ndarray, segments_per_pixel: float = 1 / 64, compactness: float = 10.0) -> np.ndarray:
    """HW uint8 map of SLIC superpixel boundaries (about one superpixel per 64 pixels)."""
    from skimage import segmentation  # lazy: as in outside_region

    h, w = image.shape[:2]
    n_segments = max(4, int(h * w * segments_per_pixel))
    labels = segmentation.slic(image, n_segments=n_segments, compactness=compactness, start_label=1, channel_axis=-1)
    return segmentation.find_boundaries(labels, mode="inner").astype(np.uint8)


def condition_maps(image: np.ndarray, mask: np.ndarray, attributes: np.ndarray | None = None) -> np.ndarray:
    """pix2pixHD input: semantic map stacked with the instance-boundary map, uint8 (9, H, W)."""
    return np.concatenate([semantic_map(image, mask, attributes), instance_edges(image)[None]], axis=0)
