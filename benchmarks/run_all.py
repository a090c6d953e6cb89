"""Run every benchmark and write benchmarks/results/<device>-<date>.json and a markdown table.

    python benchmarks/run_all.py            # or: make benchmark
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import memory
import throughput
from result_files import device_name, result_path, write_result


def main() -> None:
    model = "mask2lesion-isic2017-128"
    device = device_name()
    out = result_path(device=device)  # refuses an existing file before measuring
    results = {
        "model": model,
        "device": device,
        "torch": torch.__version__,
        "per_sample_vs_batched": throughput.per_sample_vs_batched(model),
        "pipeline_overhead": throughput.pipeline_overhead(model),
        "lazy_loading": memory.fresh_process(f"import json, memory; print(json.dumps(memory.lazy_loading({model!r})))"),
        "batch_peak": memory.batch_peak(model),
    }
    write_result(out, results)
    t, p, lz = results["per_sample_vs_batched"], results["pipeline_overhead"], results["lazy_loading"]
    n_max, peak = max(results["batch_peak"]["peak_mb_by_batch"].items())
    print(f"| {device} | batched {t['batched_img_per_s']:.1f} vs per-sample {t['per_sample_img_per_s']:.1f} img/s: "
          f"x{t['speedup_batched_over_per_sample']:.2f} | epoch with GANAugment p=0.5: x{p['slowdown_with_gan']:.2f} slower "
          f"| from_pretrained RSS +{lz['rss_growth_from_pretrained_mb']:.0f} MB, first call +{lz['rss_growth_first_call_mb']:.0f} MB "
          f"| batch-{n_max} call peak {peak:.0f} MB |")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
