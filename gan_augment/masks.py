"""Lesion-mask synthesis for Mask2Lesion (Abhishek & Hamarneh 2019, Sec. 2.2).

Three sources of new masks, each returning binary HW uint8 arrays in {0, 1} of the
requested size and each reproducible from a seed:

* :func:`geometric_mask` — random ellipses, polygons and stars;
* :func:`elastic_deform` — elastic deformation (Simard et al. 2003) of a real or drawn mask;
* :class:`PCAShapeModel` — a point-distribution model of real lesion contours; new shapes
  weight the principal components by coefficients in [-k, k] standard deviations.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from skimage import draw, measure

SHAPES = ("ellipse", "polygon", "star")
Seed = int | np.random.Generator | None


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _size(size: int | tuple[int, int]) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else size
    if h < 8 or w < 8:
        raise ValueError(f"mask size must be at least 8x8, got {(h, w)}")
    return int(h), int(w)


def _polygon_mask(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    rr, cc = draw.polygon(rows, cols, shape)
    mask[rr, cc] = 1
    return mask


def geometric_mask(size: int | tuple[int, int], seed: Seed = None, kind: str | None = None) -> np.ndarray:
    """A random ellipse, polygon or star (``kind=None`` picks one) near the image centre,
    covering roughly 3-35% of the image, like the lesions of ISIC 2017."""
    rng = _rng(seed)
    h, w = _size(size)
    kind = kind or SHAPES[int(rng.integers(len(SHAPES)))]
    if kind not in SHAPES:
        raise ValueError(f"kind must be one of {SHAPES}, got {kind!r}")
    scale = min(h, w)
    cy = h / 2 + rng.uniform(-0.12, 0.12) * h
    cx = w / 2 + rng.uniform(-0.12, 0.12) * w
    radius = rng.uniform(0.12, 0.33) * scale
    angle = rng.uniform(0, np.pi)
    if kind == "ellipse":
        ratio = rng.uniform(0.55, 1.0)
        rr, cc = draw.ellipse(cy, cx, radius, radius * ratio, shape=(h, w), rotation=angle)
        mask = np.zeros((h, w), np.uint8)
        mask[rr, cc] = 1
        return mask
    if kind == "polygon":
        n = int(rng.integers(5, 11))  # vertices around the centre, evenly spread with jitter
        theta = (np.arange(n) + rng.uniform(-0.35, 0.35, n)) * (2 * np.pi / n) + angle
        r = radius * rng.uniform(0.7, 1.15, n)
    else:  # star: alternating outer and inner radii
        n = int(rng.integers(5, 9))
        theta = np.linspace(0, 2 * np.pi, 2 * n, endpoint=False) + angle
        r = np.where(np.arange(2 * n) % 2 == 0, radius, radius * rng.uniform(0.45, 0.75))
    return _polygon_mask(cy + r * np.sin(theta), cx + r * np.cos(theta), (h, w))


def elastic_deform(mask: np.ndarray, seed: Seed = None, alpha: float = 0.25, sigma: float = 0.08) -> np.ndarray:
    """Elastic deformation: a random displacement field smoothed by a Gaussian.

    ``alpha`` (displacement magnitude) and ``sigma`` (smoothness) are fractions of the
    mask's shorter side, so the effect is the same at any resolution.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be HW, got shape {mask.shape}")
    rng = _rng(seed)
    h, w = mask.shape
    side = min(h, w)
    dy = ndimage.gaussian_filter(rng.uniform(-1, 1, (h, w)), sigma * side, mode="constant")
    dx = ndimage.gaussian_filter(rng.uniform(-1, 1, (h, w)), sigma * side, mode="constant")
    norm = max(np.abs(dy).max(), np.abs(dx).max(), 1e-8)
    dy, dx = dy / norm * alpha * side, dx / norm * alpha * side
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    warped = ndimage.map_coordinates((mask > 0).astype(np.float32), [yy + dy, xx + dx], order=1, mode="constant")
    return (warped > 0.5).astype(np.uint8)


def largest_contour(mask: np.ndarray, n_points: int) -> np.ndarray | None:
    """The outline of the largest connected region, resampled to ``n_points`` (row, col)
    points equally spaced along its length, counter-clockwise, starting at angle 0 from the
    centroid (so that point i of two shapes corresponds)."""
    labels = measure.label(np.pad(mask > 0, 1))
    if labels.max() == 0:
        return None
    largest = 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    contours = measure.find_contours((labels == largest).astype(float), 0.5)
    contour = max(contours, key=len) - 1.0  # undo the padding
    seg = np.sqrt((np.diff(contour, axis=0) ** 2).sum(1))
    arc = np.concatenate([[0], np.cumsum(seg)])
    t = np.linspace(0, arc[-1], n_points, endpoint=False)
    pts = np.stack([np.interp(t, arc, contour[:, 0]), np.interp(t, arc, contour[:, 1])], 1)
    centre = pts.mean(0)
    signed_area = np.sum(pts[:-1, 1] * pts[1:, 0] - pts[1:, 1] * pts[:-1, 0])
    if signed_area < 0:
        pts = pts[::-1]
    angles = np.arctan2(-(pts[:, 0] - centre[0]), pts[:, 1] - centre[1])
    return np.roll(pts, -int(np.argmin(np.abs(angles))), axis=0)


class PCAShapeModel:
    """Point-distribution model of lesion outlines (Cootes et al. 1995), as Mask2Lesion uses.

    Each outline is ``n_points`` contour points in coordinates relative to the image size,
    centred on its centroid. ``sample`` draws ``b_i ~ U[-k, k]`` and returns the shape
    ``mean + sum_i b_i * sqrt(lambda_i) * phi_i``, rasterised and placed at a centroid
    drawn from the training centroids.
    """

    def __init__(self, n_points: int = 64, n_components: float = 0.98) -> None:
        self.n_points = n_points
        self.n_components = n_components
        self.mean_: np.ndarray | None = None

    def fit(self, masks: Sequence[np.ndarray]) -> PCAShapeModel:
        shapes, centres = [], []
        for mask in masks:
            h, w = mask.shape
            pts = largest_contour(mask, self.n_points)
            if pts is None:
                continue
            pts = pts / np.array([h, w], dtype=float)
            centre = pts.mean(0)
            shapes.append((pts - centre).ravel())
            centres.append(centre)
        if len(shapes) < 2:
            raise ValueError(f"need at least 2 non-empty masks to fit a shape model, got {len(shapes)}")
        x = np.asarray(shapes)
        self.mean_ = x.mean(0)
        _, s, vt = np.linalg.svd(x - self.mean_, full_matrices=False)
        variance = s**2 / (len(x) - 1)
        if isinstance(self.n_components, float):
            k = int(np.searchsorted(np.cumsum(variance) / variance.sum(), self.n_components) + 1)
        else:
            k = int(self.n_components)
        k = max(1, min(k, len(variance)))
        self.components_, self.variance_ = vt[:k], variance[:k]
        self.centres_ = np.asarray(centres)
        return self

    def sample(self, size: int | tuple[int, int], seed: Seed = None, k: float = 2.0) -> np.ndarray:
        """A new binary mask: component weights uniform in [-k, k] standard deviations."""
        if self.mean_ is None:
            raise RuntimeError("fit the shape model before sampling")
        if k < 0:
            raise ValueError(f"k must be non-negative, got {k}")
        rng = _rng(seed)
        h, w = _size(size)
        b = rng.uniform(-k, k, len(self.variance_)) * np.sqrt(self.variance_)
        pts = (self.mean_ + b @ self.components_).reshape(-1, 2)
        centre = self.centres_[int(rng.integers(len(self.centres_)))]
        pts = (pts + centre) * np.array([h, w])
        return _polygon_mask(pts[:, 0], pts[:, 1], (h, w))

    def save(self, path: str) -> None:
        """Store the model as .npz (plain arrays, loaded with allow_pickle=False)."""
        np.savez(path, mean=self.mean_, components=self.components_, variance=self.variance_, centres=self.centres_, n_points=self.n_points)

    @classmethod
    def load(cls, path: str) -> PCAShapeModel:
        with np.load(path, allow_pickle=False) as f:
            model = cls(int(f["n_points"]))
            model.mean_, model.components_ = f["mean"], f["components"]
            model.variance_, model.centres_ = f["variance"], f["centres"]
        return model
