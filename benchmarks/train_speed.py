"""Training speed and peak memory of every registered model, one fresh process per setting.

For each model and image size: training images per second of the library's own recipe (one
``train_step`` on real batches from the bundled sample, after warm-up steps) and the process's
peak RSS, with the model's paper defaults and with the CPU settings the bundled checkpoints were
trained with (``CPU_SETTINGS``; see scripts/). Numbers are only comparable within one run on one
machine: do not run anything else meanwhile (2 shared cores: a second job slows both 2-6x).

    python benchmarks/train_speed.py                       # all models, 64 and 128 px
    python benchmarks/train_speed.py --models progan --sizes 64 --steps 3

Writes benchmarks/results/train_speed-<device>-<date>.json (never overwrites) and prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from result_files import cpu_name, result_path, today, write_result

# the settings the bundled CPU checkpoints use (scripts/*_cpu.sh); models without one train
# with their defaults at reduced width
CPU_SETTINGS: dict[str, dict] = {
    "dcgan": {"ngf": 32, "ndf": 32, "upsample": "resize"},
    "progan": {"fmap_base": 256, "fmap_max": 128, "latent_dim": 128, "loss": "logistic-r1", "diffaugment": "color,translation"},
    "pix2pix": {
        "ngf": 32, "norm": "instance", "upsample": "resize", "dropout": 0, "style_dim": 64, "discriminator": "projected",
        "gan_mode": "hinge", "lambda_l1": 0, "lambda_ms": 1, "ema_half_life_images": 10000,
        "diffaugment": "color,translation,cutout",
    },
    "inpaint": {},
    "pix2pixhd": {"ngf": 32, "num_D": 2, "upsample": "resize", "ema_half_life_images": 10000, "diffaugment": "color,translation,cutout"},
    "residual_unet": {
        "ngf": 16, "upsample": "resize", "discriminator": "projected", "gan_mode": "hinge", "ema_half_life_images": 10000,
        "diffaugment": "color,translation,cutout",
    },
    "cyclegan": {
        "ngf": 16, "upsample": "resize", "discriminator": "projected", "gan_mode": "hinge", "ema_half_life_images": 10000,
        "diffaugment": "color,translation,cutout",
    },
}

_CHILD = r"""
import json, sys, time
import torch
from torch.utils.data import default_collate
from gan_augment.data import bundled_sample
from gan_augment.training import make_recipe, make_training_data, seed_everything
from gan_augment.models import get_spec

name, size, batch, steps, warmup, options = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), json.loads(sys.argv[6])
spec = get_spec(name)
seed_everything(0)
recipe = make_recipe(name, size, options)
if name == "progan":  # measure the final resolution, not the 4x4 start of the growth; with loss=logistic-r1 a step
    # number off the R1 schedule: the 15 of 16 steps without the lazy R1 pass (WGAN-GP pays its penalty every step)
    recipe.generator.stage.fill_(recipe.generator.max_stage); recipe._step = 10**9 + 1
view = make_training_data(name, bundled_sample(), size, 0)
items = [view[i % len(view)] for i in range(batch)]
data = default_collate(items)
for _ in range(warmup):
    recipe.train_step(data)
t0 = time.perf_counter()
for _ in range(steps):
    recipe.train_step(data)
seconds = (time.perf_counter() - t0) / steps
with open("/proc/self/status") as fh:
    peak = next(int(l.split()[1]) / 1024 for l in fh if l.startswith("VmHWM:"))
print(json.dumps({"seconds_per_step": seconds, "images_per_s": batch / seconds, "peak_rss_mb": peak}))
"""


def measure(name: str, size: int, batch: int, steps: int, warmup: int, options: dict) -> dict:
    """One setting in a fresh process (its own peak memory); errors are recorded, not raised."""
    cmd = [sys.executable, "-c", _CHILD, name, str(size), str(batch), str(steps), str(warmup), json.dumps(options)]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    import torch

    from gan_augment.models import list_models

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="all", help="comma-separated names, or all")
    parser.add_argument("--sizes", default="64,128")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--out", default=None, help="JSON path (default: results/train_speed-<device>-<date>.json)")
    args = parser.parse_args()
    names = list_models() if args.models == "all" else args.models.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    device = cpu_name()
    out = result_path("train_speed", device, args.out)  # refuses an existing file before measuring
    rows = []
    for name in names:
        for size in sizes:
            for setting, options in (("defaults", {}), ("cpu", CPU_SETTINGS.get(name, {}))):
                if setting == "cpu" and not options:
                    continue
                result = measure(name, size, args.batch_size, args.steps, args.warmup, options)
                rows.append({"model": name, "size": size, "setting": setting, "options": options, **result})
                shown = result.get("error") or f"{result['images_per_s']:.2f} img/s, peak {result['peak_rss_mb']:.0f} MB"
                print(f"{name:14s} {size:4d} px {setting:8s} {shown}", flush=True)
    record = {"device": device, "torch": torch.__version__, "date": today(), "batch_size": args.batch_size,
              "steps": args.steps, "warmup": args.warmup, "rows": rows}
    write_result(out, record)
    print(f"\n| model | px | setting | images/s | s/step (batch {args.batch_size}) | peak RSS |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['model']} | {r['size']} | {r['setting']} | error: {r['error']} | | |")
        else:
            print(f"| {r['model']} | {r['size']} | {r['setting']} | {r['images_per_s']:.2f} | {r['seconds_per_step']:.2f} | {r['peak_rss_mb']:.0f} MB |")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
