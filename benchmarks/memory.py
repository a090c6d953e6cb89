"""Memory: what lazy loading saves before the first call, and the peak of a batched call,
each as a ratio against a baseline measured in the same run (process RSS on the CPU,
allocated memory on CUDA)."""

from __future__ import annotations

import gc
import os

import torch

import gan_augment as ga


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


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


def batch_peak(model: str, sizes=(1, 8, 32)) -> dict:
    g = ga.from_pretrained(model)
    s = g.image_size
    g.translate(masks=torch.ones(1, 1, s, s), seed=0)
    rows = {}
    for n in sizes:
        masks = torch.ones(n, 1, s, s)
        if g.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            g.translate(masks=masks.cuda(), seed=0)
            rows[n] = (torch.cuda.max_memory_allocated() - base) / 2**20
        else:
            gc.collect()
            base = _rss_mb()
            g.translate(masks=masks, seed=0)
            rows[n] = max(_rss_mb() - base, 0.0)
    first = rows[sizes[0]] or 1e-9
    return {"device": str(g.device), "peak_mb_by_batch": rows, "ratio_largest_over_smallest": rows[sizes[-1]] / first if rows[sizes[0]] else None}


if __name__ == "__main__":
    import json

    model = "mask2lesion-isic2017-128"
    print(json.dumps({"lazy_loading": lazy_loading(model), "batch_peak": batch_peak(model)}, indent=2))
