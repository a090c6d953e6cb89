"""One row per bundled checkpoint: what it reads, then its output for 4 seeds (all 128 px).

Mask-conditioned models read one random held-out ISIC 2017 validation mask (the inpainting
model also the real image it came from, shown with the mask's outline); class-conditional noise
models get one random class, the input column showing a random held-out real image of it.
Translators between lesion-free skin and lesion crops read their own domain, from one random
held-out ISIC 2017 validation image that has both: ``add`` a skin patch with the lesion crop's
mask (outlined), ``remove`` the lesion crop (and its mask). Deterministic translators (no noise
input) give one image for all seeds; the printed row names say which.

    python examples/model_grid.py --out reports/bundled-models.png
"""

import argparse

import numpy as np
import torch
import torch.nn.functional as F

import gan_augment as ga
from gan_augment.data import open_dataset
from gan_augment.evaluation import load_pairs
from gan_augment.realism_domains import domain_halves
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
domain_inputs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def domain_input(direction: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(image, mask) of one random held-out image in ``direction``'s input domain."""
    if direction not in domain_inputs:
        order = [int(i) for i in rng.permutation(len(isic))]
        for index in order:
            try:
                inputs = domain_halves(isic, [index], [index], args.size, direction)[0]
            except ValueError:  # this image lacks a lesion-free patch or a lesion
                continue
            domain_inputs[direction] = inputs.images[:1], inputs.masks[:1]
            break
        else:
            raise SystemExit(f"no ISIC 2017 validation image has the inputs of the {direction!r} domain")
    return domain_inputs[direction]


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
        images, masks = (to_size(x) for x in (domain_input(g.direction) if g.direction else (image, mask)))
        reads_image = "images" in g.reads
        shown = masks.expand(-1, 3, -1, -1) if not reads_image else outline(images, masks) if "masks" in g.reads else images
        inputs = {"masks": masks, "images": images if reads_image else None}
        outputs = [to_size(g.generate(**inputs, seed=args.seed + s)) for s in range(4)]
        same = all(torch.equal(outputs[0], out) for out in outputs[1:])
        names.append(entry["name"] + (f" ({g.direction})" if g.direction else "") + (" [deterministic: the seeds give one image]" if same else ""))
    rows.append([shown, *outputs])

columns = [torch.cat([row[c] for row in rows]) for c in range(5)]
path = save_grid(columns, args.out, ["input"] + [f"seed {args.seed + s}" for s in range(4)])
print(f"wrote {path}: rows {'; '.join(names)}")
