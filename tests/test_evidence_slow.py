"""Opt-in (``make test-slow``): the bundled checkpoint's evidence recomputed on real data."""

from __future__ import annotations

import json

import pytest
from conftest import ISIC2017_ROOT, REPO, needs_isic2017

import gan_augment as ga

pytestmark = [pytest.mark.slow, needs_isic2017]


def test_mask2lesion_card_numbers_reproduce():
    from gan_augment.evaluation import evaluate_mask_to_image

    raw = evaluate_mask_to_image(ga.from_pretrained("mask2lesion-isic2017-128", device="cpu"), ISIC2017_ROOT)["raw"]
    card = json.loads((REPO / "model_cards" / "mask2lesion-isic2017-128" / "config.json").read_text())["evaluation"]["raw"]
    assert raw["contrast_synthetic_positive_fraction"] == 1.0  # every lesion drawn inside its mask
    for key in ("kid_synthetic_vs_val", "kid_real_train_vs_val", "contrast_synthetic_mean", "contrast_real_mean"):
        assert raw[key] == pytest.approx(card[key], rel=0.02, abs=1e-3), key
