"""The evidence scripts (examples/segmentation_dice.py, examples/classifier_auc.py) end to end
on tiny settings, their shared harness (examples/_evidence.py) and resuming.

The training set is a fake HAM10000 layout written here (five images per class); the second
test set is the bundled six-image ISIC 2017 sample. Each script run takes seconds."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO
from PIL import Image

from gan_augment.data import SAMPLE_ISIC2017, DermDataset, Record

sys.path.insert(0, str(REPO / "examples"))
import _evidence as ev  # the harness the two scripts share

HAM_CLASSES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
SAMPLE = f"{SAMPLE_ISIC2017}@validation"
TINY_DICE = ["--image-size", "32", "--steps", "2", "--batch-size", "4", "--channels", "4,8", "--n-boot", "100", "--max-train-images", "10"]
TINY_AUC = ["--image-size", "32", "--steps", "3", "--balance-to", "4", "--n-boot", "100"]


@pytest.fixture(scope="module")
def fake_ham(tmp_path_factory):
    """A HAM10000 layout with five images per class (one lesion each), 30x40 px, a dark disk lesion."""
    root = tmp_path_factory.mktemp("ham")
    (root / "HAM10000_images").mkdir()
    (root / "HAM10000_segmentations_lesion_tschandl").mkdir()
    rng = np.random.default_rng(0)
    rows = []
    yy, xx = np.mgrid[:30, :40]
    for c, dx in enumerate(HAM_CLASSES):
        for k in range(5):
            image_id = f"ISIC_{c:02d}{k:05d}"
            mask = (yy - rng.uniform(10, 20)) ** 2 + (xx - rng.uniform(12, 28)) ** 2 <= rng.uniform(5, 9) ** 2
            image = rng.uniform(150, 220, (30, 40, 3)).astype(np.uint8)
            image[mask] = (90 + 10 * c, 60, 40)
            Image.fromarray(image).save(root / "HAM10000_images" / f"{image_id}.jpg")
            Image.fromarray(mask.astype(np.uint8) * 255).save(root / "HAM10000_segmentations_lesion_tschandl" / f"{image_id}_segmentation.png")
            rows.append({"lesion_id": f"HAM_{c}{k}", "image_id": image_id, "dx": dx, "dx_type": "histo", "age": "50", "sex": "male",
                         "localization": "back"})
    with open(root / "HAM10000_metadata.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def run_script(name: str, cwd, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(REPO / "examples" / f"{name}.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def cells(out):
    return sorted(p.relative_to(out / "cells").as_posix() for p in (out / "cells").rglob("*.json"))


def check_report(out, n_blocks: int, arms: list[str], n_comparisons: int) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["blocks"]) == n_blocks
    report = (out / "report.md").read_text()
    assert "--config quick" in report and "overrides" in report  # every table says what produced it
    for block in summary["blocks"]:
        assert list(block["arms"]) == arms
        for s in block["arms"].values():
            assert s["ci_low"] <= s["mean"] + 1e-9 and s["mean"] <= s["ci_high"] + 1e-9 and len(s["per_seed"]) == len(block["seeds"])
        assert len(block["comparisons"]) == n_comparisons
        for c in block["comparisons"]:
            assert 0 <= c["p_bootstrap"] <= 1 and 0 <= c["wilcoxon_seeds"]["p_value"] <= 1
        png = out / block["plot"]
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({block['plot']})" in report
    return summary


def test_segmentation_dice_smoke(tmp_path, fake_ham):
    out = tmp_path / "dice"
    result = run_script("segmentation_dice", tmp_path, "--train-data", f"{fake_ham}@training", "--test-data", f"{fake_ham}@test",
                        "--test-data", SAMPLE, "--seeds", "2", "--fractions", "0.5,1", "--out", str(out), *TINY_DICE)
    assert result.returncode == 0, result.stderr[-3000:]
    arms = ["NoAug", "ClassicAug", "CopyPaste", "GAN-retexture", "GAN-reshape", "GAN-whole", "AllAug"]
    tests = [f"{fake_ham.name}-test", "isic2017-validation"]
    assert cells(out) == sorted(f"{t}/{f}/{a}/seed{s}.json" for t in tests for f in ("0.5", "1") for a in arms for s in (0, 1))
    summary = check_report(out, n_blocks=4, arms=arms, n_comparisons=12)  # 6 arms vs ClassicAug + 6 vs CopyPaste
    block = summary["blocks"][0]
    assert {c["baseline"] for c in block["comparisons"]} == {"ClassicAug", "CopyPaste"}
    assert all("wilcoxon_images" in c for c in block["comparisons"])  # Dice is a mean over images
    cell = json.loads((out / "cells" / tests[1] / "0.5" / "GAN-reshape" / "seed1.json").read_text())
    assert len(cell["dice"]) == 6 and cell["train_images"] == 5 and all(0 <= d <= 1 for d in cell["dice"])


def test_classifier_auc_smoke(tmp_path, fake_ham):
    out = tmp_path / "auc"
    result = run_script("classifier_auc", tmp_path, "--train-data", f"{fake_ham}@training", "--test-data", f"{fake_ham}@test",
                        "--test-data", SAMPLE, "--seeds", "2", "--fractions", "0.5,1", "--out", str(out), *TINY_AUC)
    assert result.returncode == 0, result.stderr[-3000:]
    arms = ["Real", "Real+Synthetic", "Synthetic-only", "Class-balanced", "Real-oversampled"]
    summary = check_report(out, n_blocks=8, arms=arms, n_comparisons=5)  # 2 tests x 2 fractions x (melanoma, macro AUC)
    assert {b["metric"] for b in summary["blocks"]} == {"melanoma AUC", "macro AUC"}
    pairs = {(c["arm"], c["baseline"]) for c in summary["blocks"][0]["comparisons"]}
    assert pairs == {(a, "Real") for a in arms[1:]} | {("Class-balanced", "Real-oversampled")}
    # ISIC 2017 classes matched to the generator's: nevus -> nv, melanoma -> mel, seborrheic keratosis -> bkl
    assert "Macro AUC: mean one-vs-rest AUC over bkl, mel, nv." in (out / "report.md").read_text()
    cell = json.loads((out / "cells" / "isic2017-validation" / "1" / "Synthetic-only" / "seed0.json").read_text())
    assert cell["train_real"] == 0 and cell["train_synthetic"] > 0 and np.asarray(cell["probs"]).shape == (6, 7)
    balanced = json.loads((out / "cells" / "isic2017-validation" / "1" / "Class-balanced" / "seed0.json").read_text())
    assert balanced["train_real"] > 0 and balanced["synthetic_per_class"] == [0] * 7  # 4 per class already: nothing to top up
    oversampled = json.loads((out / "cells" / "isic2017-validation" / "0.5" / "Real-oversampled" / "seed0.json").read_text())
    real_half = json.loads((out / "cells" / "isic2017-validation" / "0.5" / "Real" / "seed0.json").read_text())
    balanced_half = json.loads((out / "cells" / "isic2017-validation" / "0.5" / "Class-balanced" / "seed0.json").read_text())
    # the control has as many training images as Class-balanced, all real, none synthetic
    assert oversampled["train_synthetic"] == 0 and real_half["train_real"] <= oversampled["train_real"]
    assert oversampled["train_real"] == balanced_half["train_real"] + balanced_half["train_synthetic"]


def test_oversampling_draws_only_from_the_subset_and_its_class():
    import classifier_auc

    labels = np.array([0, 0, 1, 1, 1, 2, 2])
    idx = np.array([0, 2, 3])
    out = classifier_auc.oversampled(idx, labels, np.array([3, 2, 5]), np.random.default_rng(0))
    assert list(out[:3]) == [0, 2, 3] and len(out) == 3 + 3 + 2  # class 2 has no image in the subset: none added
    assert set(out[3:6]) == {0} and set(out[6:]) <= {2, 3}


def test_classifier_auc_fine_tune_head(tmp_path, fake_ham):
    out = tmp_path / "auc-ft"
    result = run_script("classifier_auc", tmp_path, "--train-data", f"{fake_ham}@training", "--test-data", SAMPLE, "--head", "finetune",
                        "--batch-size", "8", "--arms", "Real,Synthetic-only", "--seeds", "1", "--fractions", "1", "--out", str(out), *TINY_AUC)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(cells(out)) == 2


def test_resume_skips_finished_cells_and_refuses_other_settings(tmp_path, fake_ham, capsys):
    """In-process (the script's main) to save interpreter start-ups; ClassicAug and NoAug need no generator."""
    import segmentation_dice

    out = tmp_path / "resume"
    common = ["--train-data", f"{fake_ham}@training", "--test-data", f"{fake_ham}@test", "--arms", "NoAug,ClassicAug", "--fractions", "1",
              "--out", str(out), *TINY_DICE]
    segmentation_dice.main([*common, "--seeds", "1"])
    assert "[2/2]" in capsys.readouterr().out
    seed0 = out / "cells" / f"{fake_ham.name}-test" / "1" / "NoAug" / "seed0.json"
    before = (seed0.stat().st_mtime_ns, seed0.read_text())

    segmentation_dice.main([*common, "--seeds", "2"])  # one more seed: only its runs
    printed = capsys.readouterr().out
    assert "[2/2] seed 1" in printed and "seed 0" not in printed
    assert (seed0.stat().st_mtime_ns, seed0.read_text()) == before
    assert len(cells(out)) == 4

    segmentation_dice.main([*common, "--seeds", "2", "--n-boot", "50"])  # nothing left to run; report-only settings may change
    printed = capsys.readouterr().out
    assert "[" not in printed and "report:" in printed

    with pytest.raises(SystemExit, match="holds results of other settings(.|\n)*steps: 2"):
        segmentation_dice.main([*[a if a != "2" else "3" for a in common], "--seeds", "2"])  # --steps 3
    assert (seed0.stat().st_mtime_ns, seed0.read_text()) == before


# ----------------------------------------------------------------------------- the harness


def test_fraction_subsets_are_seeded_nested_and_stratified():
    labels = np.r_[np.zeros(80, int), np.ones(15, int), np.full(5, 2)]
    a = ev.fraction_subset(100, 0.25, seed=3, labels=labels)
    assert a == ev.fraction_subset(100, 0.25, seed=3, labels=labels)  # the same for every arm
    assert a != ev.fraction_subset(100, 0.25, seed=4, labels=labels)
    assert set(ev.fraction_subset(100, 0.1, seed=3, labels=labels)) <= set(a) <= set(ev.fraction_subset(100, 1.0, seed=3, labels=labels))
    assert np.bincount(labels[a]).tolist() == [20, 4, 1]
    assert ev.fraction_subset(100, 0.01, seed=0, labels=labels) and len(ev.fraction_subset(100, 1.0, seed=0)) == 100
    assert len(ev.fraction_subset(40, 0.1, seed=0)) == 4


def test_data_specs_and_seed_lists():
    spec = ev.DataSpec.parse("../shared/data/isic2017@training+validation", "test")
    assert (spec.path, spec.split, spec.name) == ("../shared/data/isic2017", "training+validation", "isic2017-training-validation")
    assert ev.DataSpec.parse("/data/ham10000", "test").split == "test"
    specs = [ev.DataSpec.parse("/a/x@test", "test"), ev.DataSpec.parse("/b/x@test", "test")]
    ev.name_test_sets(specs)
    assert [s.name for s in specs] == ["x-test", "x-test-2"]
    assert ev.parse_seeds("5") == [0, 1, 2, 3, 4] and ev.parse_seeds("3-5") == [3, 4, 5] and ev.parse_seeds("7,2") == [2, 7]
    assert ev.parse_fractions("1.0,0.1,0.25") == [0.1, 0.25, 1.0]
    with pytest.raises(SystemExit):
        ev.parse_fractions("0,1")
    with pytest.raises(SystemExit, match="unknown"):
        ev.parse_arms("NoAug,Magic", ["NoAug"])


def test_store_refuses_other_settings_and_test_sets_must_not_leak(tmp_path):
    store = ev.CellStore(tmp_path / "o", {"steps": 2, "tests": ["a"]})
    store.write("a", 0.1, "NoAug", 0, {"dice": [0.5]})
    assert store.done("a", 0.1, "NoAug", 0) and not store.done("a", 0.1, "NoAug", 1)
    assert ev.CellStore(tmp_path / "o", {"steps": 2, "tests": ["a"]}).read("a", 0.1, "NoAug", 0)["dice"] == [0.5]
    with pytest.raises(SystemExit, match="steps: 2"):
        ev.CellStore(tmp_path / "o", {"steps": 3, "tests": ["a"]})
    train = DermDataset([Record("x1", tmp_path), Record("x2", tmp_path)])
    with pytest.raises(SystemExit, match="shares 1 image ids"):
        ev.check_disjoint(train, {"t": DermDataset([Record("x2", tmp_path), Record("y", tmp_path)])})


def test_box_plot_is_a_png(tmp_path):
    ev.box_plot(tmp_path / "p.png", {"A": [0.6, 0.62, 0.61, 0.65, 0.6], "B": [0.7], "C": []}, title="t", subtitle="config quick", ylabel="Dice")
    with Image.open(tmp_path / "p.png") as im:
        assert im.format == "PNG" and im.width > 300


def test_readme_commands_parse():
    """Every evidence command in the README is accepted by its script's parser."""
    import classifier_auc
    import segmentation_dice

    text = (REPO / "README.md").read_text().replace("\\\n", " ")
    scripts = {"segmentation_dice": segmentation_dice, "classifier_auc": classifier_auc}
    seen = set()
    for line in text.splitlines():
        for name, module in scripts.items():
            prefix = f"python examples/{name}.py "
            if line.strip().startswith(prefix):
                args = module.parse_args(line.strip()[len(prefix):].split())
                assert args.config in ("quick", "full") and args.out
                seen.add((name, args.config))
    assert seen == {(n, c) for n in scripts for c in ("quick", "full")}
