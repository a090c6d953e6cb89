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
