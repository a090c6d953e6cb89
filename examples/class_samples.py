"""Sample grid of a class-conditional noise model: one row per class, one column per seed,
and a first column of random real held-out images of that class for comparison.

    python examples/class_samples.py --model dcgan-ham10000-64 --data ../shared/data/ham10000 --split test
"""

import argparse

import numpy as np
import torch

import gan_augment as ga
from gan_augment.data import open_dataset
from gan_augment.evaluation import load_pairs
from gan_augment.visualize import save_grid

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--model", default="dcgan-ham10000-64")
parser.add_argument("--data", default="../shared/data/ham10000")
parser.add_argument("--split", default="test")
parser.add_argument("--seeds", type=int, default=8)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default="outputs/class-samples.png")
args = parser.parse_args()

g = ga.from_pretrained(args.model, device="cpu")
names = list(g.class_names or [])
if not names:
    raise SystemExit(f"{args.model} is not class-conditional")
data = open_dataset(args.data, args.split)
rng = np.random.default_rng(args.seed)
real = []
for c, name in enumerate(names):  # one random real image per class, resized as the model's outputs
    pool = [i for i, label in enumerate(data.labels) if label is not None and data.class_names[label] == name]
    real.append(load_pairs(data, g.image_size, [int(rng.choice(pool))])[0] if pool else torch.ones(1, 3, g.image_size, g.image_size))
columns = [torch.cat(real)]
for s in range(args.seeds):
    columns.append(g.sample(len(names), labels=list(range(len(names))), seed=args.seed + s))
path = save_grid(columns, args.out, ["real"] + [f"seed {args.seed + s}" for s in range(args.seeds)])
print(f"wrote {path}: rows {', '.join(names)}")
