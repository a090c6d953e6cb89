"""Device choice: CUDA when present, else CPU; never CUDA inside a DataLoader worker.

CUDA cannot be used in a process forked after the parent touched it, and one CUDA context
per worker wastes GPU memory. So ``"auto"`` resolves to the CPU inside DataLoader workers;
for GPU synthesis use :class:`gan_augment.mixers.BatchMixer` in the main process.
``torch.cuda.is_available()`` does not initialise CUDA, so asking is safe anywhere.
"""

from __future__ import annotations

import torch
from torch.utils.data import get_worker_info


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
