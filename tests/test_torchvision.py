"""RandomGANAugment in torchvision v2 pipelines."""

from __future__ import annotations

import PIL.Image
import pytest
import torch
from conftest import disk_mask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from gan_augment.transforms.torchvision import RandomGANAugment

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def sample(h=32, w=32, dtype=torch.uint8, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(3, h, w, generator=g)
    image = (image * 255).to(torch.uint8) if dtype == torch.uint8 else image
    return tv_tensors.Image(image), tv_tensors.Mask(torch.from_numpy(disk_mask(h, w)))


@SETTINGS
@given(h=st.integers(16, 64), w=st.integers(16, 64), dtype=st.sampled_from([torch.uint8, torch.float32]), seed=st.integers(0, 999))
def test_types_shapes_dtypes_and_mask_kept(tiny_pix2pix, h, w, dtype, seed):
    image, mask = sample(h, w, dtype, seed)
    torch.manual_seed(seed)
    out_image, out_mask = RandomGANAugment(tiny_pix2pix, p=1.0)(image, mask)
    assert isinstance(out_image, tv_tensors.Image) and isinstance(out_mask, tv_tensors.Mask)
    assert out_image.shape == image.shape and out_image.dtype == image.dtype
    assert torch.equal(out_mask, mask)
    assert out_image.min() >= 0 and out_image.max() <= (255 if dtype == torch.uint8 else 1)
    torch.manual_seed(seed)
    again, _ = RandomGANAugment(tiny_pix2pix, p=1.0)(image, mask)
    assert torch.equal(again, out_image)


def test_p0_identity_and_alignment_after_flip(tiny_pix2pix):
    image, mask = sample()
    out = RandomGANAugment(tiny_pix2pix, p=0.0)(image, mask)
    assert out[0] is image
    mask = tv_tensors.Mask(torch.from_numpy(disk_mask(32, 32, cx=8, r=5)))
    pipeline = v2.Compose([v2.RandomHorizontalFlip(p=1.0), RandomGANAugment(tiny_pix2pix, p=1.0)])
    torch.manual_seed(0)
    _, out_mask = pipeline(image, mask)
    assert torch.equal(out_mask, mask.flip(-1))


def test_dict_samples_plain_tensors_and_pil(tiny_pix2pix):
    image, mask = sample()
    out = v2.Compose([RandomGANAugment(tiny_pix2pix, p=1.0)])({"image": image, "mask": mask, "label": 2})
    assert out["label"] == 2 and torch.equal(out["mask"], mask) and isinstance(out["image"], tv_tensors.Image)
    plain = RandomGANAugment(tiny_pix2pix, p=1.0)(image.as_subclass(torch.Tensor), mask)[0]
    assert type(plain) is torch.Tensor and plain.shape == image.shape
    pil = PIL.Image.fromarray(image.permute(1, 2, 0).numpy())
    out_pil = RandomGANAugment(tiny_pix2pix, p=1.0)(pil, mask)[0]
    assert isinstance(out_pil, PIL.Image.Image) and out_pil.size == pil.size


@pytest.mark.parametrize(
    "image, mask, error, words",
    [
        (tv_tensors.Image(torch.zeros(1, 32, 32)), tv_tensors.Mask(torch.from_numpy(disk_mask(32, 32))), ValueError, "RGB"),
        (tv_tensors.Image(torch.zeros(3, 32, 32)), tv_tensors.Mask(torch.from_numpy(disk_mask(32, 32)) * 3), ValueError, "binary"),
        (tv_tensors.Image(torch.zeros(3, 32, 32)), tv_tensors.Mask(torch.from_numpy(disk_mask(8, 8))), ValueError, "differs"),
        (tv_tensors.Image(torch.full((3, 32, 32), 1.5)), tv_tensors.Mask(torch.from_numpy(disk_mask(32, 32))), ValueError, r"\[0, 1\]"),
        (tv_tensors.Image(torch.zeros(3, 32, 32)), tv_tensors.Mask(torch.zeros(32, 32)), ValueError, "empty"),
    ],
)
def test_bad_input(tiny_pix2pix, image, mask, error, words):
    with pytest.raises(error, match=words):
        RandomGANAugment(tiny_pix2pix, p=1.0)(image, mask)


def test_missing_mask_and_bad_arguments(tiny_pix2pix):
    image, _ = sample()
    with pytest.raises(ValueError, match="pass a mask"):
        RandomGANAugment(tiny_pix2pix, p=1.0)(image)
    with pytest.raises(ValueError):
        RandomGANAugment(tiny_pix2pix, p=-0.1)


class Pairs(Dataset):
    def __init__(self, transform):
        self.transform = transform

    def __len__(self):
        return 8

    def __getitem__(self, i):
        image, mask = sample(32, 32, torch.uint8, seed=0)  # the same pair every time
        return self.transform(image, mask)


def test_two_worker_dataloader_epoch(tiny_pix2pix_dir):
    transform = v2.Compose([v2.RandomHorizontalFlip(), RandomGANAugment(str(tiny_pix2pix_dir), p=1.0, device="cpu"), v2.ToDtype(torch.float32, scale=True)])
    loader = DataLoader(Pairs(transform), batch_size=4, num_workers=2)
    images = torch.cat([b[0] for b in loader])
    assert images.shape == (8, 3, 32, 32) and images.dtype == torch.float32
    assert len({tuple(x.flatten().tolist()) for x in images}) > 1  # workers draw different seeds


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_image_is_a_clear_error(tiny_pix2pix, bad):
    image, mask = sample(dtype=torch.float32)
    image[1, 2, 3] = bad
    with pytest.raises(ValueError, match="RandomGANAugment: image contains 1 NaN or infinite"):
        RandomGANAugment(tiny_pix2pix, p=1.0)(image, mask)


def test_boxes_and_keypoints_pass_through_unchanged(tiny_pix2pix):
    image, mask = sample(40, 48)
    boxes = tv_tensors.BoundingBoxes(torch.tensor([[2, 3, 20, 30], [10, 5, 40, 35]]), format="XYXY", canvas_size=(40, 48))
    points = tv_tensors.KeyPoints(torch.tensor([[4.0, 5.0], [30.0, 20.0]]), canvas_size=(40, 48))
    torch.manual_seed(0)
    out = RandomGANAugment(tiny_pix2pix, p=1.0)({"image": image, "mask": mask, "boxes": boxes, "points": points, "label": 3})
    assert out["boxes"] is boxes and out["points"] is points and out["label"] == 3
    assert torch.equal(out["mask"], mask) and out["image"].shape == image.shape and not torch.equal(out["image"], image)
    torch.manual_seed(0)
    same = RandomGANAugment(tiny_pix2pix, p=1.0)(image, mask)[0]
    assert torch.equal(out["image"], same)  # the boxes were not read as a second image
    composed = v2.Compose([v2.RandomHorizontalFlip(p=1.0), RandomGANAugment(tiny_pix2pix, p=1.0)])
    flipped = composed({"image": image, "mask": mask, "boxes": boxes})
    assert torch.equal(flipped["boxes"], v2.functional.horizontal_flip(boxes))


def test_class_conditional_generator_sets_the_label_or_refuses():
    from conftest import tiny_synthesizer

    progan = tiny_synthesizer("progan")
    image = tv_tensors.Image(torch.zeros(3, 32, 32, dtype=torch.uint8))
    out = RandomGANAugment(progan, p=1.0, label=2)({"image": image, "label": torch.tensor(0)})
    assert out["label"].item() == 2 and out["label"].dtype == torch.int64
    assert RandomGANAugment(progan, p=1.0, label=1, label_key="y")({"image": image, "y": 0})["y"] == 1
    assert RandomGANAugment(progan, p=0.0, label=1)({"image": image, "label": 0})["label"] == 0
    with pytest.raises(ValueError, match="label must change too"):
        RandomGANAugment(progan, p=1.0, label=1)(image)


def test_lesion_copy_paste_lets_boxes_and_keypoints_through():
    from gan_augment.copy_paste import LesionBank
    from gan_augment.transforms.torchvision import RandomLesionCopyPaste

    bank = LesionBank([torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))], [torch.from_numpy(disk_mask(32, 32)).float()])
    image, mask = sample(40, 40)
    boxes = tv_tensors.BoundingBoxes(torch.tensor([[2, 3, 20, 30]]), format="XYXY", canvas_size=(40, 40))
    points = tv_tensors.KeyPoints(torch.tensor([[4.0, 5.0]]), canvas_size=(40, 40))
    out = RandomLesionCopyPaste(bank, p=1.0)({"image": image, "mask": mask, "boxes": boxes, "points": points})
    assert out["boxes"] is boxes and out["points"] is points and not torch.equal(out["image"], image)
