"""The no-learning mask-agreement check: Otsu, Dice, the real reference, and its place in the realism report."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_realism import memory_pairs, pixel_features

from gan_augment.mask_agreement import dark_region, dice, mask_agreement, mask_dice, otsu_thresholds, real_reference
from gan_augment.realism import evaluate, markdown_report


def disk(n: int, size: int, centre: tuple[int, int], r: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return (((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) <= r * r).float()[None, None].expand(n, 1, -1, -1).clone()


def skin_with_lesion(masks: torch.Tensor) -> torch.Tensor:
    """Pink skin (luminance ~0.75) with a brown lesion (~0.3) inside ``masks``, a little noise."""
    g = torch.Generator().manual_seed(0)
    skin = torch.tensor([0.85, 0.7, 0.65])[None, :, None, None]
    lesion = torch.tensor([0.4, 0.27, 0.2])[None, :, None, None]
    images = skin * (1 - masks) + lesion * masks
    return (images + 0.03 * torch.randn(images.shape, generator=g)).clamp(0, 1)


def test_otsu_splits_two_modes():
    values = torch.cat([torch.full((1, 100), 0.2), torch.full((1, 300), 0.8)], dim=1)
    t = otsu_thresholds(values)
    assert 0.2 < t.item() < 0.8


def test_a_lesion_in_its_mask_scores_near_one_and_elsewhere_near_zero():
    mask = disk(2, 64, (32, 32), 12)
    images = skin_with_lesion(mask)
    assert (dark_region(images) == (mask > 0.5)).float().mean() > 0.97
    assert mask_dice(images, mask).min() > 0.9
    elsewhere = disk(2, 64, (12, 50), 8)
    assert mask_dice(images, elsewhere).max() < 0.2
    ref = real_reference(torch.cat([images[:1], skin_with_lesion(elsewhere)[:1]]), torch.cat([mask[:1], elsewhere[:1]]))
    assert ref["dice_mean"] > 0.9 and ref["shuffled_dice_mean"] < 0.3


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_dice_is_symmetric_bounded_and_one_on_itself(seed):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.rand(3, 1, 8, 8, generator=g) > 0.5, torch.rand(3, 1, 8, 8, generator=g) > 0.7
    d = dice(a, b)
    assert torch.equal(d, dice(b, a)) and ((d >= 0) & (d <= 1)).all()
    assert torch.equal(dice(a, a), torch.ones(3))
    assert dice(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)).item() == 1.0


def test_bad_inputs_raise_clear_errors():
    images, masks = torch.rand(2, 3, 16, 16), torch.zeros(2, 1, 16, 16)
    with pytest.raises(ValueError, match="images must be N x 3"):
        mask_agreement(images[:, :1], masks)
    with pytest.raises(ValueError, match="masks must be N x 1"):
        mask_agreement(images, masks[:1])
    bad = images.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        mask_agreement(bad, masks)


def dark_lesion_in_mask(images, masks, seed):
    return skin_with_lesion(masks.float())


def dark_lesion_elsewhere(images, masks, seed):
    return skin_with_lesion(masks.float().flip(-1).flip(-2).roll(7, dims=-1))


def test_realism_report_scores_mask_agreement_next_to_real_images():
    data = memory_pairs(24)
    result = evaluate(
        {"faithful": dark_lesion_in_mask, "elsewhere": dark_lesion_elsewhere}, data, size=32, max_items=12,
        views=("whole",), extractor=pixel_features, progress=False,
    )
    ref = result["reference"]["mask_agreement"]
    assert set(ref) == {"dice_mean", "dice_median", "shuffled_dice_mean", "shuffled_dice_median"}
    faithful, elsewhere = (result["candidates"][n]["mask_agreement"]["dice_mean"] for n in ("faithful", "elsewhere"))
    assert faithful > 0.8 > elsewhere
    md = markdown_report(result)
    assert "lesion where the mask says" in md and "| faithful | " in md
    from gan_augment.realism_report import card_evaluation

    rows = {r["name"]: r["value"] for r in card_evaluation([result], "faithful")["rows"]}
    row = next(v for k, v in rows.items() if "lesion where the mask says: faithful" in k)
    assert f"Otsu Dice {faithful:.3f}" in row and "another image's mask" in row
