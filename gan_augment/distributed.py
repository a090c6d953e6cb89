"""Where this process stands in a ``torchrun`` job, and the few collectives the training
loop needs (a leaf: imports only torch).

``torchrun`` (or a cluster launcher that sets the same variables) starts one process per
device with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``
in the environment; :func:`current_world` reads them. Nothing here starts processes.

Training (:func:`gan_augment.training.fit`) keeps one full replica of every network per
process and averages gradients in :func:`sync_gradients_before_step`, a pre-hook on each
optimizer's ``step``: recipes call ``backward`` and ``step`` for the generator and the
discriminator separately (and update EMA copies after the step), so the single place every
update passes through is the optimizer step, not a module's forward as in
``DistributedDataParallel``. Frozen weights (the projected discriminator's backbone and
projections) have no gradient and are never communicated.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """This process's place in the job: ``rank`` of ``size`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files (checkpoints, logs, samples, exports)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world_from_env(environ: Mapping[str, str] | None = None) -> World:
    """The :class:`World` that ``torchrun``'s variables describe (one process when unset)."""
    env = os.environ if environ is None else environ
    try:
        size = int(env.get("WORLD_SIZE", "1") or 1)
        if size <= 1:
            return World()
        rank = int(env["RANK"])
        local_rank = int(env.get("LOCAL_RANK", rank))
    except KeyError:
        raise ValueError("WORLD_SIZE > 1 is set but RANK is not: start the processes with torchrun (or set RANK too)") from None
    except ValueError:
        raise ValueError(f"RANK / WORLD_SIZE / LOCAL_RANK must be integers, got {env.get('RANK')!r} / {env.get('WORLD_SIZE')!r} / {env.get('LOCAL_RANK')!r}") from None
    if not 0 <= rank < size:
        raise ValueError(f"RANK must lie in [0, WORLD_SIZE), got RANK={rank}, WORLD_SIZE={size}")
    return World(rank, size, local_rank)


def current_world() -> World:
    """The initialised process group's rank and size if there is one, else the environment's."""
    if dist.is_available() and dist.is_initialized():
        rank = dist.get_rank()
        return World(rank, dist.get_world_size(), int(os.environ.get("LOCAL_RANK", rank)))
    return world_from_env()


@contextmanager
def training_group(device: torch.device) -> Iterator[tuple[World, torch.device]]:
    """Join the job's process group for the block when the job has several processes.

    Backend: NCCL on CUDA (each process on ``cuda:LOCAL_RANK`` unless ``device`` names an
    index), gloo on the CPU. A group the caller initialised is used as it is and left open;
    one created here is destroyed on exit. With one process, nothing happens.
    """
    world = current_world()
    if not world.distributed:
        yield world, device
        return
    if not dist.is_available():
        raise RuntimeError("this torch build has no torch.distributed: run on one process")
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank if device.index is None else device.index)
        torch.cuda.set_device(device)
    created = not dist.is_initialized()
    if created:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield world, device
    finally:
        if created and dist.is_initialized():
            dist.destroy_process_group()


def _buckets(tensors: Iterable[Tensor]) -> list[list[Tensor]]:
    """Tensors grouped by (device, dtype), so each group travels as one flat buffer."""
    groups: dict[tuple[torch.device, torch.dtype], list[Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.device, t.dtype), []).append(t)
    return list(groups.values())


def _flat_collective(tensors: Iterable[Tensor], op: Callable[[Tensor], None]) -> None:
    for bucket in _buckets(tensors):
        flat = torch.cat([t.detach().reshape(-1) for t in bucket])
        op(flat)
        for t, part in zip(bucket, torch.split(flat, [t.numel() for t in bucket])):
            t.detach().copy_(part.view_as(t))


def average_gradients(parameters: Iterable[Tensor], world_size: int) -> None:
    """Replace each parameter's gradient by its mean over the processes (one all-reduce per
    dtype). Parameters without a gradient are skipped: every process runs the same step
    code, so the same parameters have gradients everywhere."""
    def mean(flat: Tensor) -> None:
        dist.all_reduce(flat)
        flat.div_(world_size)

    grads = [p.grad for p in parameters if p.grad is not None]
    if grads:
        _flat_collective(grads, mean)


def sync_gradients_before_step(optimizers: Iterable[torch.optim.Optimizer], world_size: int) -> list[Any]:
    """Average every optimizer's gradients over the processes just before its ``step``.

    Returns the hook handles (``handle.remove()`` undoes it)."""

    def hook(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        average_gradients((p for group in optimizer.param_groups for p in group["params"]), world_size)

    return [opt.register_step_pre_hook(hook) for opt in optimizers]


def broadcast_from_main(tensors: Iterable[Tensor]) -> None:
    """Overwrite ``tensors`` (parameters, buffers) in place with rank 0's values."""
    _flat_collective(list(tensors), lambda flat: dist.broadcast(flat, src=0))


def any_rank(flags: Sequence[bool], device: torch.device) -> list[bool]:
    """Each flag true if it is true on any process: one decision for all (stop, checkpoint)."""
    t = torch.tensor([int(f) for f in flags], dtype=torch.int32, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def mean_over_ranks(values: Mapping[str, float], device: torch.device) -> dict[str, float]:
    """The mean of each value over the processes (the same keys on every process)."""
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {k: v / dist.get_world_size() for k, v in zip(keys, t.tolist())}


# errors rank 0 may hit while preparing the run folder, re-raised as the same type elsewhere
_SHARED_ERRORS: dict[str, type[Exception]] = {
    e.__name__: e
    for e in (ValueError, KeyError, FileExistsError, FileNotFoundError, PermissionError, OSError, RuntimeError, TypeError)
}


def on_main(fn: Callable[[], T], device: torch.device) -> T:
    """Run ``fn`` on rank 0 only and hand its result (or its error: type name and message,
    nothing unpickled from it) to every process."""
    payload: list[Any] = [None]
    if dist.get_rank() == 0:
        try:
            payload = [(True, fn())]
        except Exception as err:  # re-raised on every process below
            payload = [(False, (type(err).__name__, str(err)))]
            dist.broadcast_object_list(payload, src=0, device=device if device.type == "cuda" else None)
            raise
    dist.broadcast_object_list(payload, src=0, device=device if device.type == "cuda" else None)
    ok, value = payload[0]
    if not ok:
        name, message = value
        raise _SHARED_ERRORS.get(name, RuntimeError)(message if name in _SHARED_ERRORS else f"{name}: {message}")
    return value


def gather_to_main(obj: Any, device: torch.device) -> list[Any] | None:
    """Every process's ``obj``, in rank order, on rank 0 (``None`` elsewhere)."""
    out: list[Any] | None = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
