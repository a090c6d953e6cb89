"""Opt-in (``make test-slow``): the bundled checkpoint's evidence recomputed on real data, and the
evidence scripts end to end on the real data sets (tiny caps)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ISIC2017_ROOT, REPO, needs_ham10000, needs_isic2017

import gan_augment as ga

pytestmark = [pytest.mark.slow, needs_isic2017]


def test_mask2lesion_card_numbers_reproduce():
    from gan_augment.evaluation import evaluate_mask_to_image

    raw = evaluate_mask_to_image(ga.from_pretrained("mask2lesion-isic2017-128", device="cpu"), ISIC2017_ROOT)["raw"]
    card = json.loads((REPO / "model_cards" / "mask2lesion-isic2017-128" / "config.json").read_text())["evaluation"]["raw"]
    assert raw["contrast_synthetic_positive_fraction"] == 1.0  # every lesion drawn inside its mask
    for key in ("kid_synthetic_vs_val", "kid_real_train_vs_val", "contrast_synthetic_mean", "contrast_real_mean"):
        assert raw[key] == pytest.approx(card[key], rel=0.02, abs=1e-3), key


def _run_evidence(script: str, tmp_path, *args: str):
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, str(REPO / "examples" / f"{script}.py"), *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=1800, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((tmp_path / "summary.json").read_text())


@needs_ham10000
def test_segmentation_evidence_on_the_real_data_sets(tmp_path):
    """The default training and test sets (ISIC 2017 training -> ISIC 2017 validation, HAM10000
    test), every arm, capped to a few images and steps (about two minutes on 2 CPU cores)."""
    summary = _run_evidence("segmentation_dice", tmp_path, "--out", str(tmp_path), "--max-train-images", "40", "--max-test-images", "60",
                            "--steps", "10", "--seeds", "2", "--fractions", "0.25,1")
    assert {b["test"] for b in summary["blocks"]} == {"isic2017-validation", "ham10000-test"}
    assert all(0 < s["mean"] <= 1 for b in summary["blocks"] for s in b["arms"].values())


@needs_ham10000
def test_classifier_evidence_on_the_real_data_sets(tmp_path):
    """HAM10000 training part -> HAM10000 test part and all of ISIC 2017 (classes matched)."""
    summary = _run_evidence("classifier_auc", tmp_path, "--out", str(tmp_path), "--max-train-images", "300", "--max-test-images", "200",
                            "--balance-to", "100", "--seeds", "2", "--fractions", "0.25,1")
    assert {(b["test"], b["metric"]) for b in summary["blocks"]} == {
        (t, m) for t in ("ham10000-test", "isic2017-training-validation") for m in ("melanoma AUC", "macro AUC")
    }
