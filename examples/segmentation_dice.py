"""When does GAN augmentation help a lesion segmenter? Dice per arm, seed, training fraction
and test set, with bootstrap intervals and paired tests (issue #14).

    # quick: 2 CPU cores, an estimated 85 min (64 px, 250 steps a run, 105 runs; README: how estimated)
    python examples/segmentation_dice.py --config quick --out examples/results/dice-quick
    # full: for a GPU (128 px, 3000 steps a run, 4 synthetic variants per image)
    python examples/segmentation_dice.py --config full --out examples/results/dice-full

A MONAI U-Net is trained for a fixed number of steps on a seeded fraction of the training
set (``--fractions``; the subsets of one seed are nested and the same for every arm) and
scored on every ``--test-data`` set (per-image Dice, logits > 0). Arms:

  NoAug          real images only
  ClassicAug     + flips, 90-degree rotations, affine, colour jitter (Albumentations)
  CopyPaste      each image, with probability p, gets a real lesion of another image of the
                 same training subset pasted into its mask (gan_augment.LesionCopyPaste):
                 the no-learning baseline a GAN must beat
  GAN-retexture  with probability p the image is replaced by the background-preserving model
                 (mask2lesion-inpaint-128) painting a new lesion into the same mask
  GAN-reshape    the same model drawing a new, elastically deformed lesion shape (new mask)
  GAN-whole      the whole-image Mask2Lesion (mask2lesion-isic2017-128) drawn for an
                 elastically deformed copy of the image's mask
  AllAug         ClassicAug on top of the three GAN sources (one drawn at random)

The synthetic variants (``--variants`` per training image and source) are generated once
per training image with the library's transforms (``ga.GANAugment``) and reused by every
run that holds that image. Note: the bundled generators were trained on the full ISIC 2017
training set (and the inpainting model on HAM10000's training part too), so at 10 % the GAN
arms carry knowledge of images outside the subset; the copy-paste bank does not.

Every finished (test set, fraction, arm, seed) cell is written to ``--out`` at once; rerunning
the same command skips finished cells (other settings in the same folder are refused).
``--report-only`` rewrites ``report.md``, ``summary.json`` and the box plots from the cells.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import torch
from monai.losses import DiceCELoss
from monai.networks.nets import UNet
from torch.utils.data import DataLoader, Dataset, RandomSampler

import gan_augment as ga
from gan_augment.functional import square_resize
from gan_augment.masks import elastic_deform

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _evidence as ev

SCRIPT = "examples/segmentation_dice.py"
ARMS = ["NoAug", "ClassicAug", "CopyPaste", "GAN-retexture", "GAN-reshape", "GAN-whole", "AllAug"]
SOURCES = {"GAN-retexture": ["retexture"], "GAN-reshape": ["reshape"], "GAN-whole": ["whole"], "AllAug": ["retexture", "reshape", "whole"]}
BASELINES = ["ClassicAug", "CopyPaste"]
GEN_SIZE = 128  # the bundled generators' native size: synthetic variants are drawn here, then resized
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "image_size": 64, "steps": 250, "batch_size": 16, "lr": 1e-3, "channels": "16,32,64,128", "variants": 1,
        "p_synthetic": 0.5, "max_train_images": None, "max_test_images": None, "n_boot": 2000,
    },
    "full": {
        "image_size": 128, "steps": 3000, "batch_size": 16, "lr": 1e-3, "channels": "32,64,128,256", "variants": 4,
        "p_synthetic": 0.5, "max_train_images": None, "max_test_images": None, "n_boot": 5000,
    },
}
REPORT_ONLY_KEYS = ("n_boot",)  # change the report, not the cells: not part of the settings a rerun must match
DEFAULT_TRAIN = "../shared/data/isic2017@training"
DEFAULT_TESTS = ["../shared/data/isic2017@validation", "../shared/data/ham10000@test"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p, overrides = ev.common_parser(__doc__, PRESETS, "segmentation_dice", ARMS, DEFAULT_TRAIN, DEFAULT_TESTS, "--data")
    p.add_argument("--inpaint-model", default="mask2lesion-inpaint-128")
    p.add_argument("--whole-model", default="mask2lesion-isic2017-128")
    overrides.add_argument("--channels", help="U-Net channels, comma list")
    overrides.add_argument("--variants", type=int, help="synthetic variants per training image and source")
    overrides.add_argument("--p-synthetic", type=float, help="probability that a sample is replaced / pasted into")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- data


def load_pairs(dataset, size: int) -> tuple[np.ndarray, np.ndarray]:
    """All images (N, size, size, 3) uint8 and masks (N, size, size) {0, 1} (square crop + resize)."""
    images, masks = [], []
    for i in range(len(dataset)):
        item = dataset[i]
        images.append(square_resize(item["image"], size, nearest=False))
        masks.append(square_resize(item["mask"], size, nearest=True))
    return np.stack(images), np.stack(masks).astype(np.uint8)


def resize_pair(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    return square_resize(image, size, nearest=False), square_resize(mask.astype(np.uint8), size, nearest=True)


def variant_seed(source: str, index: int, variant: int) -> int:
    return int(np.random.SeedSequence([14, ["retexture", "reshape", "whole"].index(source), index, variant]).generate_state(1)[0])


def make_variants(
    sources: set[str], indices: list[int], images: np.ndarray, masks: np.ndarray, k: int, size: int, models: dict[str, Any]
) -> dict[str, dict[int, list[tuple[np.ndarray, np.ndarray]]]]:
    """source -> pool index -> ``k`` synthetic (image, mask) pairs at ``size``, each a pure
    function of (source, index, variant), drawn with ``ga.GANAugment`` at the generators' size."""
    pipes = {
        "retexture": A.Compose([ga.GANAugment(models["inpaint"], p=1.0, mode="retexture", on_empty_mask="skip")]),
        "reshape": A.Compose([ga.GANAugment(models["inpaint"], p=1.0, mode="reshape", on_empty_mask="skip")]),
        "whole": A.Compose([ga.GANAugment(models["whole"], p=1.0, on_empty_mask="skip")]),
    }
    out: dict[str, dict[int, list[tuple[np.ndarray, np.ndarray]]]] = {s: {} for s in sources}
    for source in sorted(sources):
        for i in indices:
            pairs = []
            for v in range(k):
                seed = variant_seed(source, i, v)
                mask = masks[i]
                if source == "whole":
                    deformed = elastic_deform(mask, seed=seed)
                    mask = deformed if deformed.any() else mask
                pipes[source].set_random_seed(seed)
                with torch.no_grad():
                    result = pipes[source](image=images[i], mask=mask)
                pairs.append(resize_pair(result["image"], result["mask"], size))
            out[source][i] = pairs
    return out


class TrainSet(Dataset):
    """The training subset of one run: real pairs, each replaced with probability ``p`` by
    one of its synthetic variants (GAN arms) or pasted into (CopyPaste), then ClassicAug."""

    def __init__(self, images, masks, indices, *, variants=None, p=0.5, paste=None, classic=None, seed=0):
        self.images, self.masks, self.indices = images, masks, indices
        self.variants, self.p, self.paste, self.classic = variants or {}, p, paste, classic
        self.rng = np.random.default_rng([seed, 1])

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int):
        i = self.indices[k]
        image, mask = self.images[i], self.masks[i]
        if self.variants and self.rng.random() < self.p:
            source = list(self.variants)[int(self.rng.integers(len(self.variants)))]
            options = self.variants[source][i]
            image, mask = options[int(self.rng.integers(len(options)))]
        if self.paste is not None:
            image = self.paste(image=image, mask=mask)["image"]
        if self.classic is not None:
            out = self.classic(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255
        return x, torch.from_numpy(np.ascontiguousarray(mask)).float()[None]


def classic_pipeline(seed: int) -> A.Compose:
    return A.Compose(
        [A.HorizontalFlip(), A.VerticalFlip(), A.RandomRotate90(), A.Affine(scale=(0.9, 1.1), rotate=(-20, 20), p=0.5),
         A.ColorJitter(0.2, 0.2, 0.2, 0.02, p=0.5)],
        seed=seed,
    )


def dice_per_image(pred: torch.Tensor, target: torch.Tensor) -> list[float]:
    """Dice of binary N1HW masks per image; 1 where both are empty."""
    inter = (pred * target).sum(dim=(1, 2, 3))
    total = pred.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3))
    return torch.where(total > 0, 2 * inter / total.clamp_min(1e-9), torch.ones_like(total)).tolist()


def train_and_score(train_set: Dataset, tests: dict[str, tuple[np.ndarray, np.ndarray]], seed: int, cfg: dict[str, Any], device):
    torch.manual_seed(seed)
    channels = tuple(int(c) for c in str(cfg["channels"]).split(","))
    net = UNet(spatial_dims=2, in_channels=3, out_channels=1, channels=channels, strides=(2,) * (len(channels) - 1), num_res_units=1)
    net = net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    loss_fn = DiceCELoss(sigmoid=True)
    sampler = RandomSampler(train_set, generator=torch.Generator().manual_seed(seed))
    loader = DataLoader(train_set, batch_size=cfg["batch_size"], sampler=sampler, num_workers=0, drop_last=len(train_set) > cfg["batch_size"])
    step, t0 = 0, time.perf_counter()
    net.train()
    while step < cfg["steps"]:
        for x, y in loader:
            opt.zero_grad()
            loss_fn(net(x.to(device)), y.to(device)).backward()
            opt.step()
            step += 1
            if step >= cfg["steps"]:
                break
    train_seconds, t0 = time.perf_counter() - t0, time.perf_counter()
    net.eval()
    scores = {}
    with torch.no_grad():
        for name, (images, masks) in tests.items():
            per = []
            for start in range(0, len(images), 64):
                x = torch.from_numpy(images[start : start + 64]).permute(0, 3, 1, 2).float().div(255).to(device)
                y = torch.from_numpy(masks[start : start + 64]).float()[:, None].to(device)
                per += dice_per_image((net(x) > 0).float(), y)
            scores[name] = per
    return scores, train_seconds, time.perf_counter() - t0


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg, overrides, fractions, seeds, arms, device, out, train_spec, test_specs = ev.plan(args, PRESETS, ARMS, "segmentation_dice", DEFAULT_TESTS)

    train = ev.capped(train_spec.open(), cfg["max_train_images"])
    tests = {s.name: ev.capped(s.open(), cfg["max_test_images"]) for s in test_specs}
    for name, dataset in [("training set", train), *tests.items()]:
        if not dataset.has_masks:
            raise SystemExit(f"{name}: every image needs a lesion mask for Dice")
    ev.check_disjoint(train, tests)

    settings = {
        **ev.base_settings(SCRIPT, args.config, cfg, overrides, REPORT_ONLY_KEYS),
        "train": {**train_spec.as_dict(), "n": len(train), "ids": ev.ids_digest(train)},
        "tests": [{**s.as_dict(), "n": len(tests[s.name]), "ids": ev.ids_digest(tests[s.name])} for s in test_specs],
        "models": {"inpaint": args.inpaint_model, "whole": args.whole_model}, "device": device.type,
    }
    store = ev.CellStore(out, settings)
    names = list(tests)
    todo = [] if args.report_only else ev.pending_runs(store, names, fractions, arms, seeds)
    if todo:
        run_all(todo, store, train, tests, cfg, device, args, seeds, fractions, arms)
    fraction_sizes = {ev.fraction_key(f): len(ev.fraction_subset(len(train), f, seeds[0])) for f in fractions}
    metrics = {name: [ev.MetricSpec("Dice", lambda r: r["dice"], per_image_wilcoxon=True)] for name in names}
    blocks = ev.analyse(store, tests=names, fractions=fractions, arms=arms, seeds=seeds, metrics=metrics, baselines=BASELINES, n_boot=cfg["n_boot"])
    provenance = f"Produced by {ev.config_line(SCRIPT, args.config, overrides)} on {device.type}; training set {train_spec.name} ({len(train)} images)."
    ev.write_report(
        store, blocks, title="Segmentation Dice per arm", provenance=provenance,
        sizes={n: len(d) for n, d in tests.items()}, fraction_sizes=fraction_sizes, extra={"fraction_sizes": fraction_sizes},
    )
    missing = len(ev.pending_runs(store, names, fractions, arms, seeds))
    print(f"report: {out / 'report.md'}" + (f" ({missing} runs still missing)" if missing else ""))


def run_all(todo, store, train, tests, cfg, device, args, seeds, fractions, arms) -> None:
    size, k = cfg["image_size"], cfg["variants"]
    print(f"loading {len(train)} training and {sum(len(d) for d in tests.values())} test images", flush=True)
    with ev.Timer() as load:
        gen_images, gen_masks = load_pairs(train, GEN_SIZE)
        images = np.stack([square_resize(im, size, nearest=False) for im in gen_images])
        masks = np.stack([square_resize(m, size, nearest=True) for m in gen_masks])
        test_arrays = {name: load_pairs(d, size) for name, d in tests.items()}
    generation = 0.0
    subsets = {(s, f): ev.fraction_subset(len(train), f, s) for s, f, _ in todo}
    sources = {src for _, _, a in todo for src in SOURCES.get(a, [])}
    needed = sorted({i for s, f, a in todo if a in SOURCES for i in subsets[(s, f)]})
    variants: dict[str, Any] = {}
    if sources:
        with ev.Timer() as t:
            models = {"inpaint": ga.from_pretrained(args.inpaint_model, device=device), "whole": ga.from_pretrained(args.whole_model, device=device)}
            variants = make_variants(sources, needed, gen_images, gen_masks, k, size, models)
        generation = t.seconds
        print(f"synthetic variants: {len(needed)} images x {k} x {sorted(sources)} in {t.seconds:.0f} s", flush=True)
    store.log_setup(loading=load.seconds, generation=generation, images_generated=len(needed) * k * len(sources))
    progress = ev.Progress(len(todo))
    for seed, fraction, arm in todo:
        idx = subsets[(seed, fraction)]
        paste = None
        if arm == "CopyPaste":
            bank = ga.LesionBank([torch.from_numpy(images[i]).permute(2, 0, 1) for i in idx if masks[i].any()],
                                 [torch.from_numpy(masks[i]) for i in idx if masks[i].any()])
            paste = A.Compose([ga.LesionCopyPaste(bank, p=cfg["p_synthetic"])], seed=seed)
        train_set = TrainSet(
            images, masks, idx, variants={s: variants[s] for s in SOURCES.get(arm, [])}, p=cfg["p_synthetic"], paste=paste,
            classic=classic_pipeline(seed) if arm in ("ClassicAug", "AllAug") else None, seed=seed,
        )
        with ev.Timer() as t:
            scores, train_seconds, eval_seconds = train_and_score(train_set, test_arrays, seed, cfg, device)
        for name, per in scores.items():
            if not store.done(name, fraction, arm, seed):
                store.write(name, fraction, arm, seed, {
                    "dice": ev.rounded(per), "mean": float(np.mean(per)), "train_images": len(idx), "steps": cfg["steps"],
                    "seconds": round(t.seconds, 2), "train_seconds": round(train_seconds, 2),
                    "eval_seconds": round(eval_seconds, 2), "device": device.type,
                })
        summary = "  ".join(f"{n} {np.mean(p):.4f}" for n, p in scores.items())
        progress.finished(f"seed {seed} fraction {fraction:g} {arm}", t.seconds, f"Dice {summary}")


if __name__ == "__main__":
    main()
