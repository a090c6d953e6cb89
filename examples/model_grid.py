"""One row per bundled checkpoint: what it reads, then its output for 4 seeds (all 128 px).

Mask-conditioned models read one random held-out ISIC 2017 validation mask (the inpainting
model also the real image it came from, shown with the mask's outline); class-conditional noise
models get one random class, the input column showing a random held-out real image of it.

    python examples/model_grid.py --out reports/bundled-models.png
"""

import argparse

import numpy as np
import torch
import torch.nn.functional as F

import gan_augment as ga
from gan_augment.data import open_dataset
from gan_augment.evaluation import load_pairs
from gan_augment.visualize import save_grid

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--isic", default="../shared/data/isic2017", help="held-out masks: its validation split")
parser.add_argument("--ham", default="../shared/data/ham10000", help="held-out class examples: its test split")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--size", type=int, default=128)
parser.add_argument("--out", default="outputs/bundled-models.png")
args = parser.parse_args()

rng = np.random.default_rng(args.seed)
isic = open_dataset(args.isic, "validation")
image, mask = load_pairs(isic, args.size, [int(rng.integers(len(isic)))])
ham = open_dataset(args.ham, "test")


def outline(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The image with the mask's boundary drawn in green."""
    edge = (F.max_pool2d(mask, 3, 1, 1) - mask).bool().expand_as(image)
    green = torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1, 1).expand_as(image)
    return torch.where(edge, green, image)


def to_size(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=args.size, mode="bilinear", align_corners=False) if x.shape[-1] != args.size else x


rows, names = [], []
for entry in ga.list_pretrained():
    g = ga.from_pretrained(entry["name"], device="cpu")
    if g.task == "noise_to_image":
        classes = list(g.class_names or [])
        name = classes[int(rng.integers(len(classes)))] if classes else None
        pool = [i for i, label in enumerate(ham.labels) if label is not None and ham.class_names[label] == name]
        shown = load_pairs(ham, args.size, [int(rng.choice(pool))])[0] if pool else torch.ones(1, 3, args.size, args.size)
        outputs = [to_size(g.generate(n=1, labels=name, seed=args.seed + s)) for s in range(4)]
        names.append(f"{entry['name']} (class {name})")
    else:
        masks, images = to_size(mask), to_size(image)
        reads_image = "images" in g.reads
        shown = outline(images, masks) if reads_image else masks.expand(-1, 3, -1, -1)
        inputs = {"masks": masks, "images": images if reads_image else None}
        outputs = [to_size(g.generate(**inputs, seed=args.seed + s)) for s in range(4)]
        names.append(entry["name"])
    rows.append([shown, *outputs])

columns = [torch.cat([row[c] for row in rows]) for c in range(5)]
path = save_grid(columns, args.out, ["input"] + [f"seed {args.seed + s}" for s in range(4)])
print(f"wrote {path}: rows {'; '.join(names)}")
