"""RandGANAugment / RandGANAugmentd in MONAI pipelines."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import disk_mask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from monai.data import DataLoader, Dataset, MetaTensor
from monai.transforms import Compose, RandFlipd

from gan_augment.transforms.monai import RandGANAugment, RandGANAugmentd

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def chw_image(h, w, seed=0, kind="float"):
    rng = np.random.default_rng(seed)
    image = rng.random((3, h, w), dtype=np.float32)
    if kind == "uint8":
        return (image * 255).astype(np.uint8)
    if kind == "tensor":
        return torch.from_numpy(image)
    if kind == "meta":
        return MetaTensor(torch.from_numpy(image), meta={"filename_or_obj": "lesion.png", "spacing": 0.5})
    return image


@SETTINGS
@given(h=st.integers(16, 64), w=st.integers(16, 64), kind=st.sampled_from(["float", "uint8", "tensor", "meta"]), seed=st.integers(0, 999))
def test_array_transform_keeps_type_shape_dtype_and_range(tiny_pix2pix, h, w, kind, seed):
    image = chw_image(h, w, seed, kind)
    mask = disk_mask(h, w)[None]
    t = RandGANAugment(tiny_pix2pix, prob=1.0)
    t.set_random_state(seed)
    out = t(image, mask)
    assert type(out) is type(image) and out.shape == image.shape and out.dtype == image.dtype
    values = np.asarray(out, dtype=np.float64) if not isinstance(out, torch.Tensor) else out.as_subclass(torch.Tensor).double()
    assert values.min() >= 0 and values.max() <= (255 if kind == "uint8" else 1)
    if kind == "meta":
        assert out.meta["filename_or_obj"] == "lesion.png" and out.meta["spacing"] == 0.5
    again = RandGANAugment(tiny_pix2pix, prob=1.0)
    again.set_random_state(seed)
    assert np.array_equal(np.asarray(again(image, mask)), np.asarray(out))


def test_prob_zero_is_identity(tiny_pix2pix):
    image, mask = chw_image(32, 32), disk_mask(32, 32)
    assert RandGANAugment(tiny_pix2pix, prob=0.0)(image, mask) is image
    d = {"image": image, "label": mask[None]}
    out = RandGANAugmentd(("image", "label"), tiny_pix2pix, prob=0.0)(d)
    assert out["image"] is image


def test_value_range_0_255_floats(tiny_pix2pix):
    image = chw_image(32, 32) * 255
    out = RandGANAugment(tiny_pix2pix, prob=1.0, value_range=(0, 255))(image, disk_mask(32, 32))
    assert out.dtype == np.float32 and out.max() > 1.0 and out.max() <= 255
    with pytest.raises(ValueError, match="value_range"):
        RandGANAugment(tiny_pix2pix, prob=1.0, value_range=(0, 1))(image, disk_mask(32, 32))
    auto = RandGANAugment(tiny_pix2pix, prob=1.0)(image, disk_mask(32, 32))  # "auto": above 1 means 0-255
    assert auto.dtype == np.float32 and auto.max() > 1.0 and auto.max() <= 255
    with pytest.raises(ValueError, match="value_range 'auto'"):
        RandGANAugment(tiny_pix2pix, prob=1.0)(image * 2, disk_mask(32, 32))


@pytest.mark.parametrize(
    "image, mask, error, words",
    [
        (np.zeros((1, 32, 32), np.float32), disk_mask(32, 32), ValueError, "RGB"),
        (np.zeros((32, 32, 3), np.float32), disk_mask(32, 32), ValueError, "RGB"),
        (np.zeros((3, 32, 32), np.float32), disk_mask(32, 32) * 7, ValueError, "binary"),
        (np.zeros((3, 32, 32), np.float32), disk_mask(16, 16), ValueError, "differs"),
        (np.zeros((3, 32, 32), np.float32), np.zeros((32, 32), np.uint8), ValueError, "empty"),
        (np.zeros((3, 32, 32), np.int32), disk_mask(32, 32), TypeError, "dtype"),
    ],
)
def test_bad_input(tiny_pix2pix, image, mask, error, words):
    with pytest.raises(error, match=words):
        RandGANAugment(tiny_pix2pix, prob=1.0)(image, mask)


def test_bad_arguments(tiny_pix2pix):
    with pytest.raises(ValueError):
        RandGANAugment(tiny_pix2pix, prob=2.0)
    with pytest.raises(ValueError):
        RandGANAugmentd(("image", "label", "extra"), tiny_pix2pix)
    with pytest.raises(KeyError, match="image"):
        RandGANAugmentd(("image", "label"), tiny_pix2pix, prob=1.0)({"label": disk_mask(8, 8)})


def test_dictionary_version_in_compose_keeps_alignment_and_metadata(tiny_pix2pix):
    pipeline = Compose([
        RandFlipd(keys=("image", "label"), prob=1.0, spatial_axis=1),
        RandGANAugmentd(keys=("image", "label"), generator=tiny_pix2pix, prob=1.0),
    ])
    pipeline.set_random_state(3)
    mask = disk_mask(32, 32, cx=10, r=6)[None]
    data = {"image": chw_image(32, 32, kind="meta"), "label": MetaTensor(torch.from_numpy(mask))}
    out = pipeline(data)
    flipped = np.flip(mask, axis=2)
    assert np.array_equal(np.asarray(out["label"]), flipped)
    assert isinstance(out["image"], MetaTensor) and out["image"].meta["filename_or_obj"] == "lesion.png"
    # the synthetic image is the translation of the *flipped* mask
    g = RandGANAugmentd(keys=("image", "label"), generator=tiny_pix2pix, prob=1.0)
    pipeline2 = Compose([RandFlipd(keys=("image", "label"), prob=1.0, spatial_axis=1), g])
    pipeline2.set_random_state(3)
    assert torch.equal(pipeline2(data)["image"].as_tensor(), out["image"].as_tensor())


class Repeated(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"image": torch.from_numpy(chw_image(32, 32)), "label": torch.from_numpy(disk_mask(32, 32)[None])}


def test_two_worker_dataloader_epoch_with_distinct_worker_seeds(tiny_pix2pix_dir):
    transform = Compose([RandGANAugmentd(keys=("image", "label"), generator=str(tiny_pix2pix_dir), prob=1.0, device="cpu")])
    ds = Dataset([{"image": chw_image(32, 32), "label": disk_mask(32, 32)[None]}] * 8, transform=transform)
    loader = DataLoader(ds, batch_size=2, num_workers=2, shuffle=False)
    images = torch.cat([b["image"].as_tensor() if isinstance(b["image"], MetaTensor) else b["image"] for b in loader])
    assert images.shape == (8, 3, 32, 32)
    # every sample drew its own seed (per-worker random states differ), so no two are identical
    flat = images.flatten(1)
    assert len({tuple(row.tolist()) for row in flat}) == 8


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("value_range", [(0.0, 1.0), (0.0, 255.0)])
def test_non_finite_image_is_a_clear_error(tiny_pix2pix, bad, value_range):
    image = chw_image(32, 32) * value_range[1]
    image[0, 1, 2] = bad
    with pytest.raises(ValueError, match="RandGANAugment: image contains 1 NaN or infinite"):
        RandGANAugment(tiny_pix2pix, prob=1.0, value_range=value_range)(image, disk_mask(32, 32))


def test_flipped_numpy_views_are_accepted(tiny_pix2pix):
    image, mask = chw_image(32, 32), disk_mask(32, 32, cx=10, r=6)[None]
    flipped_image, flipped_mask = np.flip(image, axis=2), np.flip(mask, axis=2)
    t = RandGANAugment(tiny_pix2pix, prob=1.0)
    t.set_random_state(0)
    out = t(flipped_image, flipped_mask)
    t.set_random_state(0)
    assert np.array_equal(out, t(flipped_image.copy(), flipped_mask.copy()))
    d = RandGANAugmentd(("image", "label"), tiny_pix2pix, prob=1.0)
    assert d({"image": flipped_image, "label": flipped_mask})["image"].shape == image.shape


@pytest.mark.parametrize("prob", [2.0, -0.1, 1.0001])
def test_dictionary_version_rejects_a_probability_outside_0_1(tiny_pix2pix, prob):
    with pytest.raises(ValueError, match=r"RandGANAugmentd: the probability must lie in \[0, 1\]"):
        RandGANAugmentd(("image", "label"), tiny_pix2pix, prob=prob)


def test_works_after_load_imaged_on_uint8_files(tiny_pix2pix, tmp_path):
    import PIL.Image
    from monai.transforms import LoadImaged

    rng = np.random.default_rng(0)
    PIL.Image.fromarray(rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)).save(tmp_path / "image.png")
    PIL.Image.fromarray(disk_mask(32, 40) * 255).save(tmp_path / "mask.png")
    pipeline = Compose([
        LoadImaged(keys=("image", "label"), ensure_channel_first=True),  # float32 MetaTensors with 0-255 values
        RandGANAugmentd(generator=tiny_pix2pix, image_key="image", label_key="label", prob=1.0),
    ])
    pipeline.set_random_state(0)
    out = pipeline({"image": str(tmp_path / "image.png"), "label": str(tmp_path / "mask.png")})
    image = out["image"]
    assert isinstance(image, MetaTensor) and image.dtype == torch.float32 and image.shape == (3, 40, 32)
    assert image.max() > 1.0 and image.max() <= 255 and image.meta["filename_or_obj"].endswith("image.png")
    assert float(out["label"].max()) == 255.0  # the mask passes through


def test_keys_by_name(tiny_pix2pix):
    image, mask = chw_image(32, 32), disk_mask(32, 32)[None]
    named = RandGANAugmentd(generator=tiny_pix2pix, image_key="img", label_key="seg", prob=1.0)
    assert (named.image_key, named.label_key) == ("img", "seg")
    named.set_random_state(1)
    positional = RandGANAugmentd(("img", "seg"), tiny_pix2pix, prob=1.0)
    positional.set_random_state(1)
    a, b = named({"img": image, "seg": mask}), positional({"img": image, "seg": mask})
    assert np.array_equal(a["img"], b["img"]) and np.array_equal(a["seg"], mask)
    image_only = RandGANAugmentd(generator=tiny_synthesizer_cached("cyclegan"), image_key="img", prob=1.0)
    assert image_only.label_key is None and image_only({"img": image})["img"].shape == image.shape
    with pytest.raises(ValueError, match="not both"):
        RandGANAugmentd(("image", "label"), tiny_pix2pix, image_key="img")
    with pytest.raises(TypeError, match="pass generator"):
        RandGANAugmentd(image_key="img")


_TINY = {}


def tiny_synthesizer_cached(name):
    from conftest import tiny_synthesizer

    return _TINY.setdefault(name, tiny_synthesizer(name))


class _Samples(torch.utils.data.Dataset):
    """A plain torch data set applying a MONAI transform to the same sample every time."""

    def __init__(self, transform):
        self.transform = transform

    def __len__(self):
        return 8

    def __getitem__(self, i):
        out = self.transform({"image": chw_image(32, 32), "label": disk_mask(32, 32)[None]})
        return torch.as_tensor(np.asarray(out["image"]))


def test_plain_torch_dataloader_workers_draw_differently_and_reproducibly(tiny_pix2pix_dir):
    def epoch(seed):
        transform = RandGANAugmentd(("image", "label"), str(tiny_pix2pix_dir), prob=1.0, device="cpu")
        loader = torch.utils.data.DataLoader(_Samples(transform), batch_size=2, num_workers=2, generator=torch.Generator().manual_seed(seed))
        return torch.cat(list(loader))

    images = epoch(0)
    assert len({tuple(x.flatten().tolist()) for x in images}) == 8  # no two workers in lockstep
    assert torch.equal(epoch(0), images)


def test_class_conditional_generator_sets_the_class_entry_or_refuses():
    progan = tiny_synthesizer_cached("progan")
    image = chw_image(32, 32)
    t = RandGANAugmentd(generator=progan, image_key="image", prob=1.0, label=2, class_key="class")
    out = t({"image": image, "class": torch.tensor(0)})
    assert out["class"].item() == 2 and out["image"].shape == image.shape
    assert RandGANAugmentd(generator=progan, image_key="image", prob=0.0, label=2, class_key="class")({"image": image, "class": 0})["class"] == 0
    with pytest.raises(ValueError, match="class_key"):
        RandGANAugmentd(generator=progan, image_key="image", prob=1.0, label=2)({"image": image})
    with pytest.raises(ValueError, match="class_key"):
        t({"image": image})


def _seed_worker_transform(worker_id):
    info = torch.utils.data.get_worker_info()
    info.dataset.transform.set_random_state(1000 + worker_id)


def test_a_users_worker_seeding_is_respected(tiny_pix2pix_dir):
    def epoch(init):
        transform = RandGANAugmentd(("image", "label"), str(tiny_pix2pix_dir), prob=1.0, device="cpu")
        loader = torch.utils.data.DataLoader(_Samples(transform), batch_size=2, num_workers=2, worker_init_fn=init,
                                             generator=torch.Generator().manual_seed(0))
        return torch.cat(list(loader))

    seeded = epoch(_seed_worker_transform)
    expected = RandGANAugmentd(("image", "label"), str(tiny_pix2pix_dir), prob=1.0, device="cpu").set_random_state(1000)
    first = torch.as_tensor(np.asarray(expected({"image": chw_image(32, 32), "label": disk_mask(32, 32)[None]})["image"]))
    assert torch.equal(seeded[0], first)  # worker 0's first draw comes from the seed its worker_init_fn set
