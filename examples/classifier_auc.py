"""Do class-balanced synthetic images help a skin-lesion classifier? AUC with real vs
real + synthetic training sets, in distribution (HAM10000 test part) and out of it (ISIC 2017),
the comparison of Bissoto et al. 2018 / 2021.

    python examples/classifier_auc.py --ham ../shared/data/ham10000 --isic ../shared/data/isic2017 --seeds 0 1 2

An ImageNet EfficientNet-Lite0 (offline, from PyPI) is fine-tuned on the HAM10000 training
part (lesion-grouped split) at 64 px, once on real images only and once with every class
topped up to ``--per-class`` images by the class-conditional DCGAN. Reports melanoma-vs-rest
AUC and macro one-vs-rest AUC on the HAM10000 test part, and melanoma AUC on all ISIC 2017 images.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

import gan_augment as ga
from gan_augment.data import ISIC2017, open_dataset
from gan_augment.functional import square_resize
from gan_augment.metrics import efficientnet_lite0
from gan_augment.mixers import MixedDataset

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--ham", default="../shared/data/ham10000")
p.add_argument("--isic", default="../shared/data/isic2017")
p.add_argument("--model", default="dcgan-ham10000-64")
p.add_argument("--per-class", type=int, default=1000, help="top every class up to this many images (synthetic)")
p.add_argument("--epochs", type=int, default=4)
p.add_argument("--seeds", type=int, nargs="+", default=[0])
p.add_argument("--out", default="outputs/classifier_auc.json")
args = p.parse_args()
SIZE, MEL = 64, "mel"


def auc(scores, positives):
    """Mann-Whitney AUC (ties count half)."""
    s, y = np.asarray(scores), np.asarray(positives, bool)
    ranks = np.argsort(np.argsort(s, kind="mergesort"), kind="mergesort").astype(float) + 1
    for v in np.unique(s):  # average ranks of ties
        ranks[s == v] = ranks[s == v].mean()
    n_pos, n_neg = y.sum(), (~y).sum()
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class Tensors(Dataset):
    def __init__(self, items, flip=False):
        self.items, self.flip = items, flip

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        item = self.items[i]
        x = torch.from_numpy(square_resize(item["image"], SIZE, nearest=False)).permute(2, 0, 1).float() / 255
        if self.flip:
            x = torch.rot90(x, int(torch.randint(4, ())), dims=(1, 2))
        return (x - 0.5) / 0.5, item["label"]


def predict(net, dataset):
    net.eval()
    with torch.no_grad():
        return torch.cat([net(x).softmax(1) for x, _ in DataLoader(dataset, batch_size=128, num_workers=2)]).numpy()


def train(items, seed):
    torch.manual_seed(seed)
    net = efficientnet_lite0()
    net._fc = torch.nn.Linear(net._fc.in_features, 7)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-4)
    loader = DataLoader(Tensors(items, flip=True), batch_size=64, shuffle=True, num_workers=2, generator=torch.Generator().manual_seed(seed))
    for _ in range(args.epochs):
        net.train()
        for x, y in loader:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    return net


ham_train, ham_test = open_dataset(args.ham, "training"), open_dataset(args.ham, "test")
isic = [it for split in ("training", "validation") for it in ISIC2017(args.isic, split, masks=False)]
names = list(ham_train.class_names)
counts = np.bincount(ham_train.labels, minlength=7)
top_up = {c: int(max(0, args.per_class - counts[c])) for c in range(7)}
mixed = MixedDataset(ham_train, ga.from_pretrained(args.model), class_balance=top_up, seed=0)
real_items = [ham_train[i] for i in range(len(ham_train))]
synthetic_items = [mixed[i] for i in range(len(ham_train), len(mixed))]
print(f"real {len(real_items)} (per class {counts.tolist()}); synthetic {len(synthetic_items)} (top-up {top_up})", flush=True)
test_set, ood_set = Tensors([ham_test[i] for i in range(len(ham_test))]), Tensors([{**it, "label": it["label"]} for it in isic])
out = Path(args.out)
setup = {k: v for k, v in vars(args).items() if k not in ("seeds", "out")}
done = json.loads(out.read_text()) if out.exists() else {}
finished = done.get("finished", {}) if done.get("setup") == setup else {}  # "<seed>/<setting>" -> row


def save(summary=None):
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"setup": setup, "seeds": args.seeds, "finished": finished, "summary": summary}, indent=2))
    tmp.replace(out)


y = np.asarray([ham_test.records[i].label for i in range(len(ham_test))])
mel = names.index(MEL)
for seed in args.seeds:
    for name, items in (("real", real_items), ("real+synthetic", real_items + synthetic_items)):
        if f"{seed}/{name}" in finished:
            print(f"seed {seed} {name:15s} {finished[f'{seed}/{name}']} (from {out})", flush=True)
            continue
        t0 = time.perf_counter()
        net = train(items, seed)
        probs = predict(net, test_set)
        row = {
            "seed": seed,
            "ham_melanoma_auc": auc(probs[:, mel], y == mel),
            "ham_macro_auc": float(np.mean([auc(probs[:, c], y == c) for c in range(7)])),
            "isic2017_melanoma_auc": auc(predict(net, ood_set)[:, mel], [it["label"] == 1 for it in isic]),
        }
        finished[f"{seed}/{name}"] = row
        save()
        print(f"seed {seed} {name:15s} {row} ({time.perf_counter() - t0:.0f} s)", flush=True)
results = {name: [finished[f"{seed}/{name}"] for seed in args.seeds] for name in ("real", "real+synthetic")}
summary = {
    name: {k: (float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows]))) for k in rows[0] if k != "seed"}
    for name, rows in results.items()
}
save(summary)
for name, s in summary.items():
    print(f"{name:15s} " + "  ".join(f"{k} {m:.3f}±{sd:.3f}" for k, (m, sd) in s.items()))
