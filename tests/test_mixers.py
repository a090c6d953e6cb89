"""MixedDataset, BatchMixer and SyntheticBank: exact counts, determinism, alignment, resume."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch
from conftest import disk_mask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, Dataset

from gan_augment.data import bundled_sample
from gan_augment.mixers import BatchMixer, MaskSampler, MixedDataset, SyntheticBank, _class_plan

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class LabelledImages(Dataset):
    """A tiny real data set with chosen labels (images are not looked at by the counts)."""

    def __init__(self, labels, size=16):
        self.labels = list(labels)
        self.size = size

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"image": np.full((self.size, self.size, 3), i % 255, np.uint8), "label": self.labels[i], "id": str(i)}


@pytest.fixture(scope="module")
def conditional_dcgan():
    from gan_augment.models import get_spec
    from gan_augment.synthesizer import Synthesizer
    from gan_augment.training import make_recipe

    spec = get_spec("dcgan")
    torch.manual_seed(0)
    recipe = make_recipe("dcgan", 16, {**spec.tiny_generator_config, "num_classes": 4, **spec.tiny_hparams})
    return Synthesizer.from_network(recipe.generator, "dcgan", recipe.generator_config, 16, class_names=["a", "b", "c", "d"])


@FAST
@given(labels=st.lists(st.integers(0, 3), min_size=1, max_size=60), ratio=st.floats(0, 3))
def test_ratio_gives_exact_counts_in_class_proportion(conditional_dcgan, labels, ratio):
    mixed = MixedDataset(LabelledImages(labels), conditional_dcgan, ratio=ratio)
    assert mixed.num_synthetic == round(ratio * len(labels)) and len(mixed) == len(labels) + mixed.num_synthetic
    real, synth = Counter(labels), Counter(mixed.synthetic_labels())
    assert set(synth) <= set(real)
    for c in real:  # largest-remainder apportionment: within one of the exact share
        assert abs(synth[c] - mixed.num_synthetic * real[c] / len(labels)) < 1.0 + 1e-9


@FAST
@given(labels=st.lists(st.integers(0, 3), min_size=1, max_size=60))
def test_class_balance_tops_up_every_class_to_the_majority(conditional_dcgan, labels):
    mixed = MixedDataset(LabelledImages(labels), conditional_dcgan, class_balance="majority")
    real = Counter(labels)
    total = real + Counter(mixed.synthetic_labels())
    assert set(total.values()) == {max(real.values())}


@FAST
@given(counts=st.dictionaries(st.integers(0, 3), st.integers(0, 20), min_size=1))
def test_class_balance_dict_adds_exactly_those_counts(conditional_dcgan, counts):
    mixed = MixedDataset(LabelledImages([0, 1, 2, 3]), conditional_dcgan, class_balance=counts)
    assert Counter(mixed.synthetic_labels()) == Counter({c: k for c, k in counts.items() if k})


def test_conditional_items_are_deterministic_and_labelled(conditional_dcgan):
    real = LabelledImages([0, 0, 0, 1], size=16)
    a = MixedDataset(real, conditional_dcgan, class_balance="majority", seed=3)
    b = MixedDataset(real, conditional_dcgan, class_balance="majority", seed=3)
    c = MixedDataset(real, conditional_dcgan, class_balance="majority", seed=4)
    items = [a[i] for i in range(len(a))]
    assert [it["synthetic"] for it in items] == [False] * 4 + [True] * 2
    for i in range(4, 6):
        assert np.array_equal(a[i]["image"], items[i]["image"]) and np.array_equal(b[i]["image"], items[i]["image"])
        assert items[i]["label"] == 1 and items[i]["image"].shape == (16, 16, 3) and items[i]["image"].dtype == np.uint8
    assert not np.array_equal(c[4]["image"], items[4]["image"])
    assert a[-1]["id"] == "synthetic-1"
    with pytest.raises(IndexError):
        a[len(a)]


def test_mask_paired_synthetic_items(tiny_pix2pix):
    real = bundled_sample()
    for source in ("shapes", "real", "elastic", "pca"):
        mixed = MixedDataset(real, tiny_pix2pix, ratio=0.5, masks=source, seed=1)
        assert len(mixed) == 9
        item = mixed[7]
        assert item["synthetic"] and item["image"].shape[:2] == item["mask"].shape == (32, 32)
        assert set(np.unique(item["mask"])) <= {0, 1} and item["mask"].sum() > 0
        again = mixed[7]
        assert np.array_equal(item["image"], again["image"]) and np.array_equal(item["mask"], again["mask"])


def test_vary_per_epoch(tiny_pix2pix):
    fixed = MixedDataset(bundled_sample(), tiny_pix2pix, ratio=0.5)
    varying = MixedDataset(bundled_sample(), tiny_pix2pix, ratio=0.5, vary_per_epoch=True)
    before_fixed, before_varying = fixed[6]["mask"], varying[6]["mask"]
    fixed.set_epoch(1), varying.set_epoch(1)
    assert np.array_equal(fixed[6]["mask"], before_fixed)
    assert not np.array_equal(varying[6]["mask"], before_varying)


def test_same_items_through_a_two_worker_dataloader(tiny_pix2pix):
    mixed = MixedDataset(bundled_sample(), tiny_pix2pix, ratio=1.0, seed=5, image_size=32,
                         transform=lambda d: {"image": torch.from_numpy(d["image"][:32, :32]).permute(2, 0, 1), "synthetic": d["synthetic"]})
    direct = torch.stack([mixed[i]["image"] for i in range(len(mixed))])
    loader = DataLoader(mixed, batch_size=3, num_workers=2, shuffle=False)
    loaded = torch.cat([b["image"] for b in loader])
    assert torch.equal(direct, loaded)


def test_mixed_dataset_errors(tiny_pix2pix, conditional_dcgan):
    real = bundled_sample()
    with pytest.raises(ValueError, match="not both"):
        MixedDataset(real, tiny_pix2pix, ratio=1, class_balance="majority")
    with pytest.raises(ValueError, match=">= 0"):
        MixedDataset(real, tiny_pix2pix, ratio=-1)
    with pytest.raises(ValueError, match="class-conditional generator"):
        MixedDataset(real, tiny_pix2pix, class_balance="majority")
    with pytest.raises(ValueError, match="mask source"):
        MixedDataset(real, tiny_pix2pix, masks="circles")
    with pytest.raises(ValueError, match="'majority'"):
        MixedDataset(LabelledImages([0, 1]), conditional_dcgan, class_balance="minority")
    with pytest.raises(TypeError, match="Synthesizer or a SyntheticBank"):
        MixedDataset(real, "mask2lesion")
    with pytest.raises(ValueError, match="needs real masks"):
        MaskSampler("real")


def test_class_plan_orders_labels_and_handles_unlabelled():
    assert _class_plan([None, None], 1.5, None) == [None] * 3
    assert _class_plan([1, 1, 0], None, "majority") == [0]


def mask_batch(n=8, size=32):
    return torch.stack([torch.from_numpy(disk_mask(size, size, r=4 + i % 5)).float() for i in range(n)]).unsqueeze(1)


@FAST
@given(n=st.integers(1, 12), fraction=st.floats(0, 1), seed=st.integers(0, 1000))
def test_batch_mixer_replaces_exactly_the_fraction_and_keeps_masks(tiny_pix2pix, n, fraction, seed):
    batch = {"image": torch.rand(n, 3, 32, 32), "mask": mask_batch(n)}
    out = BatchMixer(tiny_pix2pix, fraction, seed=seed)(batch)
    k = round(fraction * n)
    assert int(out["synthetic"].sum()) == k and torch.equal(out["synthetic"], out["mixed_in"])
    assert torch.equal(out["mask"], batch["mask"])
    keep = ~out["synthetic"]
    assert torch.equal(out["image"][keep], batch["image"][keep])
    assert out["image"].dtype == batch["image"].dtype and out["image"].shape == batch["image"].shape
    assert out["image"].min() >= 0 and out["image"].max() <= 1
    again = BatchMixer(tiny_pix2pix, fraction, seed=seed)(batch)
    assert torch.equal(again["image"], out["image"])


def test_batch_mixer_keeps_earlier_synthetic_flags(tiny_pix2pix):
    earlier = torch.tensor([True, False, False, False])
    out = BatchMixer(tiny_pix2pix, 0.5, seed=1)({"image": torch.rand(4, 3, 32, 32), "mask": mask_batch(4), "synthetic": earlier})
    assert torch.equal(out["synthetic"], earlier | out["mixed_in"]) and int(out["mixed_in"].sum()) == 2


def test_batch_mixer_fraction_zero_is_identity(tiny_pix2pix):
    batch = {"image": torch.rand(4, 3, 32, 32), "mask": mask_batch(4)}
    out = BatchMixer(tiny_pix2pix, 0.0)(batch)
    assert torch.equal(out["image"], batch["image"]) and not out["synthetic"].any()


def test_batch_mixer_resumes_and_normalises(tiny_pix2pix):
    batch = {"image": torch.rand(6, 3, 32, 32), "mask": mask_batch(6)}
    a = BatchMixer(tiny_pix2pix, 0.5, seed=2)
    first, second = a(batch), a(batch)
    assert not torch.equal(first["synthetic"], second["synthetic"]) or not torch.equal(first["image"], second["image"])
    b = BatchMixer(tiny_pix2pix, 0.5, seed=0)
    b.load_state_dict({"batches_seen": 1, "seed": 2})
    assert torch.equal(b(batch)["image"], second["image"])
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    normalised = {"image": (batch["image"] - 0.5) / 0.25, "mask": batch["mask"]}
    plain = BatchMixer(tiny_pix2pix, 0.5, seed=7)(batch)["image"]
    norm = BatchMixer(tiny_pix2pix, 0.5, seed=7, mean=mean, std=std)(normalised)["image"]
    assert torch.allclose(norm * 0.25 + 0.5, plain, atol=1e-5)
    u8 = BatchMixer(tiny_pix2pix, 0.5, seed=7)({"image": (batch["image"] * 255).to(torch.uint8), "mask": batch["mask"] * 255})
    assert u8["image"].dtype == torch.uint8


def test_batch_mixer_errors_and_worker_guard(tiny_pix2pix, conditional_dcgan):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        BatchMixer(tiny_pix2pix, 1.5)
    with pytest.raises(ValueError, match="needs 'mask'"):
        BatchMixer(tiny_pix2pix, 1.0)({"image": torch.rand(2, 3, 32, 32)})
    with pytest.raises(ValueError, match="N3HW"):
        BatchMixer(tiny_pix2pix, 1.0)({"image": torch.rand(2, 32, 32), "mask": mask_batch(2)})
    with pytest.raises(ValueError, match="needs 'label'"):
        BatchMixer(conditional_dcgan, 1.0)({"image": torch.rand(2, 3, 16, 16)})
    out = BatchMixer(conditional_dcgan, 0.5)({"image": torch.rand(4, 3, 16, 16), "label": torch.tensor([0, 1, 2, 3])})
    assert out["synthetic"].sum() == 2

    class InWorker(Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            try:
                BatchMixer(tiny_pix2pix, 1.0)({"image": torch.rand(1, 3, 32, 32), "mask": mask_batch(1)})
            except RuntimeError as err:
                return str(err)
            return "no error"

    (message,) = list(DataLoader(InWorker(), batch_size=None, num_workers=1))
    assert "main process" in message


def test_synthetic_bank_is_sharded_resumable_and_deterministic(tiny_pix2pix, tmp_path):
    folder = tmp_path / "bank"
    bank = SyntheticBank.build(tiny_pix2pix, folder, 10, shard_size=4, seed=1, progress=False)
    assert len(bank) == 10 and len(bank.shards) == 3
    item = bank[9]
    assert item["image"].shape == (32, 32, 3) and item["mask"].shape == (32, 32) and item["synthetic"]
    reference = [bank[i]["image"].copy() for i in range(10)]
    # simulate an interrupted build: manifest and last shard missing, a half-written temp file left
    (folder / "bank.json").unlink()
    (folder / "shard_00002.safetensors").unlink()
    (folder / ".shard_00002.safetensors.tmp-999").write_bytes(b"partial")
    with pytest.raises(FileNotFoundError, match="not a finished synthetic bank"):
        SyntheticBank(folder)
    untouched = (folder / "shard_00000.safetensors").stat().st_mtime_ns
    bank = SyntheticBank.build(tiny_pix2pix, folder, 10, shard_size=4, seed=1, progress=False)
    assert (folder / "shard_00000.safetensors").stat().st_mtime_ns == untouched  # not regenerated
    assert all(np.array_equal(bank[i]["image"], reference[i]) for i in range(10))
    assert json.loads((folder / "bank.json").read_text())["shards"][-1] == "shard_00002.safetensors"
    with pytest.raises(ValueError, match="other settings"):
        SyntheticBank.build(tiny_pix2pix, folder, 10, shard_size=4, seed=2, progress=False)


def test_mixing_from_a_bank(conditional_dcgan, tmp_path):
    bank = SyntheticBank.build(conditional_dcgan, tmp_path / "b", 8, shard_size=3, labels=[0, 1, 2, 3] * 2, progress=False)
    real = LabelledImages([0, 0, 0, 1, 2])
    mixed = MixedDataset(real, bank, class_balance="majority")
    synthetic = [mixed[i] for i in range(len(real), len(mixed))]
    assert Counter(it["label"] for it in synthetic) == Counter({1: 2, 2: 2})
    assert all(it["synthetic"] for it in synthetic)
    with pytest.raises(ValueError, match="no samples of class 3"):
        MixedDataset(LabelledImages([3, 0, 0]), SyntheticBank.build(conditional_dcgan, tmp_path / "c", 2, labels=[0, 0], progress=False), class_balance="majority")


def test_absurd_synthetic_sizes_are_rejected_up_front(tiny_pix2pix, tmp_path):
    real = bundled_sample()
    with pytest.raises(ValueError, match=r"image_size must lie in \[4, 4096\]"):
        MixedDataset(real, tiny_pix2pix, ratio=1.0, image_size=60000)
    with pytest.raises(ValueError, match=r"image_size must lie in \[4, 4096\]"):
        SyntheticBank.build(tiny_pix2pix, tmp_path / "big", 2, image_size=60000, progress=False)
    with pytest.raises(ValueError, match="mask height must lie in"):
        MaskSampler("shapes", size=(0, 32))


def test_synthetic_bank_build_is_locked_against_a_second_build(tiny_pix2pix, tmp_path):
    import subprocess
    import sys

    from gan_augment.run_files import FolderLockedError

    folder = tmp_path / "bank"
    folder.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # another live build
    try:
        (folder / ".build.lock").write_text(f"{holder.pid}\n")
        with pytest.raises(FolderLockedError, match=rf"process {holder.pid} is running SyntheticBank.build"):
            SyntheticBank.build(tiny_pix2pix, folder, 4, shard_size=2, labels=None, progress=False)
        assert not list(folder.glob("shard_*"))  # nothing written next to the running build
    finally:
        holder.kill()
        holder.wait()
    # the holder is dead now: its lock is stale and taken over, its temporaries removed
    (folder / f".shard_00000.safetensors.tmp-{holder.pid}").write_bytes(b"partial")
    bank = SyntheticBank.build(tiny_pix2pix, folder, 4, shard_size=2, progress=False)
    assert len(bank) == 4
    assert sorted(p.name for p in folder.iterdir()) == [".build.json", "bank.json", "shard_00000.safetensors", "shard_00001.safetensors"]



def test_mixed_dataset_does_not_read_the_weights_at_construction(tiny_pix2pix_dir, conditional_dcgan, tmp_path):
    from gan_augment.synthesizer import from_pretrained

    pix2pix = from_pretrained(tiny_pix2pix_dir, device="cpu")
    mixed = MixedDataset(bundled_sample(), pix2pix, ratio=1.0)
    assert not pix2pix.is_loaded  # the weights load where items are made (a worker), not here
    assert mixed[len(mixed) - 1]["synthetic"] and pix2pix.is_loaded

    conditional_dcgan.save_pretrained(tmp_path / "dcgan")
    dcgan = from_pretrained(tmp_path / "dcgan", device="cpu")
    mixed = MixedDataset(LabelledImages([0, 0, 0, 1]), dcgan, class_balance="majority")
    assert not dcgan.is_loaded and dcgan.num_classes == 4
    assert Counter(mixed.synthetic_labels()) == Counter({1: 2})
    assert not dcgan.is_loaded
    assert mixed[len(mixed) - 1]["label"] == 1 and dcgan.is_loaded


def test_unreadable_bank_files_are_named(tiny_pix2pix, tmp_path):
    folder = tmp_path / "bank"
    SyntheticBank.build(tiny_pix2pix, folder, 4, shard_size=2, progress=False)
    (folder / "shard_00001.safetensors").write_bytes(b"garbage")
    bank = SyntheticBank(folder)
    assert bank[0]["image"].shape == (32, 32, 3)
    with pytest.raises(ValueError, match=r"shard_00001\.safetensors: cannot read this synthetic bank shard"):
        bank[3]
    (folder / "bank.json").write_text("{broken")
    with pytest.raises(ValueError, match=r"bank\.json: not a readable synthetic bank manifest"):
        SyntheticBank(folder)
