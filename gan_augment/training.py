"""The one training loop. Each paper's ``models/<name>_recipe.py`` supplies a
:class:`~gan_augment.recipe.Recipe` (its networks, losses and one optimisation step);
:func:`fit` supplies everything else: device and AMP, data order, progress bar, logs,
sample grids, atomic checkpoints, exact resume, export, and data-parallel training on
several processes when started by ``torchrun`` (see :mod:`gan_augment.distributed`).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import platform
import random
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from gan_augment.checkpoint import load_checkpoint, save_checkpoint
from gan_augment.constants import CHECKPOINT_NAME
from gan_augment.devices import resolve_device
from gan_augment.distributed import (
    World,
    any_rank,
    broadcast_from_main,
    gather_to_main,
    mean_over_ranks,
    on_main,
    sync_gradients_before_step,
    training_group,
)
from gan_augment.export import export_run
from gan_augment.functional import check_image_size
from gan_augment.models import get_spec, split_options
from gan_augment.recipe import NoiseRecipe, Recipe  # noqa: F401 (NoiseRecipe: re-exported for old imports)
from gan_augment.run_files import remove_stale_temporaries, truncate_log
from gan_augment.train_data import EpochSampler, GANTrainingView
from gan_augment.visualize import save_grid


@dataclass
class TrainConfig:
    """Loop settings (model settings live in the recipe's hparams). ``batch_size`` is the
    batch of one step over all processes of a distributed run (each takes an equal slice)."""

    out_dir: str
    steps: int | None = None
    epochs: float | None = None
    batch_size: int = 16
    seed: int = 0
    num_workers: int = 2
    device: str = "auto"
    amp: bool = True
    log_every: int = 50
    sample_every: int = 1000
    checkpoint_every: int = 1000
    checkpoint_minutes: float = 10.0
    max_minutes: float | None = None
    max_session_steps: int | None = None
    resume: bool = False
    allow_data_change: bool = False
    """Resume although the data settings recorded in the checkpoint differ (see :func:`fit`)."""
    preview_size: int = 8


@dataclass
class FitResult:
    out_dir: Path
    step: int
    total_steps: int
    train_seconds: float
    finished: bool
    last_losses: dict[str, float]


class _StopFlag:
    """First Ctrl-C / SIGTERM asks the loop to checkpoint and stop; a second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:  # noqa: PYI034 (private, final)
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this step (checkpoint will be saved); press Ctrl-C again to abort", file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _total_steps(config: TrainConfig, steps_per_epoch: int) -> int:
    if (config.steps is None) == (config.epochs is None):
        raise ValueError("give exactly one of steps or epochs")
    total = config.steps if config.steps is not None else math.ceil(config.epochs * steps_per_epoch)
    if total <= 0:
        raise ValueError(f"the run must have at least one step, got {total}")
    return int(total)


def run_metadata(recipe: Recipe, config: TrainConfig, command: str | None) -> dict[str, Any]:
    return {
        "architecture": recipe.architecture,
        "generator_config": recipe.generator_config,
        "hparams": dataclasses.asdict(recipe.hparams),
        "image_size": recipe.image_size,
        "train": dataclasses.asdict(config),
        "command": command,
    }


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"


def fit(
    recipe: Recipe,
    dataset: Dataset,
    config: TrainConfig,
    *,
    command: str | None = None,
    extra_meta: Mapping[str, Any] | None = None,
) -> FitResult:
    """Train ``recipe`` on ``dataset`` (a :class:`~gan_augment.train_data.GANTrainingView`
    or anything keyed by ``(epoch, index)``) as ``config`` says.

    Writes into ``config.out_dir``: ``config.json``, ``checkpoint.safetensors`` (atomic,
    every ``checkpoint_every`` steps / ``checkpoint_minutes`` and at the end), ``log.jsonl``,
    ``samples/step_XXXXXXX.png`` and, when the run completes, ``pretrained/`` (a
    ``from_pretrained`` folder). ``resume=True`` continues exactly where the checkpoint left off;
    it refuses when there is no checkpoint, or when the data differ from the checkpoint's (the
    data set's length, and ``extra_meta["data_settings"]`` when both runs record it) unless
    ``allow_data_change``. A folder holding an exported model (no checkpoint) is refused.

    Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment, or an initialised process
    group) every process runs ``fit`` with the same arguments: gloo on the CPU, NCCL on
    ``cuda:LOCAL_RANK``. Each process takes its slice of every batch, gradients are averaged
    before every optimizer step, and only rank 0 reads and writes ``out_dir``. The processes
    draw noise from their own random streams, saved per rank in the checkpoint, so a resume
    on the same number of processes is exact.
    """
    device = resolve_device(config.device)
    with training_group(device) as (world, device):
        return _fit(recipe, dataset, config, world, device, command=command, extra_meta=extra_meta)


def _fit(
    recipe: Recipe,
    dataset: Dataset,
    config: TrainConfig,
    world: World,
    device: torch.device,
    *,
    command: str | None,
    extra_meta: Mapping[str, Any] | None,
) -> FitResult:
    out = Path(config.out_dir)
    ckpt_path = out / CHECKPOINT_NAME
    meta = {**run_metadata(recipe, config, command), "dataset_size": len(dataset), **(extra_meta or {})}
    if world.distributed:
        meta["world_size"] = world.size
    # checks before any work, on every process alike (a bad batch split raises everywhere)
    sampler = EpochSampler(len(dataset), config.batch_size, config.seed, rank=world.rank, world_size=world.size)
    comm_device = device if device.type == "cuda" else torch.device("cpu")

    recipe.to(device)
    recipe.enable_amp(config.amp)
    recipe.world_size = world.size
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        for net in recipe.networks().values():  # NHWC convolutions use the tensor cores best
            net.to(memory_format=torch.channels_last)

    def prepare_folder() -> dict[str, Any] | None:
        """Rank 0 alone touches the run folder; the checkpoint it reads goes to every process."""
        _check_out_dir(out, ckpt_path, config.resume)
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(out, ".*.tmp-*")  # checkpoint / log temporaries left by a killed run
        state = None
        if ckpt_path.exists():
            if not config.resume:
                raise FileExistsError(f"{ckpt_path} exists: pass resume=True (--resume) to continue it, or use another out_dir")
            state = load_checkpoint(ckpt_path)
            _check_same_run(state["meta"], meta, allow_data_change=config.allow_data_change, defaults=option_defaults(recipe.architecture))
        truncate_log(out / "log.jsonl", int(state["step"]) if state else 0)  # steps after the checkpoint are logged again
        return state

    state = on_main(prepare_folder, comm_device) if world.distributed else prepare_folder()
    step, train_seconds = 0, 0.0
    if state is not None:
        recipe.load_state_dict(state["recipe"])
        recipe.to(device)
        step, train_seconds = int(state["step"]), float(state["train_seconds"])
        _restore_rng(state, world, config.seed, recipe)
        meta["devices"] = list(state["meta"].get("devices", []))
        saved_length = (state["meta"]["train"].get("steps"), state["meta"]["train"].get("epochs"))
        if saved_length != (config.steps, config.epochs) and world.is_main:
            print(
                f"note: the run length changed from steps/epochs {saved_length} to {(config.steps, config.epochs)}; "
                "the learning-rate schedule follows the new length",
                file=sys.stderr,
            )
    elif world.rank > 0:  # rank 0 keeps the stream a single-process run would have
        seed_everything(_rank_seed(config.seed, world.rank))
    this_device = device_name(device) if not world.distributed else f"{world.size} x {device_name(device)}"
    meta["devices"] = [*meta.get("devices", [])] + ([this_device] if this_device not in meta.get("devices", []) else [])

    sampler.start_step = step
    meta["steps_per_epoch"] = sampler.steps_per_epoch
    if world.is_main:
        (out / "config.json").write_text(json.dumps(meta, indent=2, default=str))
    total = _total_steps(config, sampler.steps_per_epoch)
    loader = DataLoader(
        dataset,
        batch_size=sampler.local_batch,
        sampler=sampler,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=config.num_workers > 0,
        # its own generator: creating the iterator must not consume the global RNG
        generator=torch.Generator().manual_seed(config.seed),
        worker_init_fn=_ignore_stop_signals,
    )
    preview_batch = dataset.preview_batch(config.preview_size) if world.is_main and hasattr(dataset, "preview_batch") else None
    hooks: list[Any] = []
    buffers: list[Tensor] = []
    if world.distributed:
        networks = list(recipe.networks().values())
        # identical replicas to start with, whatever each process's seed did
        broadcast_from_main([t for net in networks for t in (*net.parameters(), *net.buffers())])
        buffers = [b for net in networks for b in net.buffers()]
        hooks = sync_gradients_before_step(recipe.optimizers().values(), world.size)

    def agree(*flags: bool) -> list[bool]:
        """One decision for all processes (a signal or a clock may reach only some)."""
        return any_rank(flags, comm_device) if world.distributed else list(flags)

    def checkpoint() -> None:
        ranks = gather_to_main({"rng": _rng_state(), "local": recipe.local_state_dict()}, comm_device) if world.distributed else None
        if not world.is_main:
            return
        saved = {"meta": meta, "recipe": recipe.state_dict(), "step": step, "train_seconds": train_seconds, "rng": _rng_state()}
        if ranks is not None:
            saved["ranks"] = ranks
        save_checkpoint(ckpt_path, saved)

    def sample_grid() -> None:
        if preview_batch is not None:
            with recipe.eval_mode():
                columns = recipe.preview({k: v.to(device) for k, v in preview_batch.items()})
            save_grid(columns, out / "samples" / f"step_{step:07d}.png")

    start_step = step
    running: dict[str, float] = {}
    counts: dict[str, int] = {}  # a loss logged on some steps only (e.g. lazy R1) is averaged over those steps
    last: dict[str, float] = {}
    t_start = time.perf_counter()
    t_last_ckpt = t_start
    seconds_at_start = train_seconds
    bar = tqdm(
        total=total, initial=min(step, total), desc=f"train {recipe.architecture}", unit="step", dynamic_ncols=True,
        disable=not world.is_main,
    )
    try:
        with _StopFlag() as stop, bar:
            batches = iter(loader)
            while step < total:
                out_of_time = config.max_minutes is not None and time.perf_counter() - t_start > 60 * config.max_minutes
                stop_now, out_of_time = agree(stop.requested, out_of_time)
                if stop_now:
                    break
                if config.max_session_steps is not None and step - start_step >= config.max_session_steps:
                    break
                if out_of_time:
                    if world.is_main:
                        print(f"\nmax_minutes={config.max_minutes} reached; checkpointing", file=sys.stderr)
                    break
                batch = {k: _to_device(v, device) for k, v in next(batches).items()}
                recipe.set_progress(step, total)
                losses = recipe.train_step(batch)
                if buffers:  # e.g. BatchNorm statistics: rank 0's, as DistributedDataParallel does
                    broadcast_from_main(buffers)
                step += 1
                bar.update(1)
                for k, v in losses.items():
                    running[k] = running.get(k, 0.0) + v
                    counts[k] = counts.get(k, 0) + 1
                if step % config.log_every == 0 or step == total:
                    last = {k: float(v) / counts[k] for k, v in running.items()}
                    if world.distributed:
                        last = mean_over_ranks(last, comm_device)
                    bad = [k for k, v in last.items() if not math.isfinite(v)]
                    if bad:
                        raise FloatingPointError(
                            f"step {step}: loss {bad} is not finite; the last good checkpoint is {ckpt_path}"
                        )
                    running, counts = {}, {}
                    train_seconds = seconds_at_start + time.perf_counter() - t_start
                    ends = _expected_end(step - start_step, total - step, time.perf_counter() - t_start, config.max_minutes)
                    bar.set_postfix({**{k: f"{v:.3f}" for k, v in last.items()}, "ends": ends})
                    if world.is_main:
                        with open(out / "log.jsonl", "a") as fh:
                            fh.write(json.dumps({"step": step, "seconds": round(train_seconds, 1), **last}) + "\n")
                if step % config.sample_every == 0:
                    sample_grid()
                (clock_due,) = agree(time.perf_counter() - t_last_ckpt > 60 * config.checkpoint_minutes)
                if step % config.checkpoint_every == 0 or clock_due:
                    train_seconds = seconds_at_start + time.perf_counter() - t_start
                    checkpoint()
                    t_last_ckpt = time.perf_counter()
        train_seconds = seconds_at_start + time.perf_counter() - t_start
        checkpoint()
        sample_grid()
    finally:
        for hook in hooks:
            hook.remove()
    finished = step >= total
    if finished and world.is_main:
        export_run(out, out / "pretrained")
    return FitResult(out, step, total, train_seconds, finished, last)


def _expected_end(done: int, left: int, elapsed: float, max_minutes: float | None) -> str:
    """Wall-clock time (local, HH:MM) the run finishes at this session's pace, or when
    ``--max-minutes`` stops it first (marked "(max-minutes)")."""
    if done <= 0:
        return "?"
    finish = time.time() + left * elapsed / done
    limit = None if max_minutes is None else time.time() - elapsed + 60 * max_minutes
    if limit is not None and limit < finish:
        return time.strftime("%H:%M", time.localtime(limit)) + " (max-minutes)"
    return time.strftime("%a %H:%M" if finish - time.time() > 20 * 3600 else "%H:%M", time.localtime(finish))


def _rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """The seed of process ``rank``'s own random stream (rank 0 keeps the run's seed)."""
    return (seed * 1_000_003 + rank * 7_919 + step * 104_729) % 2**63


def _restore_rng(state: Mapping[str, Any], world: World, seed: int, recipe: Recipe) -> None:
    """Each process continues its own saved random stream (and its recipe's per-process
    state); a rank the checkpoint has no stream for (more processes than before) starts a
    fresh one, so the run continues but is not bit-identical to an uninterrupted one."""
    ranks = state.get("ranks") or [{"rng": state["rng"], "local": None}]
    saved_world = len(ranks)
    if world.rank < saved_world:
        _set_rng_state(ranks[world.rank]["rng"])
        if ranks[world.rank].get("local"):
            recipe.load_local_state_dict(ranks[world.rank]["local"])
    else:
        seed_everything(_rank_seed(seed, world.rank, int(state["step"])))
    if saved_world != world.size and world.is_main:
        print(
            f"note: the checkpoint was written by {saved_world} process(es), this run has {world.size}: the data order "
            "is the same, the noise each process draws is not (the continuation is not bit-identical)",
            file=sys.stderr,
        )


def _ignore_stop_signals(worker_id: int) -> None:
    """Data workers leave Ctrl-C / SIGTERM to the main process: a scheduler or ``pkill`` that
    signals the whole process group must not kill a worker mid-step (the main process would
    die with it before it could checkpoint). Workers still exit when the loader shuts down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _to_device(tensor: Tensor, device: torch.device) -> Tensor:
    tensor = tensor.to(device, non_blocking=True)
    if device.type == "cuda" and tensor.ndim == 4:
        tensor = tensor.contiguous(memory_format=torch.channels_last)
    return tensor


def _check_out_dir(out: Path, ckpt_path: Path, resume: bool) -> None:
    """No silent fresh start on ``resume``; never overwrite an exported model folder."""
    if ckpt_path.exists():
        return
    config_path = out / "config.json"
    exported = (out / "model.safetensors").exists()
    if config_path.is_file() and not exported:
        try:
            exported = "train" not in json.loads(config_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            exported = True
    if exported:
        raise FileExistsError(
            f"{out} holds an exported model (config.json / model.safetensors) and no training checkpoint: "
            "training there would overwrite it; choose another out_dir (--out)"
        )
    if resume:
        raise FileNotFoundError(f"cannot resume: there is no checkpoint in {out} ({CHECKPOINT_NAME} is missing); drop --resume to start a new run")


def option_defaults(architecture: str) -> dict[str, dict[str, Any]]:
    """The default of every generator option (``generator_config``) and training option
    (``hparams``) of ``architecture``."""
    spec = get_spec(architecture)
    generator = {
        n: p.default
        for n, p in inspect.signature(spec.generator.__init__).parameters.items()
        if n != "self" and p.default is not inspect.Parameter.empty
    }
    return {"generator_config": generator, "hparams": dataclasses.asdict(spec.hparams())}


def _check_same_run(
    saved: Mapping[str, Any], current: Mapping[str, Any], *, allow_data_change: bool = False,
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Resuming with a different model or data settings would silently mix two runs. An option
    added to the code after the checkpoint was written (absent from its record) counts as its
    default (``defaults``: :func:`option_defaults`), which is what the run trained with."""
    for key in ("architecture", "generator_config", "hparams", "image_size"):
        before = saved.get(key)
        if defaults and key in defaults and isinstance(before, Mapping):
            before = {**{k: v for k, v in defaults[key].items() if k not in before}, **before}
        if before != current.get(key):
            raise ValueError(f"cannot resume: {key} differs from the checkpoint ({saved.get(key)} != {current.get(key)})")
    for key in ("batch_size", "seed"):
        if saved["train"].get(key) != current["train"].get(key):
            raise ValueError(f"cannot resume: {key} differs from the checkpoint")
    if allow_data_change:
        return
    differences = []
    if saved.get("dataset_size") is not None and saved.get("dataset_size") != current.get("dataset_size"):
        differences.append(f"number of training items ({saved['dataset_size']} -> {current.get('dataset_size')})")
    before, now = saved.get("data_settings"), current.get("data_settings")
    if isinstance(before, Mapping) and isinstance(now, Mapping):  # runs started before this record skip the check
        for key in sorted(set(before) | set(now)):
            if before.get(key) != now.get(key):
                differences.append(f"{key} ({before.get(key)!r} -> {now.get(key)!r})")
    if differences:
        raise ValueError(
            "cannot resume: the training data differ from the checkpoint's: " + "; ".join(differences)
            + ". Resume with the same data settings, or pass --allow-data-change (allow_data_change=True) to continue anyway"
        )


def make_recipe(architecture: str, image_size: int, options: Mapping[str, Any] | None = None) -> Recipe:
    """Build a fresh recipe: generator (config completed with its defaults) + hparams.

    ``options`` mixes generator and training keys (``split_options`` routes them).
    """
    image_size = check_image_size(image_size, f"{architecture}: image_size")
    spec = get_spec(architecture)
    generator_options, hparam_options = split_options(architecture, options or {})
    implied = spec.config_for_size(image_size) if spec.config_for_size else {}
    generator_config = {**option_defaults(architecture)["generator_config"], **implied, **generator_options}
    generator = spec.generator(**generator_config)
    return spec.recipe_class()(generator, generator_config, spec.hparams(**hparam_options), image_size)


def make_training_data(architecture: str, dataset: Dataset, image_size: int, seed: int = 0, jitter: float = 1.125) -> Dataset:
    """The (epoch, index)-keyed training view a model trains on: its spec's ``training_data``
    (e.g. skin / lesion domains for translators) or a :class:`GANTrainingView`."""
    image_size = check_image_size(image_size, f"{architecture}: image_size")
    spec = get_spec(architecture)
    if spec.training_data is not None:
        return spec.resolve(spec.training_data)(dataset, image_size, seed)
    return GANTrainingView(dataset, image_size, seed=seed, jitter=jitter)
