"""GANAugment as an Albumentations DualTransform: property tests on a tiny generator."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest
import torch
from conftest import disk_mask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gan_augment.transforms.albumentations import GANAugment, albumentations_worker_init

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def image_and_mask(draw, dtype=np.uint8):
    h = draw(st.integers(16, 72))
    w = draw(st.integers(16, 72))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if dtype == np.float32:
        image = (image / 255.0).astype(np.float32)
    r = draw(st.floats(0.15, 0.45)) * min(h, w)
    mask = disk_mask(h, w, r=r)
    if draw(st.booleans()):
        mask = mask * 255
    return image, mask


@SETTINGS
@given(data=image_and_mask())
def test_uint8_shape_dtype_range_and_mask_untouched(tiny_pix2pix, data):
    image, mask = data
    out = GANAugment(tiny_pix2pix, p=1.0)(image=image, mask=mask)
    assert out["image"].shape == image.shape
    assert out["image"].dtype == np.uint8
    assert np.array_equal(out["mask"], mask)


@SETTINGS
@given(data=image_and_mask(dtype=np.float32))
def test_float_images_stay_float_in_unit_range(tiny_pix2pix, data):
    image, mask = data
    out = GANAugment(tiny_pix2pix, p=1.0)(image=image, mask=mask)["image"]
    assert out.shape == image.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0


@SETTINGS
@given(data=image_and_mask())
def test_p0_is_identity(tiny_pix2pix, data):
    image, mask = data
    out = A.Compose([GANAugment(tiny_pix2pix, p=0.0)], seed=1)(image=image, mask=mask)
    assert np.array_equal(out["image"], image) and np.array_equal(out["mask"], mask)


@SETTINGS
@given(data=image_and_mask(), seed=st.integers(0, 10_000))
def test_deterministic_under_compose_seed(tiny_pix2pix, data, seed):
    image, mask = data
    make = lambda: A.Compose([A.HorizontalFlip(p=0.5), GANAugment(tiny_pix2pix, p=0.7)], seed=seed)
    a, b = make()(image=image, mask=mask), make()(image=image, mask=mask)
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["mask"], b["mask"])


def test_different_seeds_give_different_images(tiny_pix2pix):
    # float output: the untrained tiny model's dropout noise is below uint8 resolution
    image, mask = np.zeros((64, 64, 3), np.float32), disk_mask(64, 64)
    outs = [A.Compose([GANAugment(tiny_pix2pix, p=1.0)], seed=s)(image=image, mask=mask)["image"] for s in (0, 1)]
    assert not np.array_equal(outs[0], outs[1])  # dropout noise depends on the drawn seed


@SETTINGS
@given(seed=st.integers(0, 10_000), off=st.integers(-12, 12))
def test_image_is_generated_from_the_augmented_mask(tiny_pix2pix, seed, off):
    """Alignment: after geometric transforms, the pipeline returns the augmented mask and
    exactly the image the generator makes for that mask (with the seed the transform drew)."""
    image = np.full((64, 64, 3), 128, np.uint8)
    mask = disk_mask(64, 64, cy=32 + off, cx=20, r=10)
    geometry = [A.HorizontalFlip(p=0.5), A.RandomRotate90(p=1.0)]
    geo_only = A.Compose(geometry, seed=seed)(image=image, mask=mask)
    gan = GANAugment(tiny_pix2pix, p=1.0)
    full = A.Compose([*geometry, gan], seed=seed)(image=image, mask=mask)
    assert np.array_equal(full["mask"], geo_only["mask"])
    drawn_seed = gan.get_applied_params()["seed"]
    expected = tiny_pix2pix.translate(masks=torch.from_numpy(full["mask"]).float()[None, None], seed=drawn_seed)[0]
    expected_u8 = (expected.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    assert np.array_equal(full["image"], expected_u8)


def test_trained_generator_keeps_lesion_inside_mask_alignment():
    """With the bundled checkpoint, moving the mask moves the dark lesion with it."""
    import gan_augment as ga

    g = ga.from_pretrained("mask2lesion-isic2017-128", device="cpu")
    left, right = disk_mask(128, 128, cx=40, r=22), disk_mask(128, 128, cx=88, r=22)
    aug = GANAugment(g, p=1.0)
    for mask in (left, right):
        out = A.Compose([aug], seed=0)(image=np.zeros((128, 128, 3), np.uint8), mask=mask)["image"]
        grey = out.mean(axis=2)
        assert grey[mask == 1].mean() < grey[mask == 0].mean() - 0.05 * 255


@pytest.mark.parametrize(
    "image, mask, error, words",
    [
        (np.zeros((32, 32, 1), np.uint8), disk_mask(32, 32), ValueError, "RGB"),
        (np.zeros((32, 32), np.uint8), disk_mask(32, 32), ValueError, "RGB"),
        (np.zeros((32, 32, 4), np.uint8), disk_mask(32, 32), ValueError, "RGB"),
        (np.zeros((32, 32, 3), np.uint8), disk_mask(32, 32) * 3, ValueError, "binary"),
        (np.zeros((32, 32, 3), np.uint8), disk_mask(32, 32).astype(np.float32) * 0.5, ValueError, "binary"),
        (np.zeros((32, 32, 3), np.uint8), disk_mask(16, 16), ValueError, "differs from image size"),
        (np.full((32, 32, 3), 2.0, np.float32), disk_mask(32, 32), ValueError, "[0, 1]"),
        (np.full((32, 32, 3), -0.5, np.float32), disk_mask(32, 32), ValueError, "[0, 1]"),
        (np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32), np.uint8), ValueError, "empty"),
        (np.zeros((32, 32, 3), np.int64), disk_mask(32, 32), TypeError, "dtype"),
    ],
)
def test_bad_input_raises_clear_error(tiny_pix2pix, image, mask, error, words):
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        GANAugment(tiny_pix2pix, p=1.0)(image=image, mask=mask)


def test_missing_mask_is_a_clear_error(tiny_pix2pix):
    with pytest.raises(ValueError, match="pass a mask"):
        GANAugment(tiny_pix2pix, p=1.0)(image=np.zeros((32, 32, 3), np.uint8))


def test_empty_mask_can_be_skipped(tiny_pix2pix):
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out = GANAugment(tiny_pix2pix, p=1.0, on_empty_mask="skip")(image=image, mask=np.zeros((32, 32), np.uint8))
    assert np.array_equal(out["image"], image)


def test_bad_arguments_rejected_at_construction(tiny_pix2pix):
    with pytest.raises(ValueError):
        GANAugment(tiny_pix2pix, p=1.5)
    with pytest.raises(ValueError):
        GANAugment(tiny_pix2pix, on_empty_mask="ignore")
    with pytest.raises(TypeError, match="Synthesizer"):
        GANAugment(42)


def test_to_dict_from_dict_round_trip(tiny_pix2pix_dir):
    import gan_augment  # noqa: F401  (registers GANAugment for from_dict)

    pipeline = A.Compose([A.HorizontalFlip(p=0.5), GANAugment(str(tiny_pix2pix_dir), p=0.8, device="cpu")], seed=3)
    restored = A.from_dict(A.to_dict(pipeline))
    restored.set_random_seed(3)
    assert A.to_dict(restored) == A.to_dict(pipeline)
    image, mask = np.zeros((40, 40, 3), np.uint8), disk_mask(40, 40)
    a = pipeline(image=image, mask=mask)
    b = restored(image=image, mask=mask)
    assert np.array_equal(a["image"], b["image"])


def test_in_memory_generator_cannot_be_serialised_without_a_name():
    from conftest import tiny_synthesizer

    with pytest.raises(ValueError, match="save_pretrained"):
        A.to_dict(A.Compose([GANAugment(tiny_synthesizer(), p=1.0)]))


def test_lazy_loading_by_name(tiny_pix2pix_dir):
    aug = GANAugment(str(tiny_pix2pix_dir), p=1.0, device="cpu")
    assert aug._lazy._synth is None  # nothing loaded at construction
    aug(image=np.zeros((32, 32, 3), np.uint8), mask=disk_mask(32, 32))
    assert aug._lazy._synth is not None and aug._lazy._synth.is_loaded


class _PairDataset(torch.utils.data.Dataset):
    """The same image/mask pair every time, through an Albumentations pipeline."""

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def __len__(self):
        return 8

    def __getitem__(self, i):
        out = self.pipeline(image=np.zeros((32, 32, 3), np.float32), mask=disk_mask(32, 32))
        return torch.from_numpy(out["image"]).permute(2, 0, 1), torch.from_numpy(out["mask"])


def test_two_worker_dataloader_epoch(tiny_pix2pix_dir):
    pipeline = A.Compose([A.HorizontalFlip(), GANAugment(str(tiny_pix2pix_dir), p=1.0, device="cpu")], seed=0)
    def epoch(seed):
        loader = torch.utils.data.DataLoader(
            _PairDataset(pipeline), batch_size=4, num_workers=2, worker_init_fn=albumentations_worker_init,
            generator=torch.Generator().manual_seed(seed),
        )
        return torch.cat([b[0] for b in loader])

    images = epoch(0)
    assert images.shape == (8, 3, 32, 32)
    assert len({tuple(x.flatten().tolist()) for x in images}) == 8  # workers draw their own seeds
    assert torch.equal(epoch(0), images)  # reproducible with a seeded loader


def test_image_translator_and_noise_generator_in_pipelines():
    from conftest import tiny_synthesizer

    image = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    cyclegan = GANAugment(tiny_synthesizer("cyclegan"), p=1.0)  # reads the image, no mask needed
    out = A.Compose([cyclegan], seed=0)(image=image)["image"]
    assert out.shape == image.shape and out.dtype == np.uint8 and not np.array_equal(out, image)
    residual = GANAugment(tiny_synthesizer("residual_unet"), p=1.0)  # image + mask
    assert A.Compose([residual], seed=0)(image=image, mask=disk_mask(40, 40))["image"].shape == image.shape
    noise = GANAugment(tiny_synthesizer("dcgan"), p=1.0)  # classification: the image is replaced by a sample
    assert A.Compose([noise], seed=0)(image=image)["image"].shape == image.shape
    with pytest.raises(ValueError, match="cannot keep an image/mask pair aligned"):
        A.Compose([noise], seed=0)(image=image, mask=disk_mask(40, 40))
    progan = GANAugment(tiny_synthesizer("progan"), p=1.0, label=2)  # class-conditional: a fixed class
    out = A.Compose([progan], seed=0)(image=image, label=0)
    assert out["image"].shape == image.shape and out["label"] == 2  # the label follows the drawn class
    with pytest.raises(ValueError, match="pass labels"):
        A.Compose([GANAugment(tiny_synthesizer("progan"), p=1.0)], seed=0)(image=image)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_image_is_a_clear_error(tiny_pix2pix, bad):
    image = np.full((32, 32, 3), 0.5, np.float32)
    image[3, 4, 1] = bad
    with pytest.raises(ValueError, match="GANAugment: image contains 1 NaN or infinite"):
        GANAugment(tiny_pix2pix, p=1.0)(image=image, mask=disk_mask(32, 32))


@pytest.mark.parametrize("axis", [0, 1, None])
def test_flipped_numpy_views_are_accepted(tiny_pix2pix, axis):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)
    mask = disk_mask(32, 40, cx=12, r=6)
    flipped_image, flipped_mask = np.flip(image, axis=axis), np.flip(mask, axis=axis)
    assert any(s < 0 for s in flipped_mask.strides)  # a negative-stride view, not a copy
    out = A.Compose([GANAugment(tiny_pix2pix, p=1.0)], seed=0)(image=flipped_image, mask=flipped_mask)
    same = A.Compose([GANAugment(tiny_pix2pix, p=1.0)], seed=0)(image=flipped_image.copy(), mask=flipped_mask.copy())
    assert np.array_equal(out["image"], same["image"]) and np.array_equal(out["mask"], flipped_mask)


class _DictPipelineDataset(torch.utils.data.Dataset):
    """Holds its pipeline in a dict (e.g. one per split)."""

    def __init__(self, pipeline):
        self.pipelines = {"train": pipeline}

    def __len__(self):
        return 8

    def __getitem__(self, i):
        out = self.pipelines["train"](image=np.zeros((32, 32, 3), np.float32), mask=disk_mask(32, 32))
        return torch.from_numpy(out["image"]).permute(2, 0, 1), torch.from_numpy(out["mask"])


@pytest.mark.parametrize("wrap", ["subset", "concat", "dict", "nested"])
def test_worker_init_reseeds_pipelines_inside_wrappers(tiny_pix2pix_dir, wrap):
    from torch.utils.data import ConcatDataset, Subset

    def dataset():
        pipeline = A.Compose([A.HorizontalFlip(), GANAugment(str(tiny_pix2pix_dir), p=1.0, device="cpu")], seed=0)
        if wrap == "subset":
            return Subset(_PairDataset(pipeline), range(8))
        if wrap == "concat":
            return ConcatDataset([_PairDataset(pipeline), _PairDataset(pipeline)])
        if wrap == "dict":
            return _DictPipelineDataset(pipeline)
        return Subset(ConcatDataset([_DictPipelineDataset(pipeline)]), range(8))

    def epoch(seed):
        loader = torch.utils.data.DataLoader(
            dataset(), batch_size=4, num_workers=2, worker_init_fn=albumentations_worker_init,
            generator=torch.Generator().manual_seed(seed),
        )
        return torch.cat([b[0] for b in loader])

    images = epoch(0)
    assert len({tuple(x.flatten().tolist()) for x in images}) == len(images)  # no two workers in lockstep
    assert torch.equal(epoch(0), images)


def test_find_pipelines_visits_each_pipeline_once():
    from gan_augment.transforms.albumentations import find_pipelines

    a, b = A.Compose([A.HorizontalFlip()]), A.Compose([A.VerticalFlip()])

    class Holder:
        def __init__(self):
            self.pipes = {"x": [a, (b,)], "again": a}
            self.array = np.zeros(3)

    assert find_pipelines(Holder()) == [a, b]


def test_replay_is_json_serialisable_and_replays_for_the_new_mask(tiny_pix2pix_dir):
    import json

    import gan_augment  # noqa: F401  (registers GANAugment for replays)

    pipeline = A.ReplayCompose([A.HorizontalFlip(p=0.5), GANAugment(str(tiny_pix2pix_dir), p=1.0, device="cpu")])
    pipeline.set_random_seed(4)
    image, mask = np.zeros((40, 40, 3), np.float32), disk_mask(40, 40, cx=12, r=7)
    first = pipeline(image=image, mask=mask)
    params = first["replay"]["transforms"][1]["params"]
    assert set(params) <= {"seed", "shape"} and isinstance(params["seed"], int)  # no arrays in the params
    replay = json.loads(json.dumps(first["replay"]))  # a JSON round trip
    again = A.ReplayCompose.replay(replay, image=image, mask=mask)
    assert np.array_equal(again["image"], first["image"]) and np.array_equal(again["mask"], first["mask"])
    other_mask = disk_mask(40, 40, cx=28, cy=10, r=5)
    other = A.ReplayCompose.replay(replay, image=image, mask=other_mask)
    flipped = np.fliplr(other_mask) if first["replay"]["transforms"][0]["applied"] else other_mask
    assert np.array_equal(other["mask"], flipped)
    from gan_augment.synthesizer import from_pretrained

    expected = from_pretrained(tiny_pix2pix_dir, device="cpu").translate(
        masks=torch.from_numpy(np.ascontiguousarray(flipped)).float()[None, None], seed=params["seed"]
    )[0].permute(1, 2, 0).numpy()
    assert np.array_equal(other["image"], expected)  # synthesised for the replayed data's own mask
    assert not np.array_equal(other["image"], first["image"])


@SETTINGS
@given(
    boxes=st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(1, 19), st.integers(1, 19)), min_size=0, max_size=4),
    points=st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39)), min_size=0, max_size=4),
    seed=st.integers(0, 1000),
)
def test_targets_it_does_not_change_pass_through(tiny_pix2pix, boxes, points, seed):
    image, mask = np.zeros((40, 40, 3), np.uint8), disk_mask(40, 40)
    image2 = np.random.default_rng(seed).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    mask2, extra = disk_mask(40, 40, cx=10, r=4), [disk_mask(40, 40, cy=8, r=3), np.zeros((40, 40), np.uint8)]
    bboxes = [[x, y, x + w, y + h] for x, y, w, h in boxes]
    pipeline = A.Compose(
        [GANAugment(tiny_pix2pix, p=1.0)], seed=seed,
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["box_labels"]),
        keypoint_params=A.KeypointParams(format="xy", label_fields=["point_labels"]),
        additional_targets={"image2": "image", "mask2": "mask"},
    )
    out = pipeline(
        image=image, mask=mask, image2=image2, mask2=mask2, masks=extra, bboxes=bboxes, box_labels=list(range(len(bboxes))),
        keypoints=points, point_labels=list(range(len(points))),
    )
    assert not np.array_equal(out["image"], image)
    assert np.array_equal(out["image2"], image2) and np.array_equal(out["mask2"], mask2)
    assert all(np.array_equal(a, b) for a, b in zip(out["masks"], extra)) and len(out["masks"]) == 2
    assert np.allclose(np.asarray(out["bboxes"]).reshape(-1, 4), np.asarray(bboxes, float).reshape(-1, 4))
    assert [tuple(float(v) for v in k[:2]) for k in out["keypoints"]] == [(float(x), float(y)) for x, y in points]
    assert list(out["box_labels"]) == list(range(len(bboxes)))


def test_class_conditional_generator_sets_the_label_target_or_refuses():
    from conftest import tiny_synthesizer

    image = np.zeros((32, 32, 3), np.uint8)
    progan = tiny_synthesizer("progan")
    out = A.Compose([GANAugment(progan, p=1.0, label=1)], seed=0)(image=image, label=0)
    assert out["label"] == 1
    out = A.Compose([GANAugment(progan, p=1.0, label=2, label_key="y")], seed=0)(image=image, y=0, label=7)
    assert out["y"] == 2 and out["label"] == 7
    with pytest.raises(ValueError, match=r"class 1 .*label must change too: pass it in the call \(label=\.\.\."):
        A.Compose([GANAugment(progan, p=1.0, label=1)], seed=0)(image=image)
    skipped = A.Compose([GANAugment(progan, p=0.0, label=1)], seed=0)(image=image, label=0)
    assert skipped["label"] == 0  # not applied: the label stays


def test_lesion_copy_paste_replays_from_json_and_passes_other_targets(tmp_path):
    import json

    from gan_augment.copy_paste import LesionBank
    from gan_augment.transforms.albumentations import LesionCopyPaste

    sources = [(torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(k)), torch.from_numpy(disk_mask(40, 40, r=8 + 3 * k)).float()) for k in range(3)]
    LesionBank([s[0] for s in sources], [s[1] for s in sources]).save(tmp_path / "bank.npz")
    pipeline = A.ReplayCompose(
        [LesionCopyPaste(str(tmp_path / "bank.npz"), p=1.0)],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["classes"]), additional_targets={"image2": "image"},
    )
    pipeline.set_random_seed(0)
    image, mask, image2 = np.full((48, 48, 3), 128, np.uint8), disk_mask(48, 48, r=10), np.zeros((48, 48, 3), np.uint8)
    first = pipeline(image=image, mask=mask, image2=image2, bboxes=[[4, 5, 30, 40]], classes=[1])
    assert not np.array_equal(first["image"], image) and np.array_equal(first["image2"], image2)
    assert np.allclose(np.asarray(first["bboxes"]).reshape(-1, 4), [[4, 5, 30, 40]])
    replay = json.loads(json.dumps(first["replay"]))
    assert set(replay["transforms"][0]["params"]) <= {"index", "seed", "shape"}
    again = A.ReplayCompose.replay(replay, image=image, mask=mask, bboxes=[[1, 2, 3, 4]], classes=[0])
    assert np.array_equal(again["image"], first["image"]) and np.allclose(np.asarray(again["bboxes"]).reshape(-1, 4), [[1, 2, 3, 4]])


def test_serialised_pipeline_with_every_target_type_round_trips(tiny_pix2pix_dir):
    import json

    import gan_augment  # noqa: F401  (registers GANAugment for from_dict)

    pipeline = A.Compose(
        [A.HorizontalFlip(p=0.5), GANAugment(str(tiny_pix2pix_dir), p=0.9, device="cpu", label_key="y")], seed=5,
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["classes"]),
        keypoint_params=A.KeypointParams(format="xy"), additional_targets={"image2": "image", "mask2": "mask"},
    )
    restored = A.from_dict(json.loads(json.dumps(A.to_dict(pipeline))))
    restored.set_random_seed(5)
    assert A.to_dict(restored) == A.to_dict(pipeline)
    data = {
        "image": np.zeros((40, 40, 3), np.uint8), "mask": disk_mask(40, 40, cx=12, r=6), "image2": np.full((40, 40, 3), 9, np.uint8),
        "mask2": disk_mask(40, 40, cx=30, r=4), "masks": [disk_mask(40, 40, r=3)], "bboxes": [[2, 3, 20, 30]], "classes": [1],
        "keypoints": [(5.0, 6.0)], "y": 3,
    }
    for _ in range(3):
        a, b = pipeline(**data), restored(**data)
        for key in data:
            assert np.array_equal(np.asarray(a[key], dtype=object if key == "masks" else None), np.asarray(b[key], dtype=object if key == "masks" else None)), key
        assert a["y"] == 3  # an unconditional model leaves the label alone
