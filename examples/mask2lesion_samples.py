"""Sample grid of a whole-image Mask2Lesion model on held-out masks.

One row per held-out mask (random, seeded): the mask, the real image it was drawn from (for
reference only: the model never saw it), and the model's images for 4 seeds.

    python examples/mask2lesion_samples.py --model mask2lesion-isic2017-128 --data ../shared/data/isic2017 --split validation
"""

import argparse

import numpy as np

import gan_augment as ga
from gan_augment.data import open_dataset
from gan_augment.evaluation import load_pairs
from gan_augment.visualize import save_grid

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--model", default="mask2lesion-isic2017-128")
parser.add_argument("--data", default="../shared/data/isic2017")
parser.add_argument("--split", default="validation")
parser.add_argument("--rows", type=int, default=6)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default="outputs/mask2lesion-samples.png")
args = parser.parse_args()

g = ga.from_pretrained(args.model, device="cpu")
data = open_dataset(args.data, args.split)
picks = sorted(np.random.default_rng(args.seed).choice(len(data), args.rows, replace=False).tolist())
images, masks = load_pairs(data, g.image_size, picks)
columns = [masks, images] + [g.translate(masks=masks, seed=args.seed + s) for s in range(4)]
titles = ["mask", "real (ref.)"] + [f"seed {args.seed + s}" for s in range(4)]
print(f"wrote {save_grid(columns, args.out, titles)}")
