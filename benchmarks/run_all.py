"""Run every benchmark and write benchmarks/results/<device>-<date>.json and a markdown table.

    python benchmarks/run_all.py            # or: make benchmark
    python benchmarks/run_all.py --data ../shared/data/isic2017   # the loader reads these files

The loader and generator-speed sweeps (loader.py, generator_speed.py: threads 1 and 2, a fresh
process each) run with their defaults; run them alone for other settings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generator_speed
import loader
import memory
import throughput
from result_files import device_name, result_path, write_result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="real images for the loader benchmark (default: the bundled sample)")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile in the generator-speed sweep")
    args = parser.parse_args(argv)
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
        "loader": loader.run(data=args.data, model=model),
        "generator_speed": generator_speed.run([model], compile_timeout=None if args.no_compile else generator_speed.COMPILE_TIMEOUT),
    }
    write_result(out, results)
    t, p, lz = results["per_sample_vs_batched"], results["pipeline_overhead"], results["lazy_loading"]
    n_max, peak = max(results["batch_peak"]["peak_mb_by_batch"].items())
    print(f"| {device} | batched {t['batched_img_per_s']:.1f} vs per-sample {t['per_sample_img_per_s']:.1f} img/s: "
          f"x{t['speedup_batched_over_per_sample']:.2f} | epoch with GANAugment p=0.5: x{p['slowdown_with_gan']:.2f} slower "
          f"| from_pretrained RSS +{lz['rss_growth_from_pretrained_mb']:.0f} MB, first call +{lz['rss_growth_first_call_mb']:.0f} MB "
          f"| batch-{n_max} call peak {peak:.0f} MB |")
    ld = results["loader"]
    worst = "n/a" if ld["bank_over_real_min"] is None else f"x{ld['bank_over_real_min']:.2f}"
    gen = [r for r in results["generator_speed"]["rows"] if "speedup_vs_no_grad" in r]
    fastest = max(gen, key=lambda r: r["speedup_vs_no_grad"], default=None)
    print(f"| loader: bank-mixed / real worst {worst} (target {ld['target']}) "
          + (f"| generator: fastest variant {fastest['variant']} x{fastest['speedup_vs_no_grad']:.2f} vs no_grad "
             f"({fastest['device']}, {fastest['threads']} threads, batch {fastest['batch_size']}) |" if fastest else "|"))
    print(loader.markdown(ld))
    print(generator_speed.markdown(results["generator_speed"]))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
