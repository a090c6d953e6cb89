"""Shared fixtures: tiny models on tiny images, offline hub, paths to the team's data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

# No test may download anything: the hub client fails fast instead.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TQDM_DISABLE", "1")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
ISIC2017_ROOT = SHARED_DATA / "isic2017"
HAM10000_ROOT = SHARED_DATA / "ham10000"

needs_isic2017 = pytest.mark.skipif(not ISIC2017_ROOT.is_dir(), reason="../shared/data/isic2017 not present")
needs_ham10000 = pytest.mark.skipif(not HAM10000_ROOT.is_dir(), reason="../shared/data/ham10000 not present")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def tiny_synthesizer(architecture: str = "pix2pix", seed: int = 0, overrides=None):
    """A randomly initialised tiny generator of ``architecture`` (its tiny config with
    ``overrides``) wrapped as a Synthesizer."""
    from gan_augment.models import get_spec
    from gan_augment.synthesizer import Synthesizer
    from gan_augment.training import make_recipe

    spec = get_spec(architecture)
    torch.manual_seed(seed)
    recipe = make_recipe(architecture, spec.tiny_image_size, {**spec.tiny_generator_config, **spec.tiny_hparams, **(overrides or {})})
    return Synthesizer.from_network(recipe.generator, architecture, recipe.generator_config, spec.tiny_image_size)


def tiny_run(name, out, *, steps=4, resume=False, max_session_steps=None, seed=0, overrides=None):
    """A few CPU training steps of ``name``'s tiny config (its ModelSpec's) on the bundled sample."""
    from gan_augment.data import bundled_sample
    from gan_augment.models import get_spec
    from gan_augment.training import TrainConfig, fit, make_recipe, make_training_data, seed_everything

    spec = get_spec(name)
    seed_everything(seed)
    recipe = make_recipe(name, spec.tiny_image_size, {**spec.tiny_generator_config, **spec.tiny_hparams, **(overrides or {})})
    view = make_training_data(name, bundled_sample(), spec.tiny_image_size, seed)
    config = TrainConfig(
        out_dir=str(out), steps=steps, batch_size=2, seed=seed, num_workers=0, log_every=1,
        sample_every=2, checkpoint_every=2, resume=resume, max_session_steps=max_session_steps,
    )
    return recipe, fit(recipe, view, config, command="pytest")


@pytest.fixture(scope="session")
def tiny_pix2pix_dir(tmp_path_factory) -> Path:
    """A saved tiny pix2pix model folder (config.json + model.safetensors)."""
    path = tmp_path_factory.mktemp("tiny_pix2pix")
    tiny_synthesizer("pix2pix").save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_pix2pix(tiny_pix2pix_dir):
    from gan_augment.synthesizer import from_pretrained

    return from_pretrained(tiny_pix2pix_dir, device="cpu")


def disk_mask(h: int, w: int, cy: float | None = None, cx: float | None = None, r: float | None = None) -> np.ndarray:
    """A binary HW uint8 disk (default: centred, radius a quarter of the shorter side)."""
    cy = h / 2 if cy is None else cy
    cx = w / 2 if cx is None else cx
    r = min(h, w) / 4 if r is None else r
    yy, xx = np.mgrid[:h, :w]
    return (((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r).astype(np.uint8)
