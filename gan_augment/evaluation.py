"""Evidence for a mask-conditioned generator on ISIC 2017 (the Mask2Lesion claims).

* Faithfulness: lesions stay inside their masks — the mean grey-level contrast outside vs
  inside the mask, for real validation images and for images synthesised from the same masks.
* Realism: KID between images synthesised from the validation masks and the real
  validation images, relative to the KID between real training images and the same real
  validation images (the floor a perfect generator would reach, up to sampling noise).
* Memorisation: feature distance from each synthetic image to its nearest training image,
  next to the same distance for real validation images.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gan_augment.data import ISIC2017, DermDataset
from gan_augment.functional import square_resize
from gan_augment.metrics import FeatureExtractor, fid, kid, mask_contrast, nearest_real_distance
from gan_augment.synthesizer import Synthesizer


def load_pairs(dataset: DermDataset, size: int, indices: list[int] | None = None) -> tuple[Tensor, Tensor]:
    """Images (N3HW in [0, 1]) and masks (N1HW in {0, 1}) at ``size``, centre-cropped to square."""
    images, masks = [], []
    for i in indices if indices is not None else range(len(dataset)):
        item = dataset[i]
        images.append(torch.from_numpy(square_resize(item["image"], size, nearest=False)).permute(2, 0, 1))
        if "mask" in item:
            masks.append(torch.from_numpy(square_resize(item["mask"], size, nearest=True)))
    x = torch.stack(images).float() / 255.0
    m = torch.stack(masks).unsqueeze(1).float() if masks else torch.empty(0)
    return x, m


def translate_in_batches(synth: Synthesizer, masks: Tensor, *, seed: int, batch_size: int = 32) -> Tensor:
    """Synthesise one image per mask; batch ``b`` uses seed ``seed + b``."""
    return torch.cat(
        [synth.translate(masks=chunk, seed=seed + b) for b, chunk in enumerate(masks.split(batch_size))]
    )


def evaluate_mask_to_image(
    synth: Synthesizer,
    isic2017_root: str | os.PathLike,
    *,
    size: int = 128,
    reference_size: int = 300,
    seed: int = 0,
    extractor: FeatureExtractor | None = None,
) -> dict[str, Any]:
    """Run all three checks; returns raw numbers plus the rows for a model card."""
    val = ISIC2017(isic2017_root, "validation")
    train = ISIC2017(isic2017_root, "training", masks=False)
    rng = np.random.default_rng(seed)
    reference_idx = sorted(rng.choice(len(train), min(reference_size, len(train)), replace=False).tolist())

    val_images, val_masks = load_pairs(val, size)
    train_images, _ = load_pairs(train, size)
    synthetic = translate_in_batches(synth, val_masks, seed=seed)

    extractor = extractor or FeatureExtractor()
    f_val, f_syn, f_train = extractor(val_images), extractor(synthetic), extractor(train_images)
    f_ref = f_train[reference_idx]
    kid_syn, kid_syn_std = kid(f_syn, f_val, seed=seed)
    kid_real, kid_real_std = kid(f_ref, f_val, seed=seed)
    c_real, c_syn = mask_contrast(val_images, val_masks), mask_contrast(synthetic, val_masks)
    nn_syn = nearest_real_distance(f_syn, f_train)
    nn_val = nearest_real_distance(f_val, f_train)
    raw = {
        "n_validation": len(val),
        "n_reference_train": len(reference_idx),
        "image_size": size,
        "seed": seed,
        "kid_synthetic_vs_val": kid_syn,
        "kid_synthetic_vs_val_std": kid_syn_std,
        "kid_real_train_vs_val": kid_real,
        "kid_real_train_vs_val_std": kid_real_std,
        "kid_ratio": kid_syn / kid_real if kid_real > 0 else float("inf"),
        "fid_synthetic_vs_val": fid(f_syn, f_val),
        "fid_real_train_vs_val": fid(f_ref, f_val),
        "contrast_real_mean": float(c_real.nanmean()),
        "contrast_real_std": float(c_real[~c_real.isnan()].std()),
        "contrast_synthetic_mean": float(c_syn.nanmean()),
        "contrast_synthetic_std": float(c_syn[~c_syn.isnan()].std()),
        "contrast_synthetic_positive_fraction": float((c_syn > 0).float().mean()),
        "nn_distance_synthetic_median": float(nn_syn.median()),
        "nn_distance_val_median": float(nn_val.median()),
    }
    return {"raw": raw, "synthetic": synthetic, "val_images": val_images, "val_masks": val_masks}


def card_evaluation(raw: dict[str, Any], command: str) -> dict[str, Any]:
    """The ``evaluation`` block that :func:`gan_augment.cards.render_card` renders."""
    r = raw
    return {
        "description": (
            f"On the {r['n_validation']} ISIC 2017 validation masks at {r['image_size']} px (seed {r['seed']}). "
            "KID/FID use pooled features of the offline ImageNet EfficientNet-Lite0; KID is the mean (± std) "
            "over 100 random subsets of 100. The reference is the KID between "
            f"{r['n_reference_train']} real training images and the real validation images. Contrast is the mean "
            "grey level outside the mask minus inside (lesions are darker than skin)."
        ),
        "rows": [
            {"name": "KID synthetic vs real validation", "value": f"{r['kid_synthetic_vs_val']:.4f} ± {r['kid_synthetic_vs_val_std']:.4f}"},
            {"name": "KID real training vs real validation (reference)", "value": f"{r['kid_real_train_vs_val']:.4f} ± {r['kid_real_train_vs_val_std']:.4f}"},
            {"name": "KID ratio (target ≤ 2)", "value": f"{r['kid_ratio']:.2f}"},
            {"name": "FID synthetic vs real validation (150 images, biased)", "value": f"{r['fid_synthetic_vs_val']:.1f}"},
            {"name": "FID real training vs real validation (reference)", "value": f"{r['fid_real_train_vs_val']:.1f}"},
            {"name": "contrast outside-inside, real", "value": f"{r['contrast_real_mean']:.3f} ± {r['contrast_real_std']:.3f}"},
            {"name": "contrast outside-inside, synthetic", "value": f"{r['contrast_synthetic_mean']:.3f} ± {r['contrast_synthetic_std']:.3f}"},
            {"name": "synthetic images darker inside than outside", "value": f"{100 * r['contrast_synthetic_positive_fraction']:.0f}%"},
            {"name": "median feature distance to nearest training image: synthetic / real validation", "value": f"{r['nn_distance_synthetic_median']:.3f} / {r['nn_distance_val_median']:.3f}"},
        ],
        "metric_names": ["kid", "fid"],
        "command": command,
        "raw": r,
    }


def evaluate_noise_generator(
    synth: Synthesizer,
    train: DermDataset,
    test: DermDataset,
    *,
    size: int = 64,
    n: int = 500,
    seed: int = 0,
    extractor: FeatureExtractor | None = None,
) -> dict[str, Any]:
    """KID of ``n`` samples (classes in the test set's proportions for conditional models)
    against the real test images, next to the KID of ``n`` real training images."""
    rng = np.random.default_rng(seed)
    test_idx = sorted(rng.choice(len(test), min(n, len(test)), replace=False).tolist())
    train_idx = sorted(rng.choice(len(train), min(n, len(train)), replace=False).tolist())
    test_images, _ = load_pairs(test, size, test_idx)
    train_images, _ = load_pairs(train, size, train_idx)
    conditional = bool(getattr(synth.network, "num_classes", 0))
    labels = [test.records[i].label for i in test_idx] if conditional else None
    synthetic = torch.cat(
        [
            synth.sample(len(chunk), labels=chunk if conditional else None, seed=seed + b, size=size)
            for b, chunk in enumerate(np.array_split(labels if conditional else np.zeros(len(test_idx), int), max(1, len(test_idx) // 64)))
        ]
    )
    extractor = extractor or FeatureExtractor()
    f_test, f_syn, f_train = extractor(test_images), extractor(synthetic), extractor(train_images)
    kid_syn, kid_syn_std = kid(f_syn, f_test, seed=seed)
    kid_real, kid_real_std = kid(f_train, f_test, seed=seed)
    raw = {
        "n": len(test_idx), "image_size": size, "seed": seed,
        "kid_synthetic_vs_test": kid_syn, "kid_synthetic_vs_test_std": kid_syn_std,
        "kid_real_train_vs_test": kid_real, "kid_real_train_vs_test_std": kid_real_std,
        "kid_ratio": kid_syn / kid_real if kid_real > 0 else float("inf"),
        "nn_distance_synthetic_median": float(nearest_real_distance(f_syn, f_train).median()),
        "nn_distance_test_median": float(nearest_real_distance(f_test, f_train).median()),
    }
    return {"raw": raw, "synthetic": synthetic, "real": test_images}
