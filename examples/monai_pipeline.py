"""Mask2Lesion in a MONAI dictionary pipeline (RandGANAugmentd), with MONAI's DataLoader.

    python examples/monai_pipeline.py [--data ../shared/data/isic2017] [--out outputs/monai.png]

MONAI seeds every worker's random transforms itself; metadata of MetaTensors is kept.
"""

import argparse

from monai.data import DataLoader, Dataset
from monai.transforms import Compose, EnsureTyped, RandFlipd, RandRotate90d, Resized

from gan_augment.data import bundled_sample, open_dataset
from gan_augment.transforms.monai import RandGANAugmentd
from gan_augment.visualize import save_grid

parser = argparse.ArgumentParser()
parser.add_argument("--data", default=None, help="ISIC 2017 root (default: the bundled 6-image sample)")
parser.add_argument("--out", default="outputs/monai.png")
args = parser.parse_args()

data = open_dataset(args.data, "validation") if args.data else bundled_sample()
records = [  # channel-first dicts, as MONAI's loaders produce them
    {"image": item["image"].transpose(2, 0, 1) / 255.0, "label": item["mask"][None], "id": item["id"]} for item in data
]
transform = Compose([
    EnsureTyped(keys=("image", "label")),
    Resized(keys=("image", "label"), spatial_size=(128, 128), mode=("bilinear", "nearest")),
    RandFlipd(keys=("image", "label"), prob=0.5, spatial_axis=1),
    RandRotate90d(keys=("image", "label"), prob=0.5),
    RandGANAugmentd(keys=("image", "label"), generator="mask2lesion-isic2017-128", prob=0.5, device="cpu"),
])
transform.set_random_state(0)
loader = DataLoader(Dataset(records, transform=transform), batch_size=6, num_workers=2)
batch = next(iter(loader))
images = batch["image"].as_tensor().clamp(0, 1).float()
save_grid([batch["label"].as_tensor().float(), images], args.out, titles=["label", "image"])
print(f"one batch of {len(images)} from {len(records)} images -> {args.out}; ids {batch['id'][:3]}...")
