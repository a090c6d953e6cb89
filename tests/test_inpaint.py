"""Background-preserving inpainting model, lesion box, projected discriminator, EMA."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import disk_mask, tiny_synthesizer
from hypothesis import given, settings
from hypothesis import strategies as st

from gan_augment.data import bundled_sample
from gan_augment.ema import EMA
from gan_augment.lesion_box import crop_resize, dilate, lesion_box, lesion_crops
from gan_augment.models import get_spec
from gan_augment.models.inpaint_recipe import LesionBoxView
from gan_augment.training import make_recipe


@pytest.fixture(scope="module")
def inpainter():
    return tiny_synthesizer("inpaint")


@settings(max_examples=25, deadline=None)
@given(h=st.integers(16, 80), w=st.integers(16, 80), cy=st.floats(0, 1), cx=st.floats(0, 1), r=st.floats(1, 20), margin=st.floats(0, 0.6))
def test_lesion_box_is_a_square_inside_the_image_that_holds_the_lesion(h, w, cy, cx, r, margin):
    mask = torch.from_numpy(disk_mask(h, w, cy * (h - 1), cx * (w - 1), r))
    top, left, side = lesion_box(mask, margin)
    assert 0 <= top and top + side <= h and 0 <= left and left + side <= w and side <= min(h, w)
    rows, cols = np.nonzero(mask.numpy())
    lesion_side = max(np.ptp(rows), np.ptp(cols)) + 1
    if lesion_side * (1 + 2 * margin) <= min(h, w):  # the whole lesion fits: it is inside the box
        assert rows.min() >= top and rows.max() < top + side and cols.min() >= left and cols.max() < left + side


def test_lesion_box_rejects_empty_and_badly_shaped_masks():
    with pytest.raises(ValueError, match="empty"):
        lesion_box(torch.zeros(8, 8))
    with pytest.raises(ValueError, match="HW"):
        lesion_box(torch.ones(1, 8, 8))


def test_lesion_crops_keep_image_and_mask_aligned():
    mask = torch.from_numpy(disk_mask(40, 60, 20, 40, 8)).float()[None, None]
    image = mask.expand(1, 3, 40, 60).clone()  # white exactly on the lesion
    crops, crop_masks = lesion_crops(image, mask, 32)
    assert crops.shape == (1, 3, 32, 32) and crop_masks.shape == (1, 1, 32, 32)
    assert set(crop_masks.unique().tolist()) <= {0.0, 1.0}
    inside = crops[0, 0][crop_masks[0, 0] == 1]
    outside = crops[0, 0][crop_masks[0, 0] == 0]
    assert inside.mean() > 0.9 and outside.mean() < 0.1


@settings(max_examples=15, deadline=None)
@given(h=st.integers(24, 96), w=st.integers(24, 96), seed=st.integers(0, 2**16), r=st.floats(3, 10))
def test_pixels_outside_the_region_are_bit_exact_and_output_is_seeded(inpainter, h, w, seed, r):
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(2, 3, h, w, generator=gen)
    mask = torch.from_numpy(np.stack([disk_mask(h, w, r=r), disk_mask(h, w, h / 3, w / 3, r)])).float()[:, None]
    out = inpainter.translate(images=image, masks=mask, seed=seed)
    assert out.shape == image.shape and out.dtype == image.dtype
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    # outside the mask grown by the box-scaled dilation (+1 px for nearest resizing) nothing changes
    radius = int(np.ceil(get_spec("inpaint").tiny_generator_config["dilation"] * max(h, w) / 32)) + 1
    outside = dilate(mask, radius) == 0
    assert torch.equal(out.masked_select(outside.expand_as(out)), image.masked_select(outside.expand_as(image)))
    assert not torch.equal(out, image)  # something was painted
    assert torch.equal(out, inpainter.translate(images=image, masks=mask, seed=seed))


def test_noise_changes_the_lesion(inpainter):
    image = torch.rand(1, 3, 48, 48)
    mask = torch.from_numpy(disk_mask(48, 48)).float()[None, None]
    a = inpainter.translate(images=image, masks=mask, seed=0)
    b = inpainter.translate(images=image, masks=mask, seed=1)
    assert (a - b).abs()[mask.expand_as(a).bool()].mean() > 1e-4


def test_empty_mask_and_missing_image_are_clear_errors(inpainter):
    with pytest.raises(ValueError, match="empty"):
        inpainter.translate(images=torch.rand(1, 3, 32, 32), masks=torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="images="):
        inpainter.translate(masks=torch.ones(1, 1, 32, 32))


def test_gan_augment_leaves_the_background_of_a_uint8_image_alone(inpainter):
    import albumentations as A

    from gan_augment import GANAugment

    item = bundled_sample()[0]
    out = A.Compose([GANAugment(inpainter, p=1.0)], seed=0)(image=item["image"], mask=item["mask"])
    assert out["image"].shape == item["image"].shape and out["image"].dtype == np.uint8
    np.testing.assert_array_equal(out["mask"], item["mask"])
    far = dilate(torch.from_numpy(item["mask"]).float()[None, None], 40)[0, 0].numpy() == 0
    np.testing.assert_array_equal(out["image"][far], item["image"][far])


def test_training_view_is_pure_in_epoch_and_index_and_skips_empty_masks():
    view = LesionBoxView(bundled_sample(), 32, seed=3).preload(progress=False)
    a, b = view[(1, 2)], view[(1, 2)]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
    assert not torch.equal(view[(2, 2)]["image"], a["image"]) or not torch.equal(view[(2, 2)]["mask"], a["mask"])
    assert a["image"].shape == (3, 32, 32) and a["mask"].shape == (1, 32, 32)
    assert float(a["image"].min()) >= -1 and float(a["image"].max()) <= 1 and set(a["mask"].unique().tolist()) <= {0.0, 1.0}
    preview = view.preview_batch(4)
    assert preview["image"].shape == (4, 3, 32, 32)


def test_projected_discriminator_trains_heads_only_and_saves_no_backbone():
    spec = get_spec("inpaint")
    recipe = make_recipe("inpaint", spec.tiny_image_size, {**spec.tiny_generator_config, **spec.tiny_hparams})
    d = recipe.discriminator
    assert not any(k.startswith("features") for k in d.state_dict())
    assert all(not p.requires_grad for p in d.project.parameters())
    images = torch.rand(2, 3, 32, 32, requires_grad=True) * 2 - 1
    logits = d(images, torch.ones(2, 1, 32, 32))
    assert len(logits) == 4
    sum(lg.mean() for lg in logits).backward()
    assert all(p.grad is not None for p in d.heads.parameters() if p.requires_grad)
    assert all(p.grad is None for p in d.project.parameters())
    with pytest.raises(ValueError, match="Lite0 is for evaluation"):
        from gan_augment.models.projected import FrozenEfficientNetLite

        FrozenEfficientNetLite(0)


def test_ema_follows_its_source_with_rampup():
    net = torch.nn.Linear(2, 2)
    ema = EMA(net, half_life_images=1000)
    assert ema.beta(10, 10) < ema.beta(10, 100_000)  # young runs average over few images
    with torch.no_grad():
        net.weight.add_(1.0)
    before = ema.module.weight.clone()
    ema.update(net, 10, 10)
    after = ema.module.weight
    assert torch.all((after - before).abs() > 0) and torch.all((after - net.weight).abs() < (before - net.weight).abs())


def test_crop_resize_nearest_keeps_masks_binary():
    mask = torch.from_numpy(disk_mask(50, 50)).float()[None]
    out = crop_resize(mask, lesion_box(mask[0]), 17, nearest=True)
    assert set(out.unique().tolist()) <= {0.0, 1.0}


def test_reshape_mode_returns_the_new_mask_and_paints_over_the_old_lesion(inpainter):
    import albumentations as A

    from gan_augment import GANAugment

    item = bundled_sample()[1]
    mask255 = item["mask"] * 255
    out = A.Compose([GANAugment(inpainter, p=1.0, mode="reshape", reshape_strength=0.3)], seed=0)(image=item["image"], mask=mask255)
    new = out["mask"]
    assert new.shape == mask255.shape and new.dtype == mask255.dtype and set(np.unique(new)) <= {0, 255}
    assert not np.array_equal(new, mask255) and new.any()
    union = torch.from_numpy(np.maximum(item["mask"], new // 255)).float()[None, None]
    far = dilate(union, 40)[0, 0].numpy() == 0
    np.testing.assert_array_equal(out["image"][far], item["image"][far])
    again = A.Compose([GANAugment(inpainter, p=1.0, mode="reshape", reshape_strength=0.3)], seed=0)(image=item["image"], mask=mask255)
    np.testing.assert_array_equal(again["mask"], new)
    np.testing.assert_array_equal(again["image"], out["image"])


def test_reshape_needs_a_model_that_can_erase():
    from gan_augment import GANAugment

    with pytest.raises(ValueError, match="reshape"):
        GANAugment(tiny_synthesizer("pix2pix"), mode="reshape")
    with pytest.raises(ValueError, match="mode"):
        GANAugment(tiny_synthesizer("inpaint"), mode="bogus")
    with pytest.raises(TypeError, match="cannot reshape"):
        tiny_synthesizer("pix2pix").translate(masks=torch.ones(1, 1, 32, 32), erase_masks=torch.ones(1, 1, 32, 32))


def test_an_odd_batch_trains():
    spec = get_spec("inpaint")
    recipe = make_recipe("inpaint", spec.tiny_image_size, {**spec.tiny_generator_config, **spec.tiny_hparams, "diffaugment": "color,translation,cutout"})
    batch = {"image": torch.rand(5, 3, 32, 32) * 2 - 1, "mask": torch.from_numpy(disk_mask(32, 32)).float().expand(5, 1, 32, 32).clone()}
    losses = recipe.train_step(batch)
    assert all(torch.isfinite(v) for v in losses.values()) and "G_ms" in losses


def test_reshape_mode_in_monai_and_torchvision_returns_the_new_mask(inpainter):
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    from gan_augment.transforms.monai import RandGANAugmentd
    from gan_augment.transforms.torchvision import RandomGANAugment

    item = bundled_sample()[1]
    image = torch.from_numpy(item["image"]).permute(2, 0, 1).contiguous()
    mask = torch.from_numpy(item["mask"])[None]
    t = RandGANAugmentd(keys=("image", "label"), generator=inpainter, prob=1.0, mode="reshape", reshape_strength=0.3)
    t.set_random_state(0)
    out = t({"image": image.numpy(), "label": mask.numpy()})
    assert out["label"].shape == (1, *item["mask"].shape) and out["label"].dtype == np.uint8
    assert not np.array_equal(out["label"], mask.numpy()) and set(np.unique(out["label"])) <= {0, 1}
    with pytest.raises(ValueError, match="mask_key"):
        RandGANAugmentd(keys=("image",), generator=inpainter, mode="reshape")

    torch.manual_seed(0)
    img, new = v2.Compose([RandomGANAugment(inpainter, p=1.0, mode="reshape", reshape_strength=0.3)])(
        tv_tensors.Image(image), tv_tensors.Mask(mask * 255)
    )
    assert isinstance(new, tv_tensors.Mask) and new.dtype == torch.uint8 and set(new.unique().tolist()) <= {0, 255}
    assert not torch.equal(new, mask * 255) and img.shape == image.shape
    union = torch.maximum(mask, new // 255).float()[None]
    far = (dilate(union, 40)[0, 0] == 0).expand_as(img)
    assert torch.equal(img[far], image[far])


def test_balanced_condition_gain_makes_the_heads_read_the_mask():
    """With the raw mask the projected features (std ~10-40) drown it; "balanced" scales it to
    their energy, so moving the mask moves the verdict far more. Same weights in both."""
    from gan_augment.models.projected import ProjectedDiscriminator

    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    left, right = torch.zeros(2, 1, 64, 64), torch.zeros(2, 1, 64, 64)
    left[..., 16:48, 4:28], right[..., 16:48, 36:60] = 1, 1
    change = {}
    for gain in ("none", "balanced"):
        torch.manual_seed(0)
        d = ProjectedDiscriminator(1, feature_input_size=64, d_width=8, condition_gain=gain).eval()
        with torch.no_grad():
            a, b = d(images, left), d(images, right)
        change[gain] = sum(float((x - y).abs().mean() / x.abs().mean().clamp_min(1e-8)) for x, y in zip(a, b))
    assert change["balanced"] > 5 * change["none"], change
    with pytest.raises(ValueError, match="condition_gain must be one of"):
        ProjectedDiscriminator(1, feature_input_size=64, condition_gain="loud")
