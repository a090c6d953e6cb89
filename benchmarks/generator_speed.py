"""Speed of one generator call of the bundled image-to-image checkpoints, as ratios against
the fp32 ``torch.no_grad`` call measured in the same process.

Variants (each changes one thing against ``no_grad``): ``fp32`` (autograd on, the plain
call), ``no_grad`` (the baseline), ``inference_mode``, ``bf16_autocast`` (CPU and CUDA),
``fp16_autocast`` (CUDA), ``channels_last`` (weights and input), ``compile``
(``torch.compile``, in a process of its own against its own ``no_grad`` baseline; skipped
with the reason recorded when it fails or compiling takes longer than ``--compile-timeout``).
Every variant's output is compared with the fp32 output (``max_abs_diff``, generator range
[-1, 1]; ``max_abs_diff_uint8`` in 8-bit levels). Achieved GFLOP/s: the FLOPs of one forward
(``torch.utils.flop_counter.FlopCounterMode``: convolutions and matmuls) over the time,
and its fraction of a large-matmul peak of the same dtype measured in the same process.

The call timed is the generator network on the input ``Synthesizer.generate`` builds for it
(bundled sample masks/images at the model's size, one fixed noise vector), without the
library's resizing and range conversion. One fresh process per thread setting (and one for
CUDA when present). Do not run anything else meanwhile.

    python benchmarks/generator_speed.py                          # threads 1 2, batches 8 32
    python benchmarks/generator_speed.py --model all --compile-timeout 600
    python benchmarks/generator_speed.py --batch-sizes 1 --threads 1 --no-compile --repeats 1

Writes benchmarks/results/generator_speed-<device>-<date>.json (never overwrites) and
prints a Markdown table.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import signal
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from result_files import device_name, result_path, run_child, today, write_result

DEFAULT_MODEL = "mask2lesion-isic2017-128"
COMPILE_TIMEOUT = 300  # seconds one torch.compile may take before the variant is skipped
PEAK_DTYPE = {"fp16_autocast": "float16", "bf16_autocast": "bfloat16"}


# --- the child: one device / thread setting -------------------------------------------------


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peaks(device, size: int, dtypes: list[str], repeats: int = 3) -> dict[str, float]:
    """GFLOP/s of a ``size`` x ``size`` matmul per dtype (best of ``repeats``): the machine's
    practical peak, measured in the process (and thread setting) of the measurements."""
    import torch

    peaks = {}
    for name in dtypes:
        dtype = getattr(torch, name)
        a = torch.randn(size, size, device=device).to(dtype)
        b = torch.randn(size, size, device=device).to(dtype)
        a @ b
        _sync(device)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            _sync(device)
            best = min(best, time.perf_counter() - t0)
        peaks[name] = 2 * size**3 / best / 1e9
    return peaks


def network_input(model: str, device, batch: int):
    """The loaded generator and the input (+ fixed noise) ``Synthesizer.generate`` gives it
    for ``batch`` bundled-sample masks (and images) at the model's size."""
    import numpy as np
    import torch

    import gan_augment as ga
    from gan_augment.data import bundled_sample
    from gan_augment.functional import square_resize

    g = ga.from_pretrained(model, device=device)
    if g.task == "noise_to_image":
        raise SystemExit(f"{model} generates from noise; this benchmark times image-to-image generators")
    s = g.image_size
    items = list(bundled_sample())
    picks = [items[i % len(items)] for i in range(batch)]
    masks = torch.from_numpy(np.stack([square_resize(it["mask"], s, nearest=True) for it in picks])).float()[:, None]
    images = torch.from_numpy(np.stack([square_resize(it["image"], s, nearest=False) for it in picks])).permute(0, 3, 1, 2).float() / 255
    net = g.network
    captured = {}

    def keep_input(module, args):
        captured.setdefault("x", args[0])  # returns None: the call's input stays as it is

    hook = net.register_forward_pre_hook(keep_input)
    try:
        g.generate(masks=masks.to(device), images=images.to(device), seed=0)
    finally:
        hook.remove()
    x = captured["x"].clone()  # outside inference_mode: a normal tensor autograd may save
    z = None
    z_dim = getattr(net, "z_dim", None) or getattr(net, "style_dim", None)
    if z_dim and "z" in inspect.signature(net.forward).parameters:
        z = torch.randn(batch, z_dim, generator=torch.Generator().manual_seed(0)).to(device)
    return g, net, x, z


def _caller(net, x, z):
    import torch

    def call(grad_mode=torch.no_grad, autocast=None, module=net, inp=x):
        with grad_mode(), (autocast or nullcontext()):
            torch.manual_seed(0)  # generators that draw noise inside forward draw the same
            return module(inp, z=z) if z is not None else module(inp)

    return call


def variants(net, x, z, device, compiled: bool) -> dict:
    """name -> zero-argument call; ``compiled`` selects the compile process's pair."""
    import torch

    call = _caller(net, x, z)
    out = {"no_grad": lambda: call()}
    if compiled:
        cnet = torch.compile(net, dynamic=False)
        out["compile"] = lambda: call(module=cnet)
        return out
    out["fp32"] = lambda: call(grad_mode=torch.enable_grad)
    out["inference_mode"] = lambda: call(grad_mode=torch.inference_mode)
    dtypes = ["bfloat16"] if device.type == "cpu" else ["float16", "bfloat16"]
    for name in dtypes:
        key = {"float16": "fp16_autocast", "bfloat16": "bf16_autocast"}[name]
        out[key] = lambda name=name: call(autocast=torch.autocast(device.type, dtype=getattr(torch, name)))
    net_cl = copy.deepcopy(net).to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    out["channels_last"] = lambda: call(module=net_cl, inp=x_cl)
    return out


class _CompileTimeout(Exception):
    pass


def _first_call(name: str, fn, timeout: int | None, device):
    """The first (warm-up) call and its seconds; for ``compile`` guarded by ``timeout``
    seconds (SIGALRM: compiling is Python, the alarm interrupts it)."""
    guard = name == "compile" and timeout
    fired = []
    if guard:
        def alarm(signum, frame):
            fired.append(True)
            raise _CompileTimeout

        old = signal.signal(signal.SIGALRM, alarm)
        signal.alarm(int(timeout))
    _sync(device)
    t0 = time.perf_counter()
    try:
        out = fn()
        _sync(device)
        return out, time.perf_counter() - t0
    except Exception as err:
        if fired:  # dynamo wraps the alarm's exception in its own
            raise _CompileTimeout from err
        raise
    finally:
        if guard:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)


def measure_setting(cfg: dict) -> dict:
    """Everything of one (device, threads) setting, in this process."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(cfg["threads"])
    device = torch.device(cfg["device"])
    compiled = cfg["compile"]
    peak_dtypes = ["float32", "bfloat16"] + (["float16"] if device.type == "cuda" else [])
    peaks = matmul_peaks(device, cfg["matmul_size"], peak_dtypes)
    rows = []
    for model in cfg["models"]:
        for batch in cfg["batch_sizes"]:
            if compiled:
                torch._dynamo.reset()  # a fresh compile per batch size
            g, net, x, z = network_input(model, device, batch)
            with FlopCounterMode(display=False) as counter, torch.no_grad():
                _caller(net, x, z)()
            flops = counter.get_total_flops()
            calls = variants(net, x, z, device, compiled)
            base = {"device": device.type, "threads": torch.get_num_threads(), "model": model,
                    "architecture": g.architecture, "image_size": g.image_size, "batch_size": batch,
                    "input_shape": list(x.shape), "gflop_per_call": flops / 1e9}
            reference = calls["no_grad"]().float()  # fp32 output: what every variant is compared with
            skipped, firsts = {}, {}
            for name, fn in calls.items():
                try:
                    out, first = _first_call(name, fn, cfg.get("compile_timeout"), device)
                except _CompileTimeout:
                    skipped[name] = f"compiling took longer than --compile-timeout {cfg['compile_timeout']} s"
                    continue
                except Exception as err:  # noqa: BLE001 (a variant this build / machine cannot run is recorded, not fatal)
                    skipped[name] = f"{type(err).__name__}: {str(err).strip().splitlines()[0][:300] if str(err).strip() else ''}"
                    continue
                firsts[name] = (out.detach().float(), first)
            # a variant whose first call exceeds --slow-call-seconds (bf16 emulated on a CPU
            # without bf16 instructions: ~50x slower) keeps that call as its one timing
            slow = {name for name, (_, first) in firsts.items() if name != "compile" and first > cfg["slow_call_seconds"]}
            fast = [name for name in firsts if name not in slow]
            for _ in range(cfg["warmup"] - 1):
                for name in fast:
                    calls[name]()
            times = {name: [firsts[name][1]] if name in slow else [] for name in firsts}
            for _ in range(cfg["repeats"]):  # rounds: every variant once per round (drift hits all)
                for name in fast:
                    _sync(device)
                    t0 = time.perf_counter()
                    calls[name]()
                    _sync(device)
                    times[name].append(time.perf_counter() - t0)
            baseline = min(times["no_grad"])
            for name in calls:
                if name in skipped:
                    rows.append({**base, "variant": name, "skipped": skipped[name]})
                    continue
                out, first = firsts[name]
                best = min(times[name])
                diff = float((out - reference).abs().max())
                peak_dtype = PEAK_DTYPE.get(name, "float32")
                gflops = flops / best / 1e9
                row = {**base, "variant": name, "seconds": best, "seconds_median": statistics.median(times[name]),
                       "img_per_s": batch / best, "no_grad_seconds": baseline, "speedup_vs_no_grad": baseline / best,
                       "max_abs_diff": diff, "max_abs_diff_uint8": diff * 127.5,
                       "gflops": gflops, "peak_dtype": peak_dtype, "fraction_of_peak": gflops / peaks[peak_dtype],
                       "fraction_of_fp32_peak": gflops / peaks["float32"]}
                if name == "compile":
                    row["compile_seconds"] = first  # the first call: compiling + one run
                if name in slow:
                    row["timed_once"] = f"first call took {first:.1f} s > --slow-call-seconds {cfg['slow_call_seconds']}: that call is the timing"
                rows.append(row)
    settings = {"float32_matmul_precision": torch.get_float32_matmul_precision()}
    if device.type == "cuda":
        settings["cudnn_allow_tf32"] = torch.backends.cudnn.allow_tf32
        settings["cuda_device"] = torch.cuda.get_device_name()
    return {"device": device.type, "threads": torch.get_num_threads(), "matmul_size": cfg["matmul_size"],
            "matmul_peak_gflops": peaks, "settings": settings, "rows": rows}


# --- the parent: one fresh process per setting ----------------------------------------------


def bundled_image_models() -> list[str]:
    import gan_augment as ga

    return [m["name"] for m in ga.list_pretrained() if m["task"] != "noise_to_image"]


def run(models=(DEFAULT_MODEL,), batch_sizes=(8, 32), threads=(1, 2), *, repeats: int = 5, warmup: int = 1,
        compile_timeout: int | None = COMPILE_TIMEOUT, matmul_size: int | None = None, cuda: bool | None = None,
        slow_call_seconds: float = 10.0) -> dict:
    """Measure every setting in fresh processes; ``compile_timeout=None`` skips compile."""
    import torch

    models, batch_sizes = list(models), list(batch_sizes)
    cuda = torch.cuda.is_available() if cuda is None else cuda
    settings = [("cpu", t) for t in threads] + ([("cuda", torch.get_num_threads())] if cuda else [])
    out_settings, rows = [], []
    for dev, t in settings:
        cfg = {"device": dev, "threads": t, "models": models, "batch_sizes": batch_sizes, "repeats": repeats,
               "warmup": max(1, warmup), "matmul_size": matmul_size or (8192 if dev == "cuda" else 2048), "compile": False,
               "slow_call_seconds": slow_call_seconds}
        result = run_child([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(cfg)])
        if "error" in result:
            out_settings.append({"device": dev, "threads": t, "error": result["error"]})
            print(f"{dev} {t} threads: error: {result['error']}", flush=True)
            continue
        rows += result.pop("rows")
        out_settings.append(result)
        if compile_timeout:
            cfg = {**cfg, "compile": True, "compile_timeout": compile_timeout, "matmul_size": 256}
            # backstop: each compile is guarded inside the child; this covers a hang past it
            limit = compile_timeout * len(models) * len(batch_sizes) + 600
            compiled = run_child([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(cfg)], timeout=limit)
            if "error" in compiled:
                rows += [{"device": dev, "threads": t, "model": m, "batch_size": b, "variant": "compile",
                          "skipped": f"compile process: {compiled['error']}"} for m in models for b in batch_sizes]
            else:
                for row in compiled["rows"]:
                    if row["variant"] == "compile":
                        if "gflops" in row:  # its peak: the main process's large-matmul one
                            peak = result["matmul_peak_gflops"]["float32"]
                            row["fraction_of_peak"] = row["fraction_of_fp32_peak"] = row["gflops"] / peak
                        row["baseline"] = "no_grad measured in the compile process"
                        rows.append(row)
        print(f"{dev} {t} threads: done", flush=True)
    return {"benchmark": "generator_speed", "device": device_name(), "torch": torch.__version__, "date": today(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "models": models, "batch_sizes": batch_sizes,
            "repeats": repeats, "warmup": warmup, "compile_timeout_s": compile_timeout, "slow_call_seconds": slow_call_seconds,
            "timing": "best of repeats, variants interleaved per round; speedup_vs_no_grad = no_grad seconds / variant seconds",
            "settings": out_settings, "rows": rows}


def markdown(record: dict) -> str:
    lines = ["| device | threads | model | batch | variant | img/s | x vs no_grad | max abs diff (uint8 levels) | GFLOP/s | of peak |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in record["rows"]:
        head = f"| {r['device']} | {r['threads']} | {r['model']} | {r['batch_size']} | {r['variant']} "
        if "skipped" in r:
            lines.append(head + f"| skipped: {r['skipped']} | | | | |")
        else:
            lines.append(head + f"| {r['img_per_s']:.2f} | {r['speedup_vs_no_grad']:.2f} | {r['max_abs_diff_uint8']:.2f} "
                         f"| {r['gflops']:.1f} | {100 * r['fraction_of_peak']:.1f}% {r['peak_dtype']} |")
    for s in record["settings"]:
        peaks = ", ".join(f"{k} {v:.0f}" for k, v in s.get("matmul_peak_gflops", {}).items())
        lines.append(f"\n{s['device']} {s['threads']} threads: matmul peak GFLOP/s {peaks}" if peaks else f"\n{s['device']} {s['threads']} threads: {s.get('error')}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", default=[DEFAULT_MODEL], help="bundled image-to-image checkpoints, or all")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[8, 32])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per variant (best is kept)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls per variant first")
    parser.add_argument("--compile-timeout", type=int, default=COMPILE_TIMEOUT, help="seconds one torch.compile may take before it is skipped")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    parser.add_argument("--slow-call-seconds", type=float, default=10.0, help="a variant whose first call takes longer is timed by that call alone")
    parser.add_argument("--no-cuda", action="store_true", help="CPU settings only, even when CUDA is present")
    parser.add_argument("--matmul-size", type=int, default=None, help="side of the peak matmul (default 2048 CPU, 8192 CUDA)")
    parser.add_argument("--out", default=None, help="JSON path (default: results/generator_speed-<device>-<date>.json)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(measure_setting(json.loads(args.child))))
        return {}
    models = bundled_image_models() if args.model == ["all"] else args.model
    out = result_path("generator_speed", out=args.out)  # refuses an existing file before measuring
    record = run(models, args.batch_sizes, args.threads, repeats=args.repeats, warmup=args.warmup,
                 compile_timeout=None if args.no_compile else args.compile_timeout,
                 matmul_size=args.matmul_size, cuda=False if args.no_cuda else None, slow_call_seconds=args.slow_call_seconds)
    write_result(out, record)
    print(markdown(record))
    print(f"wrote {out}")
    return record


if __name__ == "__main__":
    main()
