"""Images per second of a training DataLoader with synthetic data, as ratios against the
real-only loader of the same setting (threads, workers, batch size) in the same process.

Paths, each an epoch of ``--images`` items through the same per-item pipeline (decode,
``RandomResizedCrop`` to 128 px, flips; uint8 tensors), shuffled, ``persistent_workers``
off (the DataLoader default: every epoch starts its workers, and a worker's GANAugment
loads its weights, as in a training loop):

* ``real``: the real-only loader (the baseline);
* ``gan_augment``: the same with ``GANAugment(p=fraction)`` last in the pipeline, in the workers;
* ``batch_mixer``: the real-only loader with ``BatchMixer(fraction)`` applied to each batch
  in the main process (on CUDA when present);
* ``bank_mixed``: ``MixedDataset(real, bank, ratio)`` over a ``SyntheticBank`` built
  beforehand (its build is timed separately, images/s, on CUDA when present) at the same
  synthetic fraction.

Real images are read (and decoded) from files every time: ``--data PATH`` (an official
layout, e.g. ../shared/data/isic2017; ``--split``) or, without it, the six bundled sample
files (cycled, so always in the page cache). Workers run with one torch thread each (the
library's fork hook); ``--threads`` sets the main process's threads, one fresh process per
setting. Do not run anything else meanwhile.

    python benchmarks/loader.py --data ../shared/data/isic2017        # threads 1 2, batches 1 8 64
    python benchmarks/loader.py --images 4 --batch-sizes 2 --threads 1 --workers 0 --repeats 1

Writes benchmarks/results/loader-<device>-<date>.json (never overwrites; ``bank_over_real_min``,
the worst bank-mixed / real ratio, against ``target`` 0.9) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from result_files import device_name, result_path, run_child, today, write_result

DEFAULT_MODEL = "mask2lesion-isic2017-128"
TARGET = 0.9
PATHS = ("real", "gan_augment", "batch_mixer", "bank_mixed")


# --- the child: one thread setting ----------------------------------------------------------


def _real_data(data: str | None, split: str):
    from gan_augment.data import bundled_sample, open_dataset

    real = open_dataset(data, split) if data else bundled_sample()
    if not real.has_masks:
        raise SystemExit(f"{data}: the loader benchmark needs lesion masks (a mask-conditioned generator draws for them)")
    return real


def _cycled(real, n: int):
    """``n`` records of ``real`` (repeated when it has fewer): a data set reading its files."""
    return real.subset([i % len(real) for i in range(n)])


class Items:
    """Item dicts -> {image CHW uint8, mask HW uint8, synthetic} through an Albumentations pipeline."""

    def __init__(self, source, pipeline) -> None:
        self.source, self.pipeline = source, pipeline

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict:
        import torch

        item = self.source[index]
        out = self.pipeline(image=item["image"], mask=item["mask"])
        return {"image": torch.from_numpy(out["image"]).permute(2, 0, 1), "mask": torch.from_numpy(out["mask"]),
                "synthetic": bool(item.get("synthetic", False))}


def _pipeline(extra=()):
    import albumentations as A

    geometry = [A.RandomResizedCrop(size=(128, 128), scale=(0.6, 1.0)), A.HorizontalFlip(), A.RandomRotate90()]
    return A.Compose([*geometry, *extra], seed=0)


def _loader(dataset, batch: int, workers: int):
    import torch
    from torch.utils.data import DataLoader

    from gan_augment.transforms.albumentations import albumentations_worker_init

    return DataLoader(Items(*dataset), batch_size=batch, shuffle=True, num_workers=workers,
                      generator=torch.Generator().manual_seed(0), worker_init_fn=albumentations_worker_init)


def _epoch(loader, mixer=None, limit: int | None = None) -> tuple[float, int, int]:
    """Seconds, images and synthetic images of one pass (``limit`` batches: a warm-up)."""
    t0 = time.perf_counter()
    images = synthetic = 0
    for k, batch in enumerate(loader):
        if mixer is not None:
            batch = mixer(batch)
        images += batch["image"].shape[0]
        synthetic += int(batch["synthetic"].sum())
        if limit is not None and k + 1 >= limit:
            break
    return time.perf_counter() - t0, images, synthetic


def measure_setting(cfg: dict) -> dict:
    """Bank build + every (workers, batch size) of one thread setting, in this process."""
    import torch

    import gan_augment as ga
    from gan_augment.mixers import BatchMixer, MixedDataset, SyntheticBank

    torch.set_num_threads(cfg["threads"])
    n, fraction = cfg["images"], cfg["fraction"]
    n_syn = round(n * fraction)
    n_real = n - n_syn
    real = _real_data(cfg["data"], cfg["split"])
    g = ga.from_pretrained(cfg["model"])  # "auto": CUDA in this (main) process when present
    g.network  # noqa: B018 (load the weights now: the build is timed without reading them)
    with tempfile.TemporaryDirectory(prefix="loader-bench-") as tmp:
        t0 = time.perf_counter()
        bank = SyntheticBank.build(g, Path(tmp) / "bank", n=n_syn, shard_size=cfg["shard_size"], masks=cfg["bank_masks"],
                                   real=real, progress=False)
        build_s = time.perf_counter() - t0
        build = {"images": n_syn, "seconds": build_s, "img_per_s": n_syn / build_s, "device": str(g.device),
                 "masks": cfg["bank_masks"], "shard_size": cfg["shard_size"], "shards": len(bank.shards),
                 "note": "weights loaded beforehand; includes drawing the masks (reading real masks) and writing the shards"}
        mixed = MixedDataset(_cycled(real, n_real), bank, ratio=n_syn / n_real)
        assert len(mixed) == n and mixed.num_synthetic == n_syn
        datasets = {
            "real": (_cycled(real, n), _pipeline()),
            "gan_augment": (_cycled(real, n), _pipeline([ga.GANAugment(cfg["model"], p=fraction, on_empty_mask="skip")])),
            "bank_mixed": (mixed, _pipeline()),
        }
        rows = []
        for workers in cfg["workers"]:
            for batch in cfg["batch_sizes"]:
                loaders = {name: _loader(ds, batch, workers) for name, ds in datasets.items()}
                mixer = BatchMixer(g, fraction=fraction)
                runs = {"real": (loaders["real"], None), "gan_augment": (loaders["gan_augment"], None),
                        "batch_mixer": (loaders["real"], mixer), "bank_mixed": (loaders["bank_mixed"], None)}
                warm = max(2, -(-2 * max(workers, 1) // batch))  # batches: page cache, lazy weights of the main process
                for loader, mix in runs.values():
                    _epoch(loader, mix, limit=warm)
                best = {name: float("inf") for name in runs}
                seen = {}
                for _ in range(cfg["repeats"]):  # rounds: every path once per round (drift hits all)
                    for name, (loader, mix) in runs.items():
                        seconds, images, synthetic = _epoch(loader, mix)
                        best[name] = min(best[name], seconds)
                        seen[name] = (images, synthetic)
                ips = {name: seen[name][0] / best[name] for name in runs}
                rows.append({
                    "threads": torch.get_num_threads(), "workers": workers, "batch_size": batch, "main_device": str(g.device),
                    "img_per_s": ips,
                    "ratio_to_real": {name: ips[name] / ips["real"] for name in PATHS[1:]},
                    "synthetic_fraction": {"gan_augment": f"p={fraction} (not observable per item)",
                                           "batch_mixer": seen["batch_mixer"][1] / seen["batch_mixer"][0],
                                           "bank_mixed": seen["bank_mixed"][1] / seen["bank_mixed"][0]},
                    "seconds": best,
                })
    files = {r.image for r in real.records}
    return {"threads": torch.get_num_threads(), "bank_build": build, "rows": rows,
            "data": {"source": cfg["data"] or "bundled_sample", "split": cfg["split"] if cfg["data"] else "validation",
                     "records": len(real), "distinct_files_read": min(len(files), n), "from_files": True}}


# --- the parent: one fresh process per thread setting ---------------------------------------


def run(*, images: int = 1024, batch_sizes=(1, 8, 64), threads=(1, 2), workers=(2,), fraction: float = 0.5,
        repeats: int = 2, data: str | None = None, split: str = "training", model: str = DEFAULT_MODEL,
        shard_size: int = 256, bank_masks: str = "elastic") -> dict:
    import torch

    if not 0 < fraction < 1:
        raise SystemExit(f"--fraction must lie in (0, 1), got {fraction}")
    if round(images * fraction) < 1 or images - round(images * fraction) < 1:
        raise SystemExit(f"--images {images} at --fraction {fraction} leaves no real or no synthetic item")
    data = str(Path(data).resolve()) if data else None
    settings, rows = [], []
    for t in threads:
        cfg = {"threads": t, "images": images, "batch_sizes": list(batch_sizes), "workers": list(workers), "fraction": fraction,
               "repeats": repeats, "data": data, "split": split, "model": model, "shard_size": shard_size, "bank_masks": bank_masks}
        result = run_child([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(cfg)])
        if "error" in result:
            settings.append({"threads": t, "error": result["error"]})
            print(f"{t} threads: error: {result['error']}", flush=True)
            continue
        rows += result.pop("rows")
        settings.append(result)
        print(f"{t} threads: done", flush=True)
    bank_ratios = [r["ratio_to_real"]["bank_mixed"] for r in rows]
    worst = min(bank_ratios) if bank_ratios else None
    return {
        "benchmark": "loader", "device": device_name(), "torch": torch.__version__, "date": today(), "model": model,
        "images": images, "fraction": fraction, "repeats": repeats, "data": settings[0].get("data") if settings else None,
        "cuda": torch.cuda.is_available(),
        "timing": "best of repeats per path, paths interleaved per round; ratio_to_real = path img/s / real-only img/s of the same setting",
        "bank_over_real_min": worst, "target": TARGET, "meets_target": None if worst is None else worst >= TARGET,
        "settings": settings, "rows": rows,
    }


def markdown(record: dict) -> str:
    lines = ["| threads | workers | batch | real img/s | GANAugment per item | BatchMixer per batch | bank-mixed |",
             "|---|---|---|---|---|---|---|"]
    for r in record["rows"]:
        ips, ratio = r["img_per_s"], r["ratio_to_real"]
        frac = r["synthetic_fraction"]
        cells = " | ".join(f"{ips[p]:.1f} (x{ratio[p]:.2f}" + (f", {100 * frac[p]:.0f}% synthetic)" if p != "gan_augment" else ")")
                           for p in PATHS[1:])
        lines.append(f"| {r['threads']} | {r['workers']} | {r['batch_size']} | {ips['real']:.1f} | {cells} |")
    for s in record["settings"]:
        b = s.get("bank_build")
        lines.append(f"\n{s['threads']} threads: " + (f"bank build {b['img_per_s']:.1f} img/s ({b['images']} images on {b['device']})"
                                                      if b else f"error: {s.get('error')}"))
    worst = record["bank_over_real_min"]
    lines.append(f"\nbank-mixed / real, worst setting: {worst:.2f} (target {record['target']})" if worst is not None else "")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1024, help="items per epoch (every path)")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8, 64])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2], help="torch threads of the main process")
    parser.add_argument("--workers", nargs="+", type=int, default=[2], help="DataLoader workers (one torch thread each)")
    parser.add_argument("--fraction", type=float, default=0.5, help="synthetic fraction: GANAugment p, BatchMixer fraction, bank share")
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs per path (best is kept)")
    parser.add_argument("--data", default=None, help="an official data layout (default: the bundled sample)")
    parser.add_argument("--split", default="training", help="split of --data")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="a mask-conditioned checkpoint")
    parser.add_argument("--shard-size", type=int, default=256, help="bank shard size (SyntheticBank.build's default)")
    parser.add_argument("--bank-masks", default="elastic", help="mask source of the bank: shapes, elastic, real, pca")
    parser.add_argument("--out", default=None, help="JSON path (default: results/loader-<device>-<date>.json)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(measure_setting(json.loads(args.child))))
        return {}
    out = result_path("loader", out=args.out)  # refuses an existing file before measuring
    record = run(images=args.images, batch_sizes=args.batch_sizes, threads=args.threads, workers=args.workers,
                 fraction=args.fraction, repeats=args.repeats, data=args.data, split=args.split, model=args.model,
                 shard_size=args.shard_size, bank_masks=args.bank_masks)
    write_result(out, record)
    print(markdown(record))
    print(f"wrote {out}")
    return record


if __name__ == "__main__":
    main()
