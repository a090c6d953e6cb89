"""Where benchmark results go: one new file per benchmark, machine and date under
benchmarks/results/, never overwritten (committed results are evidence).

    results/<device>-<date>.json               run_all.py
    results/<kind>-<device>-<date>.json        train_speed.py, loader.py, generator_speed.py
"""

from __future__ import annotations

import datetime
import json
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_name() -> str:
    """``cpu-<arch>-<N>threads`` (N: torch's default intra-op threads on this machine)."""
    import torch  # lazy: importing this module stays cheap

    return f"cpu-{platform.machine()}-{torch.get_num_threads()}threads"


def device_name() -> str:
    """The machine as results name it: the CUDA device when present, else :func:`cpu_name`."""
    import torch  # lazy: importing this module stays cheap

    return torch.cuda.get_device_name() if torch.cuda.is_available() else cpu_name()


def today() -> str:
    return datetime.date.today().isoformat()


def result_path(kind: str | None = None, device: str | None = None, out: str | Path | None = None) -> Path:
    """``out`` if given, else results/[<kind>-]<device>-<date>.json. Refuses (SystemExit) a
    path that exists: call it before measuring, so a clash fails at once, not after the run."""
    if out is not None:
        path = Path(out)
    else:
        device = (device or device_name()).replace(" ", "_")
        path = RESULTS / f"{kind + '-' if kind else ''}{device}-{today()}.json"
    if path.exists():
        raise SystemExit(f"{path} exists: results are never overwritten (move it, wait a day or pass --out)")
    return path


def write_result(path: Path, record: dict) -> Path:
    """Write ``record`` as JSON to a path that must not exist yet (exclusive create)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "x") as fh:
            fh.write(json.dumps(record, indent=2) + "\n")
    except FileExistsError:
        raise SystemExit(f"{path} exists: results are never overwritten (move it, wait a day or pass --out)") from None
    return path


def run_child(argv: list[str], timeout: float | None = None) -> dict:
    """Run ``argv`` (a fresh interpreter: its own thread setting, its own peak memory) and
    return the JSON object its last stdout line holds; a failure or a timeout becomes
    ``{"error": ...}`` (the whole process group is killed on timeout), never an exception."""
    import os
    import signal
    import subprocess

    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the child and anything it started (compile workers)
        proc.communicate()
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = stderr.strip().splitlines()
        return {"error": tail[-1] if tail else f"exit {proc.returncode}"}
    return json.loads(lines[-1])
