"""The test table every registered model joins (as Albumentations' ``aug_definitions.py``).

Each model's tiny config lives in its ``ModelSpec`` (``tiny_generator_config``,
``tiny_hparams``, ``tiny_image_size``); ``MODEL_TABLE`` below says what the model reads.
Every test here runs for every entry of ``list_models()``, so registering a model adds it to
every test, and a registered model missing from the table fails
:func:`test_every_registered_model_is_in_the_table`.

Per model: save -> load bit-exact, exact resume, generation reproducible under a seed, and
every adapter (Albumentations, MONAI, torchvision, MixedDataset, BatchMixer, SyntheticBank)
accepts it with the inputs it reads, or refuses with an error that names what is missing.
"""

from __future__ import annotations

import json

import albumentations as A
import numpy as np
import pytest
import torch
from conftest import disk_mask, tiny_run, tiny_synthesizer
from torchvision import tv_tensors

from gan_augment.checkpoint import load_checkpoint
from gan_augment.mixers import BatchMixer, MixedDataset, SyntheticBank
from gan_augment.models import get_spec, list_models
from gan_augment.synthesizer import MissingInputError, from_pretrained
from gan_augment.training import CHECKPOINT_NAME, make_recipe, seed_everything
from gan_augment.transforms.albumentations import GANAugment
from gan_augment.transforms.monai import RandGANAugmentd
from gan_augment.transforms.torchvision import RandomGANAugment

MODEL_TABLE: dict[str, dict] = {
    # name: what Synthesizer.generate reads for the tiny config (progan's tiny config has 3 classes)
    "cyclegan": {"reads": ("images",)},
    "dcgan": {"reads": ()},
    "inpaint": {"reads": ("masks", "images")},
    "pix2pix": {"reads": ("masks",)},
    "pix2pixhd": {"reads": ("masks", "images")},
    "progan": {"reads": ("labels",)},
    "residual_unet": {"reads": ("masks", "images")},
}
MODELS = list_models()
ADAPTERS = ("albumentations", "monai", "torchvision", "MixedDataset", "BatchMixer", "SyntheticBank")
H, W = 40, 48


@pytest.fixture(scope="module")
def synths():
    cache: dict = {}

    def get(name):
        if name not in cache:
            cache[name] = tiny_synthesizer(name)
        return cache[name]

    return get


def inputs(n=2):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n, 3, H, W, generator=g)
    masks = torch.from_numpy(np.stack([disk_mask(H, W, r=8 + 2 * i) for i in range(n)])).float().unsqueeze(1)
    return {"masks": masks, "images": images, "labels": torch.arange(n) % 3}


def test_every_registered_model_is_in_the_table():
    missing = sorted(set(MODELS) - set(MODEL_TABLE))
    assert not missing, f"registered models missing from MODEL_TABLE (add a row, see CONTRIBUTING.md): {missing}"
    assert sorted(MODEL_TABLE) == MODELS, "MODEL_TABLE names a model that is not registered"


@pytest.mark.parametrize("name", MODELS)
def test_reads_matches_the_table(name, synths):
    assert synths(name).reads == MODEL_TABLE[name]["reads"]


@pytest.mark.parametrize("name", MODELS)
def test_generate_is_reproducible_under_a_seed_and_leaves_global_rng_alone(name, synths):
    synth = synths(name)
    state = torch.get_rng_state()
    a = synth.generate(**inputs(), seed=7)
    b = synth.generate(**inputs(), seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert a.shape == (2, 3, H, W) and a.dtype == torch.float32 and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", MODELS)
def test_generate_names_a_missing_input(name, synths):
    synth = synths(name)
    full = inputs()
    for missing in synth.reads:
        with pytest.raises(MissingInputError, match=f"pass {missing}") as err:
            synth.generate(**{k: v for k, v in full.items() if k != missing}, seed=0)
        assert err.value.input == missing
    if synth.task == "noise_to_image":
        with pytest.raises(ValueError, match="cannot keep an image/mask pair aligned"):
            synth.generate(**full, seed=0, aligned=True)


@pytest.mark.parametrize("name", MODELS)
def test_save_load_round_trip_is_bit_exact(name, synths, tmp_path):
    synth = synths(name)
    synth.save_pretrained(tmp_path)
    loaded = from_pretrained(tmp_path, device="cpu")
    assert loaded.architecture == name and loaded.generator_config == synth.generator_config
    saved, back = synth.network.state_dict(), loaded.network.state_dict()
    assert saved.keys() == back.keys()
    for key, value in saved.items():
        assert torch.equal(value, back[key]), f"{name}: {key} changed in the round trip"
    assert torch.equal(synth.generate(**inputs(), seed=3), loaded.generate(**inputs(), seed=3))


@pytest.mark.parametrize("name", MODELS)
def test_tiny_config_trains(name, tmp_path):
    spec = get_spec(name)
    assert spec.tiny_generator_config, f"{name} needs a tiny test config in its ModelSpec"
    seed_everything(0)
    fresh = make_recipe(name, spec.tiny_image_size, {**spec.tiny_generator_config, **spec.tiny_hparams})
    before = {k: v.clone() for k, v in fresh.generator.state_dict().items()}
    recipe, result = tiny_run(name, tmp_path, steps=3)
    assert result.finished and result.step == 3
    assert result.last_losses and all(np.isfinite(v) for v in result.last_losses.values())
    after = recipe.generator.state_dict()
    assert any(not torch.equal(before[k].cpu(), after[k].cpu()) for k in before if before[k].is_floating_point())
    assert (tmp_path / CHECKPOINT_NAME).is_file()
    assert (tmp_path / "pretrained" / "model.safetensors").is_file()
    assert sorted(p.name for p in (tmp_path / "samples").iterdir())
    assert json.loads((tmp_path / "config.json").read_text())["architecture"] == name


@pytest.mark.parametrize("name", MODELS)
def test_resume_continues_exactly(name, tmp_path):
    _, straight = tiny_run(name, tmp_path / "straight", steps=5)
    _, first = tiny_run(name, tmp_path / "split", steps=5, max_session_steps=2)
    assert first.step == 2 and not first.finished
    _, second = tiny_run(name, tmp_path / "split", steps=5, resume=True)
    assert second.finished and second.step == straight.step == 5
    a = load_checkpoint(tmp_path / "straight" / CHECKPOINT_NAME)["recipe"]
    b = load_checkpoint(tmp_path / "split" / CHECKPOINT_NAME)["recipe"]
    for net in a["networks"]:
        for key, value in a["networks"][net].items():
            assert torch.equal(value, b["networks"][net][key]), f"{net}.{key} differs after resume"
    for opt in a["optimizers"]:
        for idx, state in a["optimizers"][opt]["state"].items():
            for key, value in state.items():
                assert torch.equal(value, b["optimizers"][opt]["state"][idx][key])


# --- adapters ---------------------------------------------------------------------------------


def _sample(with_mask: bool):
    image = (inputs(1)["images"][0] * 255).to(torch.uint8)
    mask = disk_mask(H, W)
    return image, (mask if with_mask else None)


def _run_adapter(adapter: str, synth, tmp_path, *, with_mask: bool, label: int | None):
    """Apply ``adapter`` with ``synth`` once; returns the synthetic image (3HW or HWC)."""
    image, mask = _sample(with_mask)
    if adapter == "albumentations":
        t = A.Compose([GANAugment(synth, p=1.0, label=label)], seed=0)
        data = {"image": image.permute(1, 2, 0).numpy(), **({"mask": mask} if mask is not None else {}), **({"label": 0} if label is not None else {})}
        return t(**data)["image"]
    if adapter == "monai":
        keys = ("image", "mask") if mask is not None else ("image",)
        t = RandGANAugmentd(keys=keys, generator=synth, prob=1.0, label=label, class_key="class" if label is not None else None)
        t.set_random_state(0)
        data = {"image": image.float() / 255, **({"mask": mask[None]} if mask is not None else {}), "class": 0}
        return t(data)["image"]
    if adapter == "torchvision":
        t = RandomGANAugment(synth, p=1.0, label=label)
        data = {"image": tv_tensors.Image(image), "label": 0}
        if mask is not None:
            data["mask"] = tv_tensors.Mask(torch.from_numpy(mask))
        return t(data)["image"]
    real = [{"image": image.permute(1, 2, 0).numpy(), "mask": disk_mask(H, W), "label": k % 3} for k in range(3)]
    if adapter == "MixedDataset":
        ds = MixedDataset(real, synth, ratio=1.0, masks="shapes", image_size=H if with_mask else None, seed=0)
        return ds[len(real)]["image"]
    if adapter == "SyntheticBank":
        labels = [1, 2] if synth.num_classes else None
        bank = SyntheticBank.build(synth, tmp_path / "bank", 2, shard_size=1, labels=labels, real=real, image_size=32, progress=False)
        return bank[0]["image"]
    assert adapter == "BatchMixer"
    batch = {"image": image[None].repeat(2, 1, 1, 1), "label": torch.tensor([0, 1])}
    if mask is not None:
        batch["mask"] = torch.from_numpy(mask)[None].repeat(2, 1, 1)
    return BatchMixer(synth, 1.0, seed=0)(batch)["image"][0]


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("name", MODELS)
def test_every_adapter_accepts_the_model(name, adapter, synths, tmp_path):
    synth = synths(name)
    noise = synth.task == "noise_to_image"
    label = 2 if synth.num_classes else None
    out = np.asarray(_run_adapter(adapter, synth, tmp_path, with_mask=not noise, label=label))
    assert out.size and np.isfinite(out.astype(np.float64)).all()


@pytest.mark.parametrize("adapter", ["albumentations", "monai", "torchvision", "BatchMixer"])
@pytest.mark.parametrize("name", MODELS)
def test_every_adapter_refuses_missing_inputs_clearly(name, adapter, synths, tmp_path):
    """Mask-reading models without a mask name the mask; noise models in a segmentation
    pipeline (image + mask) say they cannot keep the pair aligned; others accept both."""
    synth = synths(name)
    label = 2 if synth.num_classes else None
    if "masks" in synth.reads:
        with pytest.raises(ValueError, match="mask"):
            _run_adapter(adapter, synth, tmp_path, with_mask=False, label=label)
    elif synth.task == "noise_to_image" and adapter != "BatchMixer":  # BatchMixer replaces images of classification batches
        with pytest.raises(ValueError, match="aligned"):
            _run_adapter(adapter, synth, tmp_path, with_mask=True, label=label)
    else:
        _run_adapter(adapter, synth, tmp_path, with_mask=False, label=label)
        _run_adapter(adapter, synth, tmp_path / "with-mask", with_mask=True, label=label)
