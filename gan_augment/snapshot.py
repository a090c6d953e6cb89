"""Warm-start snapshots: a run's networks in float16, small enough to commit.

Full resume state (optimisers, RNG) stays in the run folder, outside the repository. A
snapshot keeps only the networks (generator, its EMA, discriminators) and where the run
stood, so that another machine can continue training from the same weights with fresh
optimisers (``gan-augment train ... --warm-start FILE``). Safetensors only, nothing pickled.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch

from gan_augment.checkpoint import load_checkpoint, save_checkpoint
from gan_augment.constants import CHECKPOINT_NAME
from gan_augment.recipe import Recipe

# a moving-average generator is "G" (CycleGAN: also "G_BA"); the generator trained next to it
# has its name + "_train" ("G_train", "G_BA_train")
_TRAINED_SUFFIX = "_train"


def _average_of(name: str, names: Any) -> str | None:
    """The moving average that ``name`` is the trained generator of, if ``names`` holds it."""
    if name.startswith("G") and name.endswith(_TRAINED_SUFFIX) and name[: -len(_TRAINED_SUFFIX)] in names:
        return name[: -len(_TRAINED_SUFFIX)]
    return None


def write_snapshot(
    run_dir: str | os.PathLike, dest: str | os.PathLike, dtype: torch.dtype = torch.float16, *, ema_only: bool = False
) -> Path:
    """The networks of ``run_dir``'s latest checkpoint, floating tensors cast to ``dtype``.
    ``ema_only``: leave out the trained generator where a moving average of it is kept (about
    half the size); a warm start then restarts the trained generator from the average."""
    state = load_checkpoint(Path(run_dir) / CHECKPOINT_NAME)
    saved = state["recipe"]["networks"]
    networks = {
        name: {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in net.items()}
        for name, net in saved.items()
        if not (ema_only and _average_of(name, saved))
    }
    meta = state["meta"]
    return save_checkpoint(dest, {
        "snapshot": {
            "architecture": meta["architecture"],
            "generator_config": meta["generator_config"],
            "image_size": meta["image_size"],
            "step": int(state["step"]),
            "train_seconds": float(state["train_seconds"]),
            "command": meta.get("command"),
            # images the moving average has seen: a warm start continues its ramp-up from here
            **({"images_seen": int(state["recipe"]["images_seen"])} if "images_seen" in state["recipe"] else {}),
        },
        "networks": networks,
    })


def warm_start(recipe: Recipe, path: str | os.PathLike) -> dict[str, Any]:
    """Load a snapshot's networks into ``recipe`` (strictly; optimisers stay fresh). Returns
    the snapshot's record (architecture, step, wall time) for the new run's metadata."""
    state = load_checkpoint(path)
    if "snapshot" not in state:
        raise ValueError(f"{path} is not a warm-start snapshot (gan-augment snapshot RUN --to FILE writes one)")
    info = state["snapshot"]
    if info["architecture"] != recipe.architecture or info["generator_config"] != recipe.generator_config:
        raise ValueError(
            f"{path}: snapshot of {info['architecture']} {info['generator_config']} does not match this run's "
            f"{recipe.architecture} {recipe.generator_config}"
        )
    restarted = []
    for name, net in recipe.networks().items():
        source = name
        average = _average_of(name, state["networks"])
        if name not in state["networks"] and average:
            source = average  # an --ema-only snapshot: training continues from the average
            restarted.append(name)
        if source not in state["networks"]:
            raise ValueError(f"{path}: no weights for network {name!r}")
        weights = state["networks"][source]
        bad = [k for k, v in weights.items() if v.is_floating_point() and not bool(torch.isfinite(v.float()).all())]
        if bad:
            raise ValueError(f"{path}: non-finite values in {name} tensors {bad[:5]}")
        reference = net.state_dict()
        net.load_state_dict({k: v.to(reference[k].dtype) if k in reference else v for k, v in weights.items()}, strict=True)
    if "images_seen" in info and hasattr(recipe, "images_seen"):
        recipe.images_seen = int(info["images_seen"])  # the EMA keeps its half-life, not a fresh ramp-up
    note = "networks only; optimisers restarted" + (f"; {', '.join(restarted)} restarted from the moving average" if restarted else "")
    return {"file": str(path), **{k: info[k] for k in ("step", "train_seconds", "command")}, "note": note}


def snapshot_size_mb(path: str | os.PathLike) -> float:
    return math.ceil(Path(path).stat().st_size / 1e5) / 10
