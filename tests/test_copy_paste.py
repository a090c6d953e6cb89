"""Lesion copy-paste, the no-learning baseline: the function, the bank and its three adapters."""

from __future__ import annotations

import math
import random

import albumentations as A
import numpy as np
import pytest
import torch
from conftest import disk_mask
from hypothesis import given, settings
from hypothesis import strategies as st

import gan_augment as ga
from gan_augment.copy_paste import LesionBank, lesion_copy_paste

SETTINGS = settings(max_examples=20, deadline=None)
RED = torch.tensor([1.0, 0.0, 0.0])
BLUE = torch.tensor([0.0, 0.0, 1.0])


def lesion_image(h, w, lesion_colour, skin=0.5, cy=None, cx=None, r=None):
    """(image 3HW float, mask HW float): a flat ``lesion_colour`` disk on flat ``skin``."""
    mask = torch.from_numpy(disk_mask(h, w, cy, cx, r)).float()
    image = torch.full((3, h, w), float(skin))
    image[:, mask.bool()] = torch.as_tensor(lesion_colour, dtype=torch.float32).view(3, 1)
    return image, mask


def distance_map(h, w, cy, cx):
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    return torch.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)


@st.composite
def target_and_source(draw):
    h, w = draw(st.integers(32, 64)), draw(st.integers(32, 64))
    r = draw(st.floats(0.15, 0.3)) * min(h, w)
    cy = draw(st.floats(r + 1, h - r - 1))
    cx = draw(st.floats(r + 1, w - r - 1))
    noise_seed = draw(st.integers(0, 2**16))
    image = torch.rand(3, h, w, generator=torch.Generator().manual_seed(noise_seed)) * 0.5 + 0.25  # textured skin
    mask = torch.from_numpy(disk_mask(h, w, cy, cx, r)).float()
    sh, sw = draw(st.integers(24, 64)), draw(st.integers(24, 64))
    source, source_mask = lesion_image(sh, sw, RED, skin=0.5, r=draw(st.floats(0.15, 0.4)) * min(sh, sw))
    return image, mask, (cy, cx, r), source, source_mask


@SETTINGS
@given(data=target_and_source(), feather=st.floats(0.0, 0.3), seed=st.one_of(st.none(), st.integers(0, 10_000)),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_lesion_fills_the_target_mask_and_far_pixels_are_untouched(data, feather, seed, dtype):
    image, mask, (cy, cx, r), source, source_mask = data
    image = image.to(dtype)
    out = lesion_copy_paste(image, mask, source, source_mask, harmonize=False, feather=feather, seed=seed)
    assert out.shape == image.shape and out.dtype == dtype
    assert out.min() >= 0 and out.max() <= 1
    dist = distance_map(*mask.shape, cy, cx)
    inside = dist <= 0.3 * r
    assert (out[0, inside] > 0.8).all() and (out[1:, inside] < 0.2).all(), "the target mask's interior holds the red source lesion"
    sigma = feather * 2 * math.sqrt(float(mask.sum()) / math.pi)
    far = dist > r + 2 * sigma + 3
    assert torch.equal(out[:, far], image[:, far]), "pixels far outside the mask are bit-identical"


def test_bounding_box_maps_onto_bounding_box_and_seed_none_keeps_orientation():
    """A source lesion red on its left half and blue on its right, pasted without a seed onto
    an off-centre elongated target: red on the target's left, blue on its right."""
    source, source_mask = lesion_image(48, 48, RED, r=14)
    source[:, (source_mask.bool()) & (torch.arange(48) >= 24).view(1, 48)] = BLUE.view(3, 1)
    image = torch.full((3, 64, 64), 0.5)
    mask = torch.zeros(64, 64)
    mask[20:34, 8:48] = 1  # a 14 x 40 box: the round source is stretched onto it
    out = lesion_copy_paste(image, mask, source, source_mask, harmonize=False, feather=0.05)
    assert (out[0, 25:29, 12:24] > 0.8).all() and (out[2, 25:29, 12:24] < 0.2).all()
    assert (out[2, 25:29, 32:44] > 0.8).all() and (out[0, 25:29, 32:44] < 0.2).all()


def test_feather_zero_is_a_hard_edge_exactly_on_the_mask():
    image = torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(0))
    mask = torch.from_numpy(disk_mask(40, 40, r=9)).float()
    source, source_mask = lesion_image(30, 30, RED, r=12)
    out = lesion_copy_paste(image, mask, source, source_mask, harmonize=False, feather=0.0)
    changed = (out != image).any(dim=0)
    assert not changed[mask == 0].any()
    assert (out[0, mask.bool()] > 0.7).all() and (out[1:, mask.bool()] < 0.3).all()  # the edge samples the source's soft edge


@SETTINGS
@given(data=target_and_source(), seed=st.integers(0, 2**31 - 1))
def test_deterministic_for_a_seed(data, seed):
    image, mask, _, source, source_mask = data
    a = lesion_copy_paste(image, mask, source, source_mask, seed=seed)
    b = lesion_copy_paste(image, mask, source, source_mask, seed=seed)
    assert torch.equal(a, b)


def test_seeds_draw_different_orientations():
    source, source_mask = lesion_image(48, 48, RED, r=14)
    source[:, (source_mask.bool()) & (torch.arange(48) >= 24).view(1, 48)] = BLUE.view(3, 1)
    image, mask = torch.full((3, 48, 48), 0.5), torch.from_numpy(disk_mask(48, 48, r=12)).float()
    outs = {tuple(lesion_copy_paste(image, mask, source, source_mask, seed=s).flatten().tolist()) for s in range(16)}
    assert len(outs) >= 3  # left/right, up/down... halves land on different sides


@pytest.mark.parametrize("source_skin, target_skin", [(0.2, 0.6), (0.35, 0.45)])
def test_harmonize_shifts_by_the_skin_difference(source_skin, target_skin):
    """Source skin darker than the target's: the harmonised lesion is brighter than the
    plain paste, by the skin difference (a per-channel mean shift)."""
    source, source_mask = lesion_image(40, 40, [0.4, 0.3, 0.2], skin=source_skin, r=10)
    image, mask = lesion_image(56, 56, [0.1, 0.1, 0.1], skin=target_skin, r=12)
    plain = lesion_copy_paste(image, mask, source, source_mask, harmonize=False)
    harmonised = lesion_copy_paste(image, mask, source, source_mask, harmonize=True)
    inside = distance_map(56, 56, 28, 28) <= 4
    assert (harmonised[:, inside] > plain[:, inside]).all()
    expected = torch.tensor([0.4, 0.3, 0.2]) + (target_skin - source_skin)
    assert torch.allclose(harmonised[:, inside].mean(dim=1), expected, atol=0.01)
    assert torch.allclose(plain[:, inside].mean(dim=1), torch.tensor([0.4, 0.3, 0.2]), atol=0.01)


def test_harmonize_clamps_to_unit_range():
    source, source_mask = lesion_image(40, 40, [0.9, 0.9, 0.9], skin=0.0, r=10)
    image, mask = lesion_image(40, 40, [0.1, 0.1, 0.1], skin=1.0, r=10)
    out = lesion_copy_paste(image, mask, source, source_mask)
    assert out.max() <= 1.0 and out[:, 20, 20].tolist() == [1.0, 1.0, 1.0]


def _good():
    image, mask = lesion_image(32, 32, RED)
    return {"image": image, "mask": mask, "source_image": image.clone(), "source_mask": mask.clone()}


def _with(**changes):
    args = _good()
    for key, value in changes.items():
        args[key] = value(args[key]) if callable(value) else value
    return args


def _set(x, index, value):
    x = x.clone()
    x[index] = value
    return x


@pytest.mark.parametrize(
    "args, options, error, words",
    [
        (_with(image=lambda x: _set(x, (0, 3, 3), float("nan"))), {}, ValueError, "image contains NaN or inf"),
        (_with(source_image=lambda x: _set(x, (1, 0, 0), float("inf"))), {}, ValueError, "source_image contains NaN or inf"),
        (_with(image=lambda x: x * 2), {}, ValueError, r"image values must lie in \[0, 1\]"),
        (_with(image=lambda x: x[:1]), {}, ValueError, r"image must be an RGB image of shape \(3, H, W\)"),
        (_with(image=lambda x: x.permute(1, 2, 0)), {}, ValueError, "image must be an RGB image"),
        (_with(image=lambda x: (x * 255).to(torch.uint8)), {}, TypeError, "image must be a float tensor"),
        (_with(image=lambda x: x.numpy()), {}, TypeError, "image must be a torch.Tensor"),
        (_with(mask=lambda m: m * 3), {}, ValueError, "mask must be binary"),
        (_with(mask=lambda m: m * 0.5), {}, ValueError, "mask must be binary"),
        (_with(mask=lambda m: m * 0), {}, ValueError, "mask is empty"),
        (_with(source_mask=lambda m: m * 0), {}, ValueError, "source_mask is empty"),
        (_with(mask=lambda m: m[None]), {}, ValueError, r"mask must be a single-channel mask of shape \(H, W\)"),
        (_with(mask=lambda m: m[:16]), {}, ValueError, "mask size .* differs from image size"),
        (_with(source_mask=lambda m: m[:, :20]), {}, ValueError, "source_mask size .* differs from source_image size"),
        (_good(), {"feather": -0.1}, ValueError, "feather"),
        (_good(), {"feather": float("nan")}, ValueError, "feather"),
        (_good(), {"seed": 1.5}, TypeError, "seed"),
        (_good(), {"harmonize": "yes"}, TypeError, "harmonize"),
    ],
)
def test_bad_input_raises_clear_error(args, options, error, words):
    with pytest.raises(error, match=words):
        lesion_copy_paste(args["image"], args["mask"], args["source_image"], args["source_mask"], **options)


def test_bool_masks_and_inputs_are_not_modified():
    args = _good()
    before = {k: v.clone() for k, v in args.items()}
    out = lesion_copy_paste(args["image"], args["mask"].bool(), args["source_image"], args["source_mask"].bool(), seed=1)
    assert out.shape == (3, 32, 32)
    assert all(torch.equal(args[k], before[k]) for k in args)


# ----------------------------------------------------------------------------- LesionBank


def fake_dataset(n=5, size=48):
    """Items as DermDataset returns them: HWC uint8 image, HW uint8 {0, 1} mask; item 1 has no lesion."""
    items = []
    for i in range(n):
        image, mask = lesion_image(size, size, [0.2 * (i % 5), 0.1, 0.3], r=6 + i)
        m = mask.to(torch.uint8).numpy() * (i != 1)
        items.append({"image": (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), "mask": m, "id": f"x{i}"})
    return items


def test_bank_from_dataset_skips_empty_masks_and_stores_small_crops():
    bank = LesionBank.from_dataset(fake_dataset())
    assert len(bank) == 4
    for k in range(len(bank)):
        image, mask = bank[k]
        assert image.shape[0] == 3 and image.shape[-2:] == mask.shape and image.dtype == torch.float32
        assert mask.any() and set(mask.unique().tolist()) <= {0.0, 1.0}
        assert mask.shape[0] < 48  # the lesion box crop, not the whole image
    some = LesionBank.from_dataset(fake_dataset(), max_items=2, seed=3)
    again = LesionBank.from_dataset(fake_dataset(), max_items=2, seed=3)
    assert len(some) == 2 and all(torch.equal(some[k][0], again[k][0]) for k in range(2))
    with pytest.raises(ValueError, match="no item has a non-empty lesion mask"):
        LesionBank.from_dataset([fake_dataset()[1]])


def test_bank_from_the_bundled_isic_sample():
    from gan_augment.data import bundled_sample

    bank = LesionBank.from_dataset(bundled_sample(), max_items=2)
    assert len(bank) == 2
    image, mask = bank.draw(np.random.default_rng(0))
    assert max(image.shape[-2:]) <= 256 and mask.shape == image.shape[-2:] and mask.any()


def test_bank_limits_crop_size_draws_from_any_rng_and_round_trips(tmp_path):
    big, big_mask = lesion_image(320, 320, RED, r=140)
    small, small_mask = lesion_image(40, 40, BLUE, r=8)
    bank = LesionBank([big, (small * 255).round().to(torch.uint8)], [big_mask, small_mask.bool()])
    assert bank[0][0].shape == (3, 256, 256) and bank[0][1].shape == (256, 256)
    assert torch.allclose(bank[1][0][:, bank[1][1].bool()].mean(dim=1), BLUE)
    for rng in (np.random.default_rng(0), np.random.RandomState(0), random.Random(0), torch.Generator().manual_seed(0), None):
        image, mask = bank.draw(rng)
        assert image.shape[-2:] == mask.shape
    with pytest.raises(TypeError, match="rng"):
        bank.draw("seed")
    bank.save(tmp_path / "bank.npz")
    loaded = LesionBank.load(tmp_path / "bank.npz")
    assert len(loaded) == 2 and loaded.source == str(tmp_path / "bank.npz")
    assert all(torch.equal(bank[k][0], loaded[k][0]) and torch.equal(bank[k][1], loaded[k][1]) for k in range(2))


def test_a_lesion_wider_than_a_non_square_image_is_high_is_kept_whole():
    image, mask = torch.zeros(3, 20, 90), torch.zeros(20, 90)
    image[0] = torch.linspace(0, 1, 90)  # red grows left to right
    mask[:, 10:80] = 1
    _crop, crop_mask = LesionBank([image], [mask])[0]
    assert crop_mask.shape == (20, 70) and crop_mask.all()
    target, target_mask = lesion_image(40, 40, BLUE, r=10)
    out = lesion_copy_paste(target, target_mask, image, mask, harmonize=False)
    assert torch.allclose(out[:, 20, 20], image[:, 10, 45], atol=0.03)  # bounding box centre onto bounding box centre
    assert out[0, 20, 15] + 0.15 < out[0, 20, 20] < out[0, 20, 25] - 0.15


def test_bank_rejects_bad_lesions():
    image, mask = lesion_image(32, 32, RED)
    with pytest.raises(ValueError, match="at least one lesion"):
        LesionBank([], [])
    with pytest.raises(ValueError, match="2 images but 1 masks"):
        LesionBank([image, image], [mask])
    with pytest.raises(ValueError, match=r"masks\[1\] is empty"):
        LesionBank([image, image], [mask, mask * 0])
    with pytest.raises(ValueError, match=r"images\[0\] contains NaN or inf"):
        LesionBank([_set(image, (0, 0, 0), float("nan"))], [mask])


def test_top_level_exports():
    assert ga.lesion_copy_paste is lesion_copy_paste and ga.LesionBank is LesionBank
    from gan_augment.transforms.albumentations import LesionCopyPaste

    assert ga.LesionCopyPaste is LesionCopyPaste


# ----------------------------------------------------------------------------- adapters


@pytest.fixture(scope="module")
def red_bank():
    sources = [lesion_image(40, 40, RED, r=r) for r in (8, 11, 14)]
    return LesionBank([s[0] for s in sources], [s[1] for s in sources])


def hwc_sample(h=48, w=48, dtype=np.uint8, cx=None):
    image = np.full((h, w, 3), 128, np.uint8)
    mask = disk_mask(h, w, cx=cx, r=10)
    return (image if dtype == np.uint8 else (image / 255.0).astype(np.float32)), mask


def test_p0_is_identity_in_all_three_adapters(red_bank):
    from torchvision import tv_tensors

    from gan_augment.transforms.monai import RandLesionCopyPaste, RandLesionCopyPasted
    from gan_augment.transforms.torchvision import RandomLesionCopyPaste

    image, mask = hwc_sample()
    out = A.Compose([ga.LesionCopyPaste(red_bank, p=0.0)], seed=1)(image=image, mask=mask)
    assert np.array_equal(out["image"], image) and np.array_equal(out["mask"], mask)
    chw = image.transpose(2, 0, 1).astype(np.float32) / 255
    assert RandLesionCopyPaste(red_bank, prob=0.0)(chw, mask) is chw
    d = RandLesionCopyPasted(("image", "label"), red_bank, prob=0.0)({"image": chw, "label": mask[None]})
    assert d["image"] is chw
    tv_image, tv_mask = tv_tensors.Image(torch.from_numpy(chw)), tv_tensors.Mask(torch.from_numpy(mask))
    out_image, out_mask = RandomLesionCopyPaste(red_bank, p=0.0)(tv_image, tv_mask)
    assert out_image is tv_image and out_mask is tv_mask


def test_empty_mask_passes_unchanged_in_all_three_adapters(red_bank):
    from torchvision import tv_tensors

    from gan_augment.transforms.monai import RandLesionCopyPasted
    from gan_augment.transforms.torchvision import RandomLesionCopyPaste

    image, empty = hwc_sample()[0], np.zeros((48, 48), np.uint8)
    assert np.array_equal(ga.LesionCopyPaste(red_bank, p=1.0)(image=image, mask=empty)["image"], image)
    chw = image.transpose(2, 0, 1).copy()
    assert RandLesionCopyPasted(("image", "label"), red_bank, prob=1.0)({"image": chw, "label": empty})["image"] is chw
    tv_image = tv_tensors.Image(torch.from_numpy(chw))
    assert RandomLesionCopyPaste(red_bank, p=1.0)(tv_image, tv_tensors.Mask(torch.from_numpy(empty)))[0] is tv_image


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), dtype=st.sampled_from([np.uint8, np.float32]), cx=st.integers(14, 34))
def test_albumentations_pipeline(red_bank, seed, dtype, cx):
    image, mask = hwc_sample(dtype=dtype, cx=cx)
    make = lambda: A.Compose([A.HorizontalFlip(p=0.5), A.RandomRotate90(p=1.0), ga.LesionCopyPaste(red_bank, p=1.0)], seed=seed)
    geometry = A.Compose([A.HorizontalFlip(p=0.5), A.RandomRotate90(p=1.0)], seed=seed)(image=image, mask=mask)
    a, b = make()(image=image, mask=mask), make()(image=image, mask=mask)
    assert np.array_equal(a["image"], b["image"]), "A.Compose(seed=...) reproduces"
    assert np.array_equal(a["mask"], geometry["mask"]), "the mask passes through the paste unchanged"
    assert a["image"].dtype == dtype and a["image"].shape == image.shape
    scale = 255 if dtype == np.uint8 else 1
    ys, xs = np.nonzero(a["mask"])
    cy, cxx = round(ys.mean()), round(xs.mean())
    assert a["image"][cy, cxx, 0] > 0.8 * scale and a["image"][cy, cxx, 1] < 0.2 * scale


def test_albumentations_serialisation(red_bank, tmp_path):
    with pytest.raises(ValueError, match=r"bank\.save"):
        A.to_dict(A.Compose([ga.LesionCopyPaste(red_bank, p=1.0)]))
    assert "LesionBank(3 lesions)" in repr(ga.LesionCopyPaste(red_bank))
    red_bank.save(tmp_path / "lesions.npz")
    pipeline = A.Compose([A.HorizontalFlip(p=0.5), ga.LesionCopyPaste(str(tmp_path / "lesions.npz"), p=0.9, harmonize=False)], seed=4)
    restored = A.from_dict(A.to_dict(pipeline))
    restored.set_random_seed(4)
    assert A.to_dict(restored) == A.to_dict(pipeline)
    image, mask = hwc_sample()
    assert np.array_equal(pipeline(image=image, mask=mask)["image"], restored(image=image, mask=mask)["image"])


def test_albumentations_bad_input(red_bank):
    image, mask = hwc_sample()
    with pytest.raises(ValueError, match="pass a mask"):
        ga.LesionCopyPaste(red_bank, p=1.0)(image=image)
    with pytest.raises(ValueError, match="binary"):
        ga.LesionCopyPaste(red_bank, p=1.0)(image=image, mask=mask * 3)
    with pytest.raises(TypeError, match="bank"):
        ga.LesionCopyPaste([1, 2], p=1.0)


def test_monai_pipeline(red_bank):
    from monai.data import MetaTensor
    from monai.transforms import Compose, RandFlipd

    from gan_augment.transforms.monai import RandLesionCopyPasted

    image = MetaTensor(torch.full((3, 48, 48), 0.5), meta={"filename_or_obj": "lesion.png"})
    mask = torch.from_numpy(disk_mask(48, 48, cx=16, r=10))[None]

    def run(seed):
        pipeline = Compose([
            RandFlipd(keys=("image", "label"), prob=0.5, spatial_axis=1),
            RandLesionCopyPasted(("image", "label"), red_bank, prob=1.0),
        ])
        pipeline.set_random_state(seed)
        return pipeline({"image": image, "label": mask})

    a, b = run(7), run(7)
    assert torch.equal(a["image"].as_tensor(), b["image"].as_tensor())
    assert isinstance(a["image"], MetaTensor) and a["image"].meta["filename_or_obj"] == "lesion.png"
    label = a["label"].as_tensor()[0] if isinstance(a["label"], MetaTensor) else torch.as_tensor(a["label"])[0]
    assert torch.equal(label, mask[0]) or torch.equal(label, mask[0].flip(-1))
    ys, xs = torch.nonzero(label, as_tuple=True)
    centre = a["image"].as_tensor()[:, int(ys.float().mean().round()), int(xs.float().mean().round())]
    assert centre[0] > 0.8 and centre[1] < 0.2
    outside = (label == 0) & (distance_map(48, 48, float(ys.float().mean()), float(xs.float().mean())) > 18)
    assert (a["image"].as_tensor()[:, outside] == 0.5).all()


def test_monai_uint8_and_bad_arguments(red_bank):
    from gan_augment.transforms.monai import RandLesionCopyPaste, RandLesionCopyPasted

    chw = np.full((3, 40, 40), 200, np.uint8)
    t = RandLesionCopyPaste(red_bank, prob=1.0)
    t.set_random_state(0)
    out = t(chw, disk_mask(40, 40))
    # red lesion on skin 128, harmonised to skin 200: + 72 in every channel
    assert out.dtype == np.uint8 and out.shape == chw.shape and out[0, 20, 20] == 255 and abs(int(out[1, 20, 20]) - 72) <= 2
    with pytest.raises(ValueError, match="probability"):
        RandLesionCopyPaste(red_bank, prob=2.0)
    with pytest.raises(ValueError, match="feather"):
        RandLesionCopyPaste(red_bank, feather=-1)
    with pytest.raises(ValueError, match="keys"):
        RandLesionCopyPasted(("image",), red_bank)
    with pytest.raises(ValueError, match="pass a mask"):
        t(chw)


def test_torchvision_pipeline(red_bank):
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    from gan_augment.transforms.torchvision import RandomLesionCopyPaste

    image = tv_tensors.Image(torch.full((3, 48, 48), 128, dtype=torch.uint8))
    mask = tv_tensors.Mask(torch.from_numpy(disk_mask(48, 48, cx=16, r=10)))
    pipeline = v2.Compose([v2.RandomHorizontalFlip(p=1.0), RandomLesionCopyPaste(red_bank, p=1.0)])
    torch.manual_seed(3)
    out_image, out_mask = pipeline(image, mask)
    torch.manual_seed(3)
    again, _ = pipeline(image, mask)
    assert isinstance(out_image, tv_tensors.Image) and isinstance(out_mask, tv_tensors.Mask)
    assert out_image.dtype == torch.uint8 and torch.equal(out_image, again)
    assert torch.equal(out_mask, mask.flip(-1))
    assert out_image[0, 24, 48 - 16] == 255 and out_image[1, 24, 48 - 16] < 50  # the lesion follows the flipped mask
    assert torch.equal(out_image[:, :, :10], image[:, :, :10])
    with pytest.raises(ValueError, match="one image and one mask"):
        RandomLesionCopyPaste(red_bank, p=1.0)(image)
