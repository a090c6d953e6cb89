"""Does Mask2Lesion augmentation help a small-data segmenter? Dice for NoAug / ClassicAug /
GANAug / AllAug (the comparison of Abhishek & Hamarneh 2019, Sec. 3.2), on real ISIC 2017 data.

    python examples/segmentation_dice.py --data ../shared/data/isic2017 --train-images 200 --seeds 0 1 2

A MONAI U-Net is trained on the first ``--train-images`` ISIC 2017 training images (128 px)
for each setting and seed, and scored on the 150 validation images:
  NoAug       real images only
  ClassicAug  + flips, 90-degree rotations, affine, colour jitter (Albumentations)
  GANAug      + as many synthetic pairs: Mask2Lesion images for elastically deformed real masks
  AllAug      both
Writes the JSON after every run; rerunning the same command skips the runs it already holds,
so an interrupted experiment continues where it stopped. Prints mean ± std Dice per setting.
"""

import argparse
import json
import time
from pathlib import Path

import albumentations as A
import numpy as np
import torch
from monai.losses import DiceCELoss
from monai.networks.nets import UNet
from torch.utils.data import ConcatDataset, DataLoader, Dataset

import gan_augment as ga
from gan_augment.data import ISIC2017
from gan_augment.functional import square_resize
from gan_augment.mixers import SyntheticBank

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--data", default="../shared/data/isic2017")
p.add_argument("--model", default="mask2lesion-isic2017-128")
p.add_argument("--train-images", type=int, default=200)
p.add_argument("--epochs", type=int, default=40)
p.add_argument("--seeds", type=int, nargs="+", default=[0])
p.add_argument("--out", default="outputs/segmentation_dice.json")
args = p.parse_args()
SIZE = 128

classic = A.Compose([A.HorizontalFlip(), A.VerticalFlip(), A.RandomRotate90(), A.Affine(scale=(0.9, 1.1), rotate=(-20, 20), p=0.5),
                     A.ColorJitter(0.2, 0.2, 0.2, 0.02, p=0.5)], seed=0)


class Pairs(Dataset):
    def __init__(self, items, augment=None):
        self.items, self.augment = items, augment

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        image, mask = self.items[i]
        if self.augment is not None:
            out = self.augment(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        return torch.from_numpy(image).permute(2, 0, 1).float() / 255, torch.from_numpy(np.ascontiguousarray(mask))[None].float()


def load(ds, indices):
    return [(square_resize(ds[i]["image"], SIZE, nearest=False), square_resize(ds[i]["mask"], SIZE, nearest=True)) for i in indices]


def dice(pred, target):
    inter = (pred * target).sum(dim=(1, 2, 3))
    return (2 * inter / (pred.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3))).clamp_min(1e-6)).tolist()


def run(train_sets, val, seed):
    torch.manual_seed(seed)
    net = UNet(spatial_dims=2, in_channels=3, out_channels=1, channels=(16, 32, 64, 128), strides=(2, 2, 2), num_res_units=1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = DiceCELoss(sigmoid=True)
    loader = DataLoader(ConcatDataset(train_sets), batch_size=16, shuffle=True, num_workers=2, generator=torch.Generator().manual_seed(seed))
    for _ in range(args.epochs):
        net.train()
        for x, y in loader:
            opt.zero_grad()
            loss_fn(net(x), y).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        scores = [d for x, y in DataLoader(val, batch_size=32) for d in dice((net(x) > 0).float(), y)]
    return float(np.mean(scores))


train_ds, val_ds = ISIC2017(args.data, "training"), ISIC2017(args.data, "validation")
real = load(train_ds, range(args.train_images))
val = Pairs(load(val_ds, range(len(val_ds))))
bank = SyntheticBank.build(ga.from_pretrained(args.model), f"outputs/bank-dice-{args.train_images}", n=args.train_images,
                           masks="elastic", real=[m for _, m in real], image_size=SIZE, seed=1)
synthetic = [(bank[i]["image"], bank[i]["mask"]) for i in range(len(bank))]
settings = {
    "NoAug": lambda: [Pairs(real)],
    "ClassicAug": lambda: [Pairs(real, classic)],
    "GANAug": lambda: [Pairs(real), Pairs(synthetic)],
    "AllAug": lambda: [Pairs(real, classic), Pairs(synthetic, classic)],
}
out = Path(args.out)
setup = {k: v for k, v in vars(args).items() if k not in ("seeds", "out")}
done = json.loads(out.read_text()) if out.exists() else {}
runs = done.get("runs", {}) if done.get("setup") == setup else {}  # "<seed>/<setting>" -> Dice


def save(summary=None):
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"setup": setup, "seeds": args.seeds, "runs": runs, "dice": summary}, indent=2))
    tmp.replace(out)


for seed in args.seeds:
    for name, make in settings.items():
        if f"{seed}/{name}" in runs:
            print(f"seed {seed} {name:10s} Dice {runs[f'{seed}/{name}']:.4f} (from {out})", flush=True)
            continue
        t0 = time.perf_counter()
        runs[f"{seed}/{name}"] = run(make(), val, seed)
        save()
        print(f"seed {seed} {name:10s} Dice {runs[f'{seed}/{name}']:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
results = {name: [runs[f"{seed}/{name}"] for seed in args.seeds] for name in settings}
summary = {name: {"mean": float(np.mean(v)), "std": float(np.std(v)), "runs": v} for name, v in results.items()}
save(summary)
for name, s in summary.items():
    print(f"{name:10s} Dice {s['mean']:.4f} ± {s['std']:.4f} over seeds {args.seeds}")
