"""``gan-augment demo``: the bundled Mask2Lesion generator inside an Albumentations pipeline.

For each mask — real ones from the bundled ISIC 2017 sample and random geometric /
elastically deformed shapes — the same seeded geometric augmentation runs with and without
``GANAugment`` at the end, and a PNG grid shows mask | real (augmented) | synthetic.
"""

from __future__ import annotations

import time
from pathlib import Path

import albumentations as A
import numpy as np
import torch

from gan_augment.data import bundled_sample
from gan_augment.masks import elastic_deform, geometric_mask
from gan_augment.metrics import mask_contrast
from gan_augment.synthesizer import from_pretrained
from gan_augment.transforms.albumentations import GANAugment
from gan_augment.visualize import save_grid


def _geometry() -> list[A.BasicTransform]:
    return [
        A.HorizontalFlip(p=0.5),
        A.RandomRotate90(p=1.0),
        A.Affine(scale=(0.9, 1.1), rotate=(-15, 15), p=1.0),
    ]


def run_demo(model: str = "mask2lesion-isic2017-128", out: str = "outputs/demo.png", seed: int = 0, n_shapes: int = 4) -> Path:
    t0 = time.perf_counter()
    synth = from_pretrained(model)
    sample = bundled_sample()
    size = 256
    items = [sample[i] for i in range(len(sample))]
    rng = np.random.default_rng(seed)
    shapes = [geometric_mask(size, rng, kind) for kind in ("ellipse", "polygon", "star")][: max(n_shapes - 1, 0)]
    shapes.append(elastic_deform(items[0]["mask"], rng))
    skin = np.full((size, size, 3), (200, 160, 140), np.uint8)  # placeholder "real" for drawn masks
    cases = [(it["image"], it["mask"], "real") for it in items] + [(skin, m, "shape") for m in shapes]

    masks, reals, fakes = [], [], []
    for k, (image, mask, _) in enumerate(cases):
        geometric = A.Compose(_geometry(), seed=seed + k)
        with_gan = A.Compose([*_geometry(), GANAugment(synth, p=1.0)], seed=seed + k)
        real = geometric(image=image, mask=mask)
        fake = with_gan(image=image, mask=mask)
        assert np.array_equal(real["mask"], fake["mask"])  # same seed -> same geometry
        masks.append(torch.from_numpy(fake["mask"]).float()[None])
        reals.append(torch.from_numpy(real["image"]).permute(2, 0, 1).float() / 255)
        fakes.append(torch.from_numpy(fake["image"]).permute(2, 0, 1).float() / 255)
    m, r, f = torch.stack(masks), torch.stack(reals), torch.stack(fakes)
    n_real = len(items)
    for i in range(n_real, len(cases)):
        r[i] = 0.85  # no real image for a drawn mask: light grey
    path = save_grid([m, r, f], out, titles=["mask", "real (augmented)", "synthetic"])
    c_real = mask_contrast(r[:n_real], m[:n_real]).mean().item()
    c_fake = mask_contrast(f, m).mean().item()
    print(
        f"wrote {path}: {len(cases)} masks ({n_real} real ISIC 2017, {len(shapes)} synthetic shapes) -> "
        f"{synth.architecture} '{model}' ({synth.image_size}px) on {synth.device} in {time.perf_counter() - t0:.1f} s; "
        f"lesion darker than skin by {c_fake:.3f} (synthetic) vs {c_real:.3f} (real) grey levels"
    )
    return path
