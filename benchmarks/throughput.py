"""Synthesis throughput, as ratios against baselines measured in the same run.

1. per-sample vs batched: GANAugment-style calls one image at a time (what a transform in a
   worker does) against one BatchMixer call on the whole batch — the speed-up of the fast path;
2. pipeline overhead: an epoch of a 2-worker DataLoader with and without GANAugment (p=0.5),
   relative to the real-only epoch.
"""

from __future__ import annotations

import time

import albumentations as A
import torch
from torch.utils.data import DataLoader, Dataset

import gan_augment as ga
from gan_augment.data import bundled_sample
from gan_augment.mixers import BatchMixer
from gan_augment.transforms.albumentations import albumentations_worker_init


def _best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def per_sample_vs_batched(model: str, n: int = 32, size: int = 128) -> dict:
    g = ga.from_pretrained(model)
    masks = torch.stack([torch.from_numpy(item["mask"]).float() for item in bundled_sample()] * (n // 6 + 1))[:n]
    masks = torch.nn.functional.interpolate(masks[:, None], size=(size, size), mode="nearest")
    images = torch.rand(n, 3, size, size)
    g.translate(masks=masks[:2], seed=0)  # load + warm up
    per_sample = _best_of(lambda: [g.translate(masks=masks[i : i + 1], seed=i) for i in range(n)])
    mixer = BatchMixer(g, fraction=1.0)
    batched = _best_of(lambda: mixer({"image": images, "mask": masks}))
    return {
        "device": str(g.device), "images": n, "size": size,
        "per_sample_img_per_s": n / per_sample, "batched_img_per_s": n / batched,
        "speedup_batched_over_per_sample": per_sample / batched,
    }


class _Pipeline(Dataset):
    def __init__(self, pipeline, n):
        self.items, self.pipeline, self.n = list(bundled_sample()), pipeline, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        item = self.items[i % len(self.items)]
        out = self.pipeline(image=item["image"], mask=item["mask"])
        return torch.from_numpy(out["image"]).permute(2, 0, 1), torch.from_numpy(out["mask"])


def pipeline_overhead(model: str, n: int = 64, workers: int = 2) -> dict:
    geometry = [A.RandomResizedCrop(size=(128, 128), scale=(0.6, 1.0)), A.HorizontalFlip(), A.RandomRotate90()]

    def epoch(transforms):
        pipeline = A.Compose(transforms, seed=0)
        loader = DataLoader(_Pipeline(pipeline, n), batch_size=16, num_workers=workers, worker_init_fn=albumentations_worker_init)
        return _best_of(lambda: sum(1 for _ in loader), repeats=2)

    real = epoch(geometry)
    with_gan = epoch([*geometry, ga.GANAugment(model, p=0.5, device="cpu")])
    return {
        "images": n, "workers": workers, "real_only_img_per_s": n / real, "with_gan_p05_img_per_s": n / with_gan,
        "slowdown_with_gan": with_gan / real,
    }


if __name__ == "__main__":
    import json

    model = "mask2lesion-isic2017-128"
    print(json.dumps({"per_sample_vs_batched": per_sample_vs_batched(model), "pipeline_overhead": pipeline_overhead(model)}, indent=2))
