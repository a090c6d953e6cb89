"""Sample grid of a background-preserving inpainting model on held-out images.

One row per held-out image (random, seeded): the real image, its mask, the model's
re-textured lesions for 4 seeds, and one reshape (a new mask drawn from the old one, old
lesion painted over) with its new mask outlined. Images are shown whole, at 192 px.

    python examples/inpaint_samples.py --model mask2lesion-inpaint-128 --data ../shared/data/ham10000 --split test
"""

import argparse

import numpy as np
import torch

import gan_augment as ga
from gan_augment.data import open_dataset
from gan_augment.evaluation import load_pairs
from gan_augment.transforms._core import reshaped_mask
from gan_augment.visualize import save_grid

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--model", default="mask2lesion-inpaint-128")
parser.add_argument("--data", default="../shared/data/ham10000")
parser.add_argument("--split", default="test")
parser.add_argument("--rows", type=int, default=6)
parser.add_argument("--size", type=int, default=192)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default="outputs/inpaint-samples.png")
args = parser.parse_args()

g = ga.from_pretrained(args.model, device="cpu")
data = open_dataset(args.data, args.split)
rng = np.random.default_rng(args.seed)
picks = sorted(rng.choice(len(data), 4 * args.rows, replace=False).tolist())
images, masks = load_pairs(data, args.size, picks)
keep = (masks.flatten(1).sum(1) > 0).nonzero().flatten()[: args.rows]
images, masks = images[keep], masks[keep]

columns = [images, masks]
for seed in range(4):
    columns.append(g.translate(images=images, masks=masks, seed=args.seed + seed))
new_masks = torch.stack([reshaped_mask(m[0], args.seed + i, 0.3) for i, m in enumerate(masks)]).unsqueeze(1)
reshaped = g.translate(images=images, masks=new_masks, erase_masks=masks, seed=args.seed)
edge = (torch.nn.functional.max_pool2d(new_masks, 3, 1, 1) - new_masks).bool().expand_as(reshaped)
outlined = reshaped.clone()
outlined[edge] = torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1, 1).expand_as(reshaped)[edge]
columns += [reshaped, outlined]
titles = ["real (held out)", "mask", "seed 0", "seed 1", "seed 2", "seed 3", "reshape", "new mask"]
print("wrote", save_grid(columns, args.out, titles=titles))
