"""Device choice: CUDA when present, else CPU; never CUDA inside a DataLoader worker.

CUDA cannot be used in a process forked after the parent touched it, and one CUDA context
per worker wastes GPU memory. So ``"auto"`` resolves to the CPU inside DataLoader workers;
for GPU synthesis use :class:`gan_augment.mixers.BatchMixer` in the main process.
``torch.cuda.is_available()`` does not initialise CUDA, so asking is safe anywhere.

Fork safety: a process forked after the parent ran torch on several threads inherits a
copy of the intra-op (OpenMP) thread pool whose threads do not exist in the child, and the
child's first parallel op waits for them forever. Importing this module registers a
fork hook that sets torch to one thread in every forked child, as DataLoader workers do
(``multiprocessing`` fork pools, ``os.fork``).
"""

from __future__ import annotations

import os

import torch
from torch.utils.data import get_worker_info


def _one_thread_in_forked_child() -> None:
    torch.set_num_threads(1)


if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork
    os.register_at_fork(after_in_child=_one_thread_in_forked_child)


def in_dataloader_worker() -> bool:
    return get_worker_info() is not None


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` -> ``cuda`` if available (and not in a DataLoader worker) else ``cpu``."""
    if device is None or (isinstance(device, str) and device == "auto"):
        if torch.cuda.is_available() and not in_dataloader_worker():
            return torch.device("cuda")
        return torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device} was requested but CUDA is not available on this machine")
    return device
