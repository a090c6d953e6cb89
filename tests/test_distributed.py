"""Data-parallel training: two CPU processes (gloo), started with the environment torchrun
gives them, train tiny pix2pix models; one process trains the same runs as the reference.

The reference for the weights is the same run on one process: ``batch_size`` is the batch of
one step over all processes, each process takes its half, and gradients are averaged, so with
losses that are means over the batch and no coupling between the images of a batch
(no BatchNorm, no dropout or noise input) both compute the same update
up to the order of floating-point sums. (With instance norm the biases in front of a norm get
no gradient, only rounding noise, which Adam turns into +-lr steps: no normalisation at all.)
The resume check uses the default tiny pix2pix
(BatchNorm, dropout: per-process noise and statistics) and must be bit-exact.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from gan_augment import training
from gan_augment.checkpoint import load_checkpoint
from gan_augment.data import bundled_sample
from gan_augment.distributed import World, world_from_env
from gan_augment.models import get_spec
from gan_augment.train_data import EpochSampler
from gan_augment.training import CHECKPOINT_NAME, TrainConfig, fit, make_recipe, make_training_data, seed_everything

TESTS = Path(__file__).resolve().parent
# no coupling between the images of a batch, no randomness: 2 x 2 images == 1 x 4 images
UNCOUPLED = {"norm": "none", "dropout": 0.0, "d_norm": "none"}
STEPS = 3
ATOL = 2e-6  # measured here: 2.4e-7 after 3 Adam steps (sums of 2 x 2 vs 4 images in another order)


def train_and_record(out: Path, steps: int, overrides: dict, *, max_session_steps: int | None = None, resume: bool = False) -> list[dict[str, torch.Tensor]]:
    """Tiny pix2pix on the bundled sample (batch 4); every parameter and optimizer moment after each step."""
    spec = get_spec("pix2pix")
    seed_everything(0)
    recipe = make_recipe("pix2pix", spec.tiny_image_size, {**spec.tiny_generator_config, **spec.tiny_hparams, **overrides})
    view = make_training_data("pix2pix", bundled_sample(), spec.tiny_image_size, 0)
    records: list[dict[str, torch.Tensor]] = []
    step = recipe.train_step

    def step_and_record(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        losses = step(batch)
        record = {f"{n}.{k}": p.detach().clone() for n, net in recipe.networks().items() for k, p in net.named_parameters()}
        for name, opt in recipe.optimizers().items():
            for i, state in opt.state_dict()["state"].items():
                record.update({f"opt.{name}.{i}.{k}": v.clone() for k, v in state.items() if k != "step"})
        records.append(record)
        return losses

    recipe.train_step = step_and_record
    config = TrainConfig(
        out_dir=str(out), steps=steps, batch_size=4, seed=0, num_workers=0, log_every=1, sample_every=2,
        checkpoint_every=2, resume=resume, max_session_steps=max_session_steps,
    )
    fit(recipe, view, config, command="pytest")
    records.append({f"final.{n}.{k}": v.clone() for n, net in recipe.networks().items() for k, v in net.state_dict().items()})
    return records


def _save(records: list[dict[str, torch.Tensor]], path: Path) -> None:
    save_file({f"{i}/{k}": v.contiguous() for i, r in enumerate(records) for k, v in r.items()}, str(path))


def _load(path: Path) -> list[dict[str, torch.Tensor]]:
    flat = load_file(str(path))
    out: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        i, _, name = key.partition("/")
        out.setdefault(int(i), {})[name] = value
    return [out[i] for i in sorted(out)]


def worker(tmp: Path) -> None:
    """One process of the 2-process job (started by the test below, as torchrun would)."""
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    writes = {"checkpoint": 0, "grid": 0, "export": 0}
    for name, key in (("save_checkpoint", "checkpoint"), ("save_grid", "grid"), ("export_run", "export")):
        original = getattr(training, name)

        def counted(*args, _original=original, _key=key, **kwargs):
            writes[_key] += 1
            return _original(*args, **kwargs)

        setattr(training, name, counted)
    # 1. fit finds WORLD_SIZE=2 in the environment and starts (and ends) the gloo group itself
    _save(train_and_record(tmp / "uncoupled", STEPS, UNCOUPLED), tmp / f"uncoupled-{rank}.safetensors")
    # 2. a group the caller started: exact resume with per-process noise (dropout) and BatchNorm
    os.environ["MASTER_PORT"] = os.environ["SECOND_PORT"]
    dist.init_process_group("gloo")
    _save(train_and_record(tmp / "straight", 4, {}), tmp / f"straight-{rank}.safetensors")
    train_and_record(tmp / "split", 4, {}, max_session_steps=2)
    _save(train_and_record(tmp / "split", 4, {}, resume=True), tmp / f"resumed-{rank}.safetensors")
    dist.destroy_process_group()
    (tmp / f"writes-{rank}.json").write_text(json.dumps(writes))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_train_like_one(tmp_path, monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    env = {
        **os.environ, "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()), "SECOND_PORT": str(_free_port()), "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)]),
    }
    script = f"import sys; from pathlib import Path; from test_distributed import worker; worker(Path({str(tmp_path)!r}))"
    procs = [
        subprocess.Popen([sys.executable, "-c", script], env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for r in range(2)
    ]
    reference = train_and_record(tmp_path / "single", STEPS, UNCOUPLED)  # meanwhile, on one process
    try:
        outputs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    for r, (p, text) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0, f"rank {r} failed:\n{text[-4000:]}"

    ranks = [_load(tmp_path / f"uncoupled-{r}.safetensors") for r in range(2)]
    assert len(ranks[0]) == len(reference) == STEPS + 1
    for step, (a, b, ref) in enumerate(zip(*ranks, reference)):
        assert a.keys() == b.keys() == ref.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), f"step {step + 1}: {key} differs between the replicas"
            assert torch.allclose(a[key], ref[key], rtol=0, atol=ATOL), (
                f"step {step + 1}: {key} differs from one process by {(a[key] - ref[key]).abs().max():.2e}"
            )
    assert any(not torch.equal(a, b) for a, b in zip(ranks[0][0].values(), ranks[0][-2].values())), "the weights never changed"

    # only rank 0 wrote: one log line per step, one checkpoint with both processes' RNG streams
    logged = (tmp_path / "uncoupled" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in logged] == [1, 2, 3]
    state = load_checkpoint(tmp_path / "uncoupled" / CHECKPOINT_NAME)
    assert state["meta"]["world_size"] == 2 and len(state["ranks"]) == 2
    assert (tmp_path / "uncoupled" / "pretrained" / "model.safetensors").is_file()
    writes = [json.loads((tmp_path / f"writes-{r}.json").read_text()) for r in range(2)]
    assert writes[1] == {"checkpoint": 0, "grid": 0, "export": 0} and all(writes[0].values())

    # exact resume on two processes: steps 3-4 of the resumed run == steps 3-4 of the straight run
    for r in range(2):
        straight, resumed = _load(tmp_path / f"straight-{r}.safetensors"), _load(tmp_path / f"resumed-{r}.safetensors")
        assert len(resumed) == 3
        for a, b in zip(straight[2:], resumed):
            for key in a:
                assert torch.equal(a[key], b[key]), f"rank {r}: {key} differs after resume"
    final = [_load(tmp_path / f"straight-{r}.safetensors")[-1] for r in range(2)]
    for key in final[0]:  # BatchNorm statistics too
        assert torch.equal(final[0][key], final[1][key]), f"{key} differs between the replicas at the end"


def test_epoch_sampler_slices_every_batch_over_the_processes():
    one = iter(EpochSampler(10, 4, seed=3, start_step=1))
    keys = [next(one) for _ in range(4 * 5)]
    slices = [iter(EpochSampler(10, 4, seed=3, start_step=1, rank=r, world_size=2)) for r in range(2)]
    parts = [[next(s) for _ in range(2 * 5)] for s in slices]
    for step in range(5):
        assert keys[4 * step : 4 * step + 4] == parts[0][2 * step : 2 * step + 2] + parts[1][2 * step : 2 * step + 2]
    with pytest.raises(ValueError, match="does not split evenly over 3 processes"):
        EpochSampler(10, 4, seed=0, world_size=3)


def test_world_from_torchrun_environment():
    assert world_from_env({}) == World() and not World().distributed
    assert world_from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}) == World(3, 4, 1)
    with pytest.raises(ValueError, match="RANK is not"):
        world_from_env({"WORLD_SIZE": "2"})
    with pytest.raises(ValueError, match=r"RANK must lie in \[0, WORLD_SIZE\)"):
        world_from_env({"WORLD_SIZE": "2", "RANK": "2"})
