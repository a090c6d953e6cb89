"""Mask2Lesion as one more transform in an Albumentations segmentation pipeline.

    python examples/albumentations_pipeline.py [--data ../shared/data/isic2017] [--out outputs/albumentations.png]

Geometric augmentation first, then GANAugment redraws the lesion image for the augmented
mask (p=0.5); a 2-worker DataLoader, each worker with its own augmentation seed.
"""

import argparse

import albumentations as A
import torch
from torch.utils.data import DataLoader, Dataset

import gan_augment as ga
from gan_augment.data import bundled_sample, open_dataset
from gan_augment.transforms.albumentations import albumentations_worker_init
from gan_augment.visualize import save_grid

parser = argparse.ArgumentParser()
parser.add_argument("--data", default=None, help="ISIC 2017 root (default: the bundled 6-image sample)")
parser.add_argument("--out", default="outputs/albumentations.png")
args = parser.parse_args()


class Segmentation(Dataset):
    def __init__(self, data, pipeline):
        self.data, self.pipeline = data, pipeline

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        item = self.data[i]
        out = self.pipeline(image=item["image"], mask=item["mask"])
        return {"image": torch.from_numpy(out["image"]).permute(2, 0, 1).float() / 255, "mask": torch.from_numpy(out["mask"])[None].float()}


pipeline = A.Compose(
    [
        A.RandomResizedCrop(size=(128, 128), scale=(0.6, 1.0)),
        A.HorizontalFlip(),
        A.RandomRotate90(),
        ga.GANAugment("mask2lesion-isic2017-128", p=0.5, device="cpu"),  # loaded lazily in each worker
    ],
    seed=0,
)
data = open_dataset(args.data, "validation") if args.data else bundled_sample()
loader = DataLoader(
    Segmentation(data, pipeline), batch_size=8, shuffle=True, num_workers=2,
    worker_init_fn=albumentations_worker_init, generator=torch.Generator().manual_seed(0),
)
batch = next(iter(loader))
save_grid([batch["mask"], batch["image"]], args.out, titles=["mask", "image (half synthetic)"])
print(f"one batch of {len(batch['image'])} from {len(data)} images -> {args.out}")
