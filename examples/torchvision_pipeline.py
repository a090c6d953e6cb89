"""Mask2Lesion in a torchvision v2 pipeline (tv_tensors.Image + tv_tensors.Mask).

    python examples/torchvision_pipeline.py [--data ../shared/data/isic2017] [--out outputs/torchvision.png]
"""

import argparse

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from gan_augment.data import bundled_sample, open_dataset
from gan_augment.transforms.torchvision import RandomGANAugment
from gan_augment.visualize import save_grid

parser = argparse.ArgumentParser()
parser.add_argument("--data", default=None, help="ISIC 2017 root (default: the bundled 6-image sample)")
parser.add_argument("--out", default="outputs/torchvision.png")
args = parser.parse_args()

transform = v2.Compose([
    v2.RandomResizedCrop(128, scale=(0.6, 1.0), antialias=True),
    v2.RandomHorizontalFlip(),
    RandomGANAugment("mask2lesion-isic2017-128", p=0.5, device="cpu"),
    v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64}, scale=True),
])


class Segmentation(Dataset):
    def __init__(self, data):
        self.data = data

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        item = self.data[i]
        image = tv_tensors.Image(torch.from_numpy(item["image"]).permute(2, 0, 1))
        return transform(image, tv_tensors.Mask(torch.from_numpy(item["mask"])))


data = open_dataset(args.data, "validation") if args.data else bundled_sample()
torch.manual_seed(0)
loader = DataLoader(Segmentation(data), batch_size=6, shuffle=True, num_workers=2)
images, masks = next(iter(loader))
save_grid([masks.float(), images], args.out, titles=["mask", "image"])
print(f"one batch of {len(images)} ({images.dtype}, {tuple(images.shape[1:])}) -> {args.out}")
