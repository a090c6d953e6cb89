"""Class balancing with a class-conditional generator: top up rare HAM10000 classes.

    python examples/mix_for_classification.py [--data ../shared/data/ham10000] [--out outputs/mix_classification.png]

The bundled class-conditional DCGAN (HAM10000 training split, 7 classes, 64 px) adds
synthetic images of each class until every class has as many as the majority class (nv);
the training split is lesion-grouped (`grouped_split`), so no lesion leaks into the test part.
"""

import argparse
from collections import Counter

import torch
from torch.utils.data import DataLoader

import gan_augment as ga
from gan_augment.data import open_dataset
from gan_augment.functional import square_resize
from gan_augment.mixers import BatchMixer, MixedDataset
from gan_augment.visualize import save_grid

parser = argparse.ArgumentParser()
parser.add_argument("--data", default="../shared/data/ham10000")
parser.add_argument("--model", default="dcgan-ham10000-64")
parser.add_argument("--out", default="outputs/mix_classification.png")
args = parser.parse_args()

g = ga.from_pretrained(args.model)
real = open_dataset(args.data, "training")  # HAM10000: the 80 % lesion-grouped training part
names = real.class_names


def to_tensors(item):
    image = torch.from_numpy(square_resize(item["image"], 64, nearest=False)).permute(2, 0, 1).float() / 255
    return {"image": image, "label": item["label"], "synthetic": item["synthetic"]}


balanced = MixedDataset(real, g, class_balance="majority", seed=0, transform=to_tensors)
before = Counter(real.labels)
after = before + Counter(balanced.synthetic_labels())
for c in range(len(names)):
    print(f"{names[c]:>6}: {before[c]:5d} real + {after[c] - before[c]:5d} synthetic = {after[c]}")

# the fast path: synthetic images for a fraction of each batch, with the batch's own labels
loader = DataLoader(balanced, batch_size=14, shuffle=True, num_workers=2, generator=torch.Generator().manual_seed(0))
batch = BatchMixer(g, fraction=0.5, seed=0)(next(iter(loader)))
print(f"batch labels {[names[i] for i in batch['label'].tolist()]}; synthetic {batch['synthetic'].tolist()}")

per_class = torch.cat([g.sample(4, labels=c, seed=c) for c in range(len(names))])
save_grid([per_class[i::4] for i in range(4)], args.out, titles=[f"seed {i}" for i in range(4)])
print(f"4 samples per class ({', '.join(names)}; one row each) -> {args.out}")
