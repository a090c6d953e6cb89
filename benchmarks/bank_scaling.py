"""Sharded bank generation: images/s of one process against the same work split over
several processes (issue #15 item 2), measured in one run on this machine.

Every setting builds the same bank (``SyntheticBank.build``: same seed, shards, masks) into a
fresh folder; the settings split the machine's cores between processes (``--cores`` threads in
total: 1 process x all threads, then P processes x cores/P threads each, launched together as
``--rank/--world-size`` shards would be on a cluster). The ratio is each setting's images/s
against the single process of the same run; a check of every shard's tensors confirms the split bank
equals the single-process one.

    python benchmarks/bank_scaling.py --images 256 --shard-size 32 --processes 1 2
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from result_files import device_name, result_path, today, write_result

_CHILD = r"""
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
import gan_augment as ga
from gan_augment.mixers import SyntheticBank
model, folder, n, shard, rank, world = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
g = ga.from_pretrained(model, device="cpu")
SyntheticBank.build(g, folder, n, shard_size=shard, seed=0, progress=False, rank=rank, world_size=world)
"""


def _digest(folder: Path) -> str:
    """Hash of every shard's tensors (names, shapes, values), not of the file bytes."""
    from safetensors.numpy import load_file

    h = hashlib.sha256()
    for f in sorted(folder.glob("shard_*")):
        tensors = load_file(f)
        for name in sorted(tensors):
            h.update(f"{f.name}/{name}/{tensors[name].shape}".encode())
            h.update(tensors[name].tobytes())
    return h.hexdigest()


def _build(model: str, folder: Path, images: int, shard: int, processes: int, cores: int) -> float:
    threads = max(cores // processes, 1)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen([sys.executable, "-c", _CHILD, str(threads), model, str(folder), str(images), str(shard), str(r), str(processes)], env=env)
        for r in range(processes)
    ]
    codes = [p.wait() for p in procs]
    seconds = time.perf_counter() - t0
    if any(codes):
        raise SystemExit(f"bank build with {processes} processes failed: exit codes {codes}")
    return seconds


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="mask2lesion-isic2017-128")
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--shard-size", type=int, default=32)
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="threads shared out among the processes of a setting")
    p.add_argument("--out", default=None, help="result file (default: results/bank_scaling-<device>-<date>.json)")
    args = p.parse_args(argv)
    path = result_path("bank_scaling", device_name(), args.out)
    rows, digests = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for processes in args.processes:
            folder = Path(tmp) / f"p{processes}"
            seconds = _build(args.model, folder, args.images, args.shard_size, processes, args.cores)
            digests[processes] = _digest(folder)
            rows.append({
                "processes": processes, "threads_per_process": max(args.cores // processes, 1), "seconds": round(seconds, 2),
                "images_per_s": args.images / seconds, "images_per_s_per_process": args.images / seconds / processes,
            })
    base = next((r for r in rows if r["processes"] == min(args.processes)), rows[0])
    for r in rows:
        r["speedup_vs_fewest_processes"] = r["images_per_s"] / base["images_per_s"]
    result = {
        "benchmark": "bank_scaling", "date": today(), "device": device_name(), "model": args.model, "images": args.images,
        "shard_size": args.shard_size, "cores": args.cores, "rows": rows,
        "same_images_for_every_split": len(set(digests.values())) == 1,
        "note": "wall time includes each process's start-up and model load (what a cluster job pays once per process)",
    }
    write_result(path, result)
    print("| processes | threads each | images/s | per process | speed-up |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['processes']} | {r['threads_per_process']} | {r['images_per_s']:.1f} | {r['images_per_s_per_process']:.1f} | {r['speedup_vs_fewest_processes']:.2f}x |")
    print(f"identical banks: {result['same_images_for_every_split']}; written {path}")
    return result


if __name__ == "__main__":
    main()
