"""The recipe interface: one model's training step (a leaf of the import graph).

Each paper's ``models/<name>_recipe.py`` subclasses :class:`Recipe`; the training loop
(:func:`gan_augment.training.fit`) drives it. This module imports only torch and the other
leaves (:mod:`gan_augment.registry`, :mod:`gan_augment.functional`), so a recipe file never
imports the loop and the loop never imports a particular recipe.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import torch
from torch import Tensor, nn

from gan_augment.ema import EMA
from gan_augment.functional import from_model_range, latent, seeded
from gan_augment.registry import get_spec


class Recipe:
    """One model's training step. Subclasses build ``self.generator``, their discriminators
    and optimisers in ``__init__`` and implement :meth:`train_step` and :meth:`preview`.

    ``hparams`` is the model's hyper-parameter dataclass; if it has ``lr_decay_start``
    (a fraction of the run), learning rates decay linearly to zero from there (pix2pix).

    Distributed runs (:mod:`gan_augment.distributed`): every process holds a replica and
    calls :meth:`train_step` on its slice of the step's batch; the loop averages gradients
    before each optimizer step, so recipes need no change, except that anything counted in
    images (EMA half-lives, growth schedules) counts :meth:`global_batch`, and state that
    differs between processes (e.g. an image pool) goes into :meth:`local_state_dict`.
    """

    architecture: str = ""

    def __init__(self, generator: nn.Module, generator_config: Mapping[str, Any], hparams: Any, image_size: int):
        self.generator = generator
        self.generator_config = dict(generator_config)
        self.hparams = hparams
        self.image_size = int(image_size)
        self.device = torch.device("cpu")
        self._amp_dtype: torch.dtype | None = None
        self.world_size = 1
        """Processes training this recipe together (set by the training loop)."""

    # --- what subclasses provide -------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """One optimisation step; returns detached scalar losses."""
        raise NotImplementedError

    def preview(self, batch: dict[str, Tensor]) -> list[Tensor]:
        """Columns of a sample grid, each N3HW in [0, 1] (e.g. mask | real | fake)."""
        raise NotImplementedError

    # --- shared machinery ---------------------------------------------------------------
    def to(self, device: torch.device) -> Recipe:
        self.device = torch.device(device)
        for net in self.networks().values():
            net.to(self.device)
        for opt in self.optimizers().values():  # optimiser state follows its parameters
            for state in opt.state.values():
                for k, v in state.items():
                    if isinstance(v, Tensor) and k != "step":
                        state[k] = v.to(self.device)
        return self

    def enable_amp(self, enabled: bool) -> None:
        """bf16 autocast on CUDA (no gradient scaling needed)."""
        self._amp_dtype = torch.bfloat16 if enabled and self.device.type == "cuda" else None

    def autocast(self) -> AbstractContextManager:
        if self._amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self._amp_dtype)

    def set_progress(self, step: int, total_steps: int) -> None:
        start = getattr(self.hparams, "lr_decay_start", None)
        if start is None:
            return
        frac = step / max(total_steps, 1)
        factor = 1.0 if frac <= start else max(0.0, (1.0 - frac) / max(1.0 - start, 1e-8))
        for opt in self.optimizers().values():
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])
                group["lr"] = group["initial_lr"] * factor

    def global_batch(self, local_batch: int) -> int:
        """Images in this step over all processes, given this process's ``local_batch``."""
        return local_batch * self.world_size

    def local_state_dict(self) -> dict[str, Any]:
        """State that differs between the processes of a distributed run (beyond the RNG,
        which the loop saves per process); checkpointed per rank for an exact resume."""
        return {}

    def load_local_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`local_state_dict` returned on this rank."""

    def state_dict(self) -> dict[str, Any]:
        return {
            "networks": {k: v.state_dict() for k, v in self.networks().items()},
            "optimizers": {k: v.state_dict() for k, v in self.optimizers().items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name, net in self.networks().items():
            net.load_state_dict(state["networks"][name], strict=True)
        for name, opt in self.optimizers().items():
            opt.load_state_dict(state["optimizers"][name])

    @contextmanager
    def eval_mode(self) -> Iterator[None]:
        """Generator in inference mode for previews; training mode restored afterwards."""
        was_training = self.generator.training
        get_spec(self.architecture).prepare_for_inference(self.generator)
        try:
            with torch.inference_mode():
                yield
        finally:
            self.generator.train(was_training)


class NoiseRecipe(Recipe):
    """Base of noise -> image recipes: previews from fixed latents (seed 0), real | fake."""

    def preview(self, batch: dict[str, Tensor]) -> list[Tensor]:
        g = self.networks()["G"]  # the exported generator (a moving average where the recipe keeps one)
        labels = batch.get("label") if g.num_classes else None
        z = latent(batch["image"].shape[0], g.latent_dim, seed=0).to(self.device)
        with seeded(0, self.device):
            fake = g(z, labels).float()
        return [from_model_range(batch["image"]), from_model_range(fake)]


class EMARecipe(Recipe):
    """A recipe whose generator may keep an exponential moving average (:meth:`init_ema`).

    With the average, :meth:`generator_networks` names it ``G`` (what ``gan-augment export``
    and ``snapshot --ema-only`` take) and the trained generator ``G_train``; the images seen
    so far (over all processes) go into the checkpoint for an exact resume."""

    ema: EMA | None = None
    images_seen: int = 0

    def init_ema(self, half_life_images: float) -> None:
        """An average of ``self.generator`` with that half-life in images; none for 0."""
        if half_life_images < 0:
            raise ValueError(f"ema_half_life_images must be >= 0 (0: no moving average), got {half_life_images}")
        self.ema = EMA(self.generator, half_life_images) if half_life_images > 0 else None
        self.images_seen = 0

    def generator_networks(self) -> dict[str, nn.Module]:
        if self.ema is None:
            return {"G": self.generator}
        return {"G": self.ema.module, "G_train": self.generator}

    @property
    def exported_generator(self) -> nn.Module:
        """The generator previews and exports show: the average where one is kept."""
        return self.ema.module if self.ema is not None else self.generator

    def update_ema(self, local_batch: int) -> None:
        """After the generator's optimiser step on ``local_batch`` images of this process."""
        if self.ema is None:
            return
        self.images_seen += self.global_batch(local_batch)
        self.ema.update(self.generator, self.global_batch(local_batch), self.images_seen)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        return {**state, "images_seen": self.images_seen} if self.ema is not None else state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.images_seen = int(state.get("images_seen", 0))
