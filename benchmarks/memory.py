"""Memory: what lazy loading saves before the first call, and the peak of a batched call,
each as a ratio against a baseline measured in the same run (process RSS on the CPU,
allocated memory on CUDA)."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

import gan_augment as ga


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    """This process's RSS high-water mark (VmHWM; unlike ru_maxrss it is not inherited from the
    parent across fork + exec)."""
    with open(f"/proc/{os.getpid()}/status") as fh:
        line = next(line for line in fh if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def lazy_loading(model: str) -> dict:
    ga.list_models(), ga.list_pretrained()  # import every module first: only the model is measured
    torch.ones(1, 1, 8, 8) @ torch.ones(1, 1, 8, 8)
    gc.collect()
    base = _rss_mb()
    g = ga.from_pretrained(model, device="cpu")
    after_open = _rss_mb()
    g.translate(masks=torch.ones(1, 1, g.image_size, g.image_size), seed=0)
    after_call = _rss_mb()
    weights_mb = sum(p.numel() * p.element_size() for p in g.network.parameters()) / 2**20
    return {
        "weights_fp32_mb": weights_mb,
        "rss_growth_from_pretrained_mb": after_open - base,
        "rss_growth_first_call_mb": after_call - after_open,
        "ratio_open_over_weights": (after_open - base) / weights_mb,
    }


def fresh_process(code: str) -> dict:
    """Run ``code`` (which prints one JSON line last) in a new interpreter: a clean RSS baseline."""
    here = Path(__file__).resolve().parent
    out = subprocess.run([sys.executable, "-c", code], cwd=here, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def cpu_call_peak(model: str, n: int) -> float:
    """MB by which one batched CPU call of ``n`` masks lifts the process's RSS high-water mark
    above the RSS just before the call (weights already loaded by a batch-1 warm-up)."""
    g = ga.from_pretrained(model, device="cpu")
    s = g.image_size
    g.translate(masks=torch.ones(1, 1, s, s), seed=0)
    masks = torch.ones(n, 1, s, s)
    gc.collect()
    base = _rss_mb()
    g.translate(masks=masks, seed=0)
    return max(_peak_rss_mb() - base, 0.0)


def batch_peak(model: str, sizes=(1, 8, 32)) -> dict:
    """Peak memory of one batched call per batch size: allocated CUDA memory above the baseline,
    or on the CPU the RSS high-water mark of a fresh process per size (RSS falls back after a
    call, so only the high-water mark sees the peak)."""
    rows = {}
    if torch.cuda.is_available():
        g = ga.from_pretrained(model, device="cuda")
        s = g.image_size
        g.translate(masks=torch.ones(1, 1, s, s), seed=0)
        for n in sizes:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            g.translate(masks=torch.ones(n, 1, s, s, device="cuda"), seed=0)
            rows[n] = (torch.cuda.max_memory_allocated() - base) / 2**20
        device = "cuda"
    else:
        for n in sizes:
            rows[n] = fresh_process(f"import json, memory; print(json.dumps(memory.cpu_call_peak({model!r}, {n})))")
        device = "cpu"
    first = rows[sizes[0]]
    return {
        "device": device,
        "peak_mb_by_batch": rows,
        "peak_mb_per_image": {n: rows[n] / n for n in sizes},
        "ratio_largest_over_smallest": rows[sizes[-1]] / first if first > 0 else None,
    }


if __name__ == "__main__":
    model = "mask2lesion-isic2017-128"
    print(json.dumps({"lazy_loading": lazy_loading(model), "batch_peak": batch_peak(model)}, indent=2))
