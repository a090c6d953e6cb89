"""CUDA paths (opt-in: ``make test-gpu`` / ``pytest -m gpu`` on a machine with a GPU):
lazy loading onto the GPU, no CUDA in DataLoader workers, BatchMixer, AMP training."""

from __future__ import annotations

import pytest
import torch
from conftest import disk_mask, needs_cuda, tiny_synthesizer
from torch.utils.data import DataLoader, Dataset

import gan_augment as ga
from gan_augment.data import bundled_sample
from gan_augment.mixers import BatchMixer
from gan_augment.models import get_spec, list_models
from gan_augment.training import TrainConfig, fit, make_recipe, make_training_data, seed_everything

pytestmark = [pytest.mark.gpu, needs_cuda]


def masks(n=4, size=128):
    return torch.stack([torch.from_numpy(disk_mask(size, size, r=size / (4 + i))).float() for i in range(n)]).unsqueeze(1)


def test_bundled_checkpoint_loads_lazily_onto_cuda():
    name = "mask2lesion-isic2017-128"
    g = ga.from_pretrained(name)
    assert not g.is_loaded and g.device.type == "cuda"
    out = g.translate(masks=masks(), seed=0)
    assert g.is_loaded and next(g.network.parameters()).is_cuda
    assert out.device.type == "cpu" and out.shape == (4, 3, 128, 128)  # back on the input's device
    assert g.translate(masks=masks().cuda(), seed=0).is_cuda
    cpu = ga.from_pretrained(name, device="cpu")
    g.network.eval(), cpu.network.eval()  # without dropout noise both devices compute the same image
    assert torch.allclose(g.translate(masks=masks()), cpu.translate(masks=masks()), atol=1e-2)


class SynthesisInWorkers(Dataset):
    def __init__(self, synth):
        self.synth = synth

    def __len__(self):
        return 4

    def __getitem__(self, i):
        out = self.synth.translate(masks=masks(1, 32), seed=i)
        return {"image": out[0], "device": str(self.synth.device), "cuda_initialised": torch.cuda.is_initialized()}


def test_auto_device_never_initialises_cuda_in_forked_workers(tiny_pix2pix_dir):
    synth = ga.from_pretrained(tiny_pix2pix_dir)  # device "auto", not loaded yet
    loader = DataLoader(SynthesisInWorkers(synth), batch_size=2, num_workers=2, multiprocessing_context="fork")
    for batch in loader:
        assert batch["device"] == ["cpu", "cpu"]
        assert not any(batch["cuda_initialised"])
    assert not synth.is_loaded  # the main process never loaded it


def test_batch_mixer_on_cuda_batches():
    g = ga.from_pretrained("mask2lesion-isic2017-128")
    mixer = BatchMixer(g, fraction=0.5, seed=0)
    m = masks(8, 128).cuda()
    batch = {"image": torch.rand(8, 3, 128, 128, device="cuda"), "mask": m}
    out = mixer(batch)
    assert out["image"].is_cuda and out["synthetic"].sum() == 4
    assert torch.equal(out["mask"], m)
    replaced = out["synthetic"].cuda()
    assert not torch.equal(out["image"][replaced], batch["image"][replaced])
    assert torch.equal(out["image"][~replaced], batch["image"][~replaced])
    grey = out["image"][replaced].mean(1, keepdim=True)
    inside = (grey * m[replaced]).sum() / m[replaced].sum()
    outside = (grey * (1 - m[replaced])).sum() / (1 - m[replaced]).sum()
    assert inside < outside  # lesions drawn inside the batch's own masks


def test_batch_mixer_cpu_batch_with_cuda_generator():
    g = ga.from_pretrained("mask2lesion-isic2017-128")
    out = BatchMixer(g, fraction=0.25)({"image": torch.zeros(4, 3, 64, 64, dtype=torch.uint8), "mask": masks(4, 64)})
    assert out["image"].device.type == "cpu" and out["image"].dtype == torch.uint8 and out["synthetic"].sum() == 1


@pytest.mark.parametrize("name", list_models())
def test_amp_training_steps_on_cuda(name, tmp_path):
    spec = get_spec(name)
    seed_everything(0)
    recipe = make_recipe(name, spec.tiny_image_size, {**spec.tiny_generator_config, **spec.tiny_hparams})
    view = make_training_data(name, bundled_sample(), spec.tiny_image_size, 0)
    result = fit(recipe, view, TrainConfig(out_dir=str(tmp_path), steps=3, batch_size=2, num_workers=0, amp=True, log_every=1))
    assert result.finished and all(torch.isfinite(torch.tensor(v)) for v in result.last_losses.values())
    assert next(recipe.generator.parameters()).is_cuda
    again = fit(make_recipe(name, spec.tiny_image_size, {**spec.tiny_generator_config, **spec.tiny_hparams}), view,
                TrainConfig(out_dir=str(tmp_path), steps=5, batch_size=2, num_workers=0, amp=True, resume=True))
    assert again.step == 5


def test_noise_sampling_same_latents_on_cuda_and_cpu():
    torch.backends.cudnn.allow_tf32 = False
    synth = tiny_synthesizer("dcgan")
    synth.network.eval()
    cpu = synth.sample(3, seed=1)
    synth.to("cuda")
    gpu = synth.sample(3, seed=1)
    torch.backends.cudnn.allow_tf32 = True
    assert gpu.is_cuda and torch.allclose(gpu.cpu(), cpu, atol=1e-3)
