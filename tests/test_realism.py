"""The unpaired realism report: C2STs, the split, the views, the report files, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import ISIC2017_ROOT, disk_mask, needs_isic2017, tiny_synthesizer

from gan_augment.c2st import cnn_c2st, linear_c2st, stratified_folds
from gan_augment.data import DermDataset, Record, bundled_sample
from gan_augment.realism import evaluate, markdown_report, synthesizer_candidate, unpaired_split, write_report


def textures(n: int, size: int, seed: int, square: bool = False) -> torch.Tensor:
    """Smooth random colour textures; with ``square``, a bright 10 px square at a random place."""
    g = torch.Generator().manual_seed(seed)
    x = F.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=(size, size), mode="bilinear", align_corners=False)
    x = (0.3 + 0.4 * x + 0.05 * torch.randn(n, 3, size, size, generator=g)).clamp(0, 1)
    if square:
        for i, (r, c) in enumerate(torch.randint(0, size - 10, (n, 2), generator=g).tolist()):
            x[i, :, r : r + 10, c : c + 10] = 1.0
    return x


def pixel_features(images) -> torch.Tensor:
    """A cheap stand-in for the Lite0 extractor: 4x4 average-pooled pixels (48-d)."""
    batches = [images] if isinstance(images, torch.Tensor) else list(images)
    return torch.cat([F.adaptive_avg_pool2d(b.float(), 4).flatten(1).double() for b in batches])


class SpyExtractor:
    """Pixel features, remembering every image set it was given (in call order)."""

    def __init__(self) -> None:
        self.calls: list[torch.Tensor] = []

    def __call__(self, images) -> torch.Tensor:
        x = torch.cat(list(images)) if not isinstance(images, torch.Tensor) else images
        self.calls.append(x)
        return pixel_features(x)


class MemoryPairs(DermDataset):
    """Image + mask pairs held in memory (HWC uint8, HW {0, 1})."""

    def __init__(self, images: np.ndarray, masks: np.ndarray) -> None:
        super().__init__([Record(f"img{i}", Path(f"img{i}.png"), Path(f"img{i}_mask.png")) for i in range(len(images))])
        self.images, self.masks = images, masks

    def __getitem__(self, index: int) -> dict:
        return {"image": self.images[index], "mask": self.masks[index], "id": self.records[index].id}


def memory_pairs(n: int, size: int = 32, seed: int = 0) -> MemoryPairs:
    rng = np.random.default_rng(seed)
    images = (textures(n, size, seed).permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)
    masks = np.stack([disk_mask(size, size, *rng.uniform(8, size - 8, 2), r=rng.uniform(3, 6)) for _ in range(n)])
    return MemoryPairs(images, masks)


def identity(images, masks, seed):
    return images.clone()


def white_lesion_on_black(images, masks, seed):
    return masks.float().expand(-1, 3, -1, -1).clone()


# --- classifier two-sample tests ---------------------------------------------------------------
def test_stratified_folds_partition_both_sets():
    folds = stratified_folds(12, 10, folds=5, seed=3)
    joined = np.concatenate(folds)
    assert sorted(joined.tolist()) == list(range(22))
    assert all(((f < 12).sum() >= 2) and ((f >= 12).sum() >= 2) for f in folds)
    assert all((a == b).all() for a, b in zip(folds, stratified_folds(12, 10, folds=5, seed=3)))
    with pytest.raises(ValueError):
        stratified_folds(3, 10, folds=5)


def test_c2st_near_half_for_one_distribution():
    a, b = textures(64, 32, seed=1), textures(64, 32, seed=2)
    linear = linear_c2st(pixel_features(a), pixel_features(b), seed=0)
    cnn = cnn_c2st(a, b, input_size=32, seed=0, progress=False)
    assert 0.35 <= linear["mean"] <= 0.65, linear
    assert 0.35 <= cnn["mean"] <= 0.65, cnn
    assert len(cnn["per_fold"]) == 5 and cnn == cnn_c2st(a, b, input_size=32, seed=0, progress=False)


def test_c2st_tells_a_bright_square_apart():
    a, b = textures(64, 32, seed=1), textures(64, 32, seed=2, square=True)
    assert linear_c2st(pixel_features(a), pixel_features(b), seed=0)["mean"] > 0.9
    assert cnn_c2st(a, b, input_size=32, seed=0, progress=False)["mean"] > 0.9


# --- the protocol ------------------------------------------------------------------------------
def test_unpaired_split_is_disjoint_capped_and_seeded():
    a, b = unpaired_split(101, seed=4)
    assert len(a) == len(b) == 50 and not set(a) & set(b)
    assert (a, b) == unpaired_split(101, seed=4)
    assert unpaired_split(101, seed=5) != (a, b)
    a3, b3 = unpaired_split(101, max_items=3, seed=4)
    assert len(a3) == len(b3) == 3 and not set(a3) & set(b3)
    assert sorted(a) != list(range(50))  # random, not the first files
    with pytest.raises(ValueError):
        unpaired_split(1)


def test_unpaired_split_keeps_every_lesion_in_one_half():
    groups = [f"L{i // 3}" for i in range(60)] + [None] * 9  # 20 lesions photographed 3 times, 9 single images
    a, b = unpaired_split(len(groups), seed=1, groups=groups)
    assert len(a) == len(b) >= 30 and not set(a) & set(b)
    assert not {groups[i] for i in a if groups[i]} & {groups[i] for i in b if groups[i]}
    assert (a, b) == unpaired_split(len(groups), seed=1, groups=groups)
    a3, b3 = unpaired_split(len(groups), max_items=3, seed=1, groups=groups)
    assert len(a3) == len(b3) == 3
    assert unpaired_split(10, seed=4, groups=[None] * 10) == unpaired_split(10, seed=4)  # no groups: per image, as before
    with pytest.raises(ValueError, match="2 groups"):
        unpaired_split(4, groups=["x"] * 4)


def test_real_as_candidate_has_zero_kid_excess():
    data = memory_pairs(24)
    result = evaluate({"real A": identity}, data, size=32, max_items=12, extractor=pixel_features, progress=False)
    ref, cand = result["reference"], result["candidates"]["real A"]
    assert result["data"]["n_a"] == result["data"]["n_b"] == 12
    assert not set(result["data"]["ids_a"]) & set(result["data"]["ids_b"])
    for view in ("whole", "crop"):
        assert cand[view]["kid_excess"] == pytest.approx(0.0, abs=1e-12)
        assert cand[view]["linear_c2st"] == ref[view]["linear_c2st"]
        assert cand[view]["cnn_c2st"] == ref[view]["cnn_c2st"]
    json.dumps(result)  # JSON-able


def test_crop_view_uses_the_masks_the_images_were_made_for():
    data = memory_pairs(16)
    spy = SpyExtractor()
    evaluate({"white": white_lesion_on_black}, data, size=32, max_items=8, extractor=spy, progress=False)
    # call order: real A whole, real B whole, real A crop, real B crop, candidate whole, candidate crop, diversity
    whole, crop = spy.calls[4], spy.calls[5]
    assert len(crop) == 8
    assert (crop[:, :, 16, 16] == 1).all()  # every crop is centred on the lesion the image was drawn for
    assert (crop[:, :, 0, 0] == 0).all() and (crop[:, :, -1, -1] == 0).all()
    assert (whole.mean(dim=(1, 2, 3)) < crop.mean(dim=(1, 2, 3))).all()


def test_report_files_and_views(tmp_path):
    data = memory_pairs(20)
    result = evaluate(
        {"real A": identity, "white": white_lesion_on_black}, data, size=32, max_items=10, views=("crop",),
        extractor=pixel_features, progress=False,
    )
    paths = write_report(result, tmp_path / "report")
    saved = json.loads(paths["json"].read_text())
    assert "grid_png" not in saved and saved["settings"]["views"] == ["crop"] and "whole" not in saved["reference"]
    md = paths["markdown"].read_text()
    assert "| real vs real (reference) |" in md and "| white |" in md and "crop: CNN C2ST" in md
    assert "within-mask feature distance" in md
    assert saved["candidates"]["white"]["diversity"]["within_mask_distance"] == pytest.approx(0.0, abs=1e-9)
    from PIL import Image

    with Image.open(paths["grid"]) as im:
        assert im.width > 3 * 32 and im.height > 2 * 32


def test_synthesizer_candidate_routes_inputs():
    with pytest.raises(ValueError, match="noise"):
        synthesizer_candidate(tiny_synthesizer("dcgan"))
    synthesize = synthesizer_candidate(tiny_synthesizer("pix2pix"))
    masks = torch.from_numpy(np.stack([disk_mask(32, 32)] * 2)).float()[:, None]
    out = synthesize(torch.rand(2, 3, 32, 32), masks, 0)
    assert out.shape == (2, 3, 32, 32) and torch.equal(out, synthesize(torch.rand(2, 3, 32, 32), masks, 0))


def _tiny_conditional_dcgan(num_classes: int = 3):
    from gan_augment.models import get_spec
    from gan_augment.synthesizer import Synthesizer
    from gan_augment.training import make_recipe

    spec = get_spec("dcgan")
    torch.manual_seed(0)
    config = {**spec.tiny_generator_config, "num_classes": num_classes}
    recipe = make_recipe("dcgan", spec.tiny_image_size, {**config, **spec.tiny_hparams})
    return Synthesizer.from_network(recipe.generator, "dcgan", recipe.generator_config, spec.tiny_image_size)


def test_noise_candidate_samples_one_image_per_item_with_held_out_classes():
    from gan_augment.realism import noise_candidate

    synth = _tiny_conditional_dcgan(3)
    with pytest.raises(ValueError, match="translates"):
        noise_candidate(tiny_synthesizer("pix2pix"))
    with pytest.raises(ValueError, match="class-conditional"):
        noise_candidate(synth, [])
    synthesize = noise_candidate(synth, [2, 2, None, 2])
    images, masks = torch.rand(5, 3, 24, 24), torch.zeros(5, 1, 24, 24)
    out = synthesize(images, masks, 3)
    assert out.shape == images.shape and 0 <= out.min() and out.max() <= 1
    assert torch.equal(out, synthesize(images, masks, 3)) and not torch.equal(out, synthesize(images, masks, 4))
    # only class 2 is in the pool: the samples must equal explicit class-2 samples
    assert torch.equal(out, synth.sample(5, labels=[2] * 5, seed=3, size=24))
    assert getattr(synthesize, "edits_input", True) is False


def test_noise_model_report_has_no_inside_mask_change(tmp_path):
    from gan_augment.realism import noise_candidate

    pairs = memory_pairs(8, size=16)
    result = evaluate(
        {"dcgan": noise_candidate(_tiny_conditional_dcgan(3), [0, 1, 2])}, pairs, size=16, max_items=4,
        views=["whole"], extractor=pixel_features, progress=False,
    )
    entry = result["candidates"]["dcgan"]
    assert set(entry) >= {"whole", "diversity"} and "crop" not in entry
    assert entry["change_inside_mask"] is None
    assert 0.0 <= entry["whole"]["linear_c2st"]["mean"] <= 1.0


def test_copy_paste_candidate_draws_from_the_bank():
    cp = pytest.importorskip("gan_augment.copy_paste")
    from gan_augment.realism import copy_paste_candidate

    bank = cp.LesionBank.from_dataset(bundled_sample(), max_items=4, seed=0)
    synthesize = copy_paste_candidate(bank, harmonize=True)
    images = torch.rand(3, 3, 48, 48)
    masks = torch.from_numpy(np.stack([disk_mask(48, 48)] * 3)).float()[:, None]
    out = synthesize(images, masks, 1)
    assert out.shape == images.shape and 0 <= out.min() and out.max() <= 1
    assert torch.equal(out, synthesize(images, masks, 1))


# --- command line ------------------------------------------------------------------------------
def test_cli_evaluate_help(capsys):
    from gan_augment.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--help"])
    assert exc.value.code == 0 and "--baselines" in capsys.readouterr().out


def test_cli_evaluate_end_to_end(tiny_pix2pix_dir, tmp_path, capsys):
    from gan_augment.cli import main
    from gan_augment.data import SAMPLE_ISIC2017

    out = tmp_path / "report"
    args = ["evaluate", str(tiny_pix2pix_dir), "--data", str(SAMPLE_ISIC2017), "--split", "validation",
            "--size", "32", "--max-items", "3", "--device", "cpu", "--quiet", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| real vs real (reference) |" in printed and f"| {tiny_pix2pix_dir.name} |" in printed
    assert {p.name for p in out.iterdir()} == {"realism.json", "realism.md", "grid.png"}
    saved = json.loads((out / "realism.json").read_text())
    assert saved["data"]["n_a"] == saved["data"]["n_b"] == 3 and saved["data"]["split"] == "validation"
    with pytest.raises(SystemExit, match="shares .* images with the held-out set"):
        main([*args[:-2], "--baselines", "copy-paste", "--bank-split", "validation"])
    with pytest.raises(SystemExit, match="nothing to evaluate"):
        main(["evaluate", "none", "--data", str(SAMPLE_ISIC2017)])


@pytest.mark.slow
@needs_isic2017
def test_copy_paste_on_isic2017_validation(tmp_path):
    pytest.importorskip("gan_augment.copy_paste")
    from gan_augment.copy_paste import LesionBank
    from gan_augment.data import ISIC2017
    from gan_augment.realism import copy_paste_candidate

    bank = LesionBank.from_dataset(ISIC2017(ISIC2017_ROOT, "training"), max_items=100, seed=0)
    result = evaluate(
        {"copy-paste": copy_paste_candidate(bank, harmonize=True)}, ISIC2017(ISIC2017_ROOT, "validation"),
        size=64, max_items=40, progress=False,
    )
    write_report(result, tmp_path)
    ref, cand = result["reference"], result["candidates"]["copy-paste"]
    assert abs(ref["whole"]["linear_c2st"]["mean"] - 0.5) < 0.2
    assert cand["whole"]["kid"] >= 0 and cand["diversity"]["pixel_std_ratio"] > 0.5


def test_merge_results_adds_rows_of_the_same_protocol_only():
    from gan_augment.realism_report import card_evaluation, merge_results

    def result(name, ids_b=("b1", "b2")):
        view = {"kid": 0.1, "kid_std": 0.01, "kid_excess": 0.09, "kid_ratio": 10.0,
                "linear_c2st": {"mean": 0.9, "std": 0.05}, "cnn_c2st": {"mean": 0.8, "std": 0.05}}
        return {
            "settings": {"size": 32, "seed": 0, "views": ["whole"], "max_items": 2},
            "data": {"ids_a": ["a1", "a2"], "ids_b": list(ids_b), "split_seed": 0, "name": "X", "n_a": 2, "n_b": 2},
            "reference": {"whole": {**view, "kid": 0.0}},
            "candidates": {name: {"whole": view}},
            "seconds": 1.0,
            "command": f"gan-augment evaluate {name}",
            "grid_png": "",
        }

    merged = merge_results(result("copy-paste"), result("model"))
    assert set(merged["candidates"]) == {"copy-paste", "model"} and merged["seconds"] == 2.0
    with pytest.raises(ValueError, match="ids_b"):
        merge_results(result("copy-paste"), result("model", ids_b=("b3", "b4")))
    with pytest.raises(ValueError, match="both hold"):
        merge_results(result("model"), result("model"))
    added = result("model")
    added["settings"].update(domain="add", protocol="add a lesion (...)")
    with pytest.raises(ValueError, match="domain"):
        merge_results(result("copy-paste"), added)
    card = card_evaluation([merged], "model", baselines=("copy-paste",))
    assert len(card["rows"]) == 2 and "linear C2ST 0.90" in card["rows"][0]["value"]
    assert "protocol: whole images" in card["description"]  # results from before settings["protocol"]
    added["candidates"]["copy-paste"] = added["candidates"]["model"]
    card = card_evaluation([added], "model", baselines=("copy-paste",))
    assert "protocol: add a lesion" in card["description"] and "domain add" in card["rows"][0]["name"]


def test_identity_editor_is_reported_with_zero_change_and_the_bank_may_not_hold_heldout_images(tmp_path, capsys):
    from gan_augment.cli import main
    from gan_augment.data import SAMPLE_ISIC2017

    out = tmp_path / "report"
    assert main(["evaluate", "none", "--data", str(SAMPLE_ISIC2017), "--split", "validation", "--baselines", "identity",
                 "--max-items", "3", "--views", "crop", "--quiet", "--threads", "1", "--out", str(out)]) == 0
    result = json.loads((out / "realism.json").read_text())
    assert result["candidates"]["identity"]["change_inside_mask"] == 0.0
    assert "Change inside the lesion mask" in (out / "realism.md").read_text()
    with pytest.raises(SystemExit, match="shares"):
        main(["evaluate", "none", "--data", str(SAMPLE_ISIC2017), "--split", "validation", "--baselines", "copy-paste",
              "--bank-data", str(SAMPLE_ISIC2017), "--bank-split", "validation", "--max-items", "3", "--quiet"])


def test_card_shows_the_realism_rows_of_the_model_and_its_baselines(tiny_pix2pix_dir, tmp_path):
    import shutil

    from gan_augment.cli import main
    from gan_augment.data import SAMPLE_ISIC2017

    model = tmp_path / "my-model"
    shutil.copytree(tiny_pix2pix_dir, model)
    report = tmp_path / "report"
    assert main(["evaluate", str(model), "--data", str(SAMPLE_ISIC2017), "--split", "validation", "--baselines", "identity",
                 "--size", "32", "--max-items", "3", "--views", "crop", "--quiet", "--threads", "1", "--out", str(report)]) == 0
    assert main(["card", str(model), "--realism", str(report)]) == 0
    card = (model / "README.md").read_text()
    assert "crop: my-model" in card and "crop: identity" in card and "linear C2ST" in card
    assert not (model / "evaluation.json").exists()
    with pytest.raises(SystemExit, match="not a row"):
        main(["card", str(model), "--realism", str(report), "--candidate", "other"])


# --- memorization ------------------------------------------------------------------------------
def test_ssim_is_one_for_identical_images_and_lower_otherwise():
    from gan_augment.memorization import ssim

    a = textures(3, 24, 0)
    assert torch.allclose(ssim(a, a), torch.ones(3, dtype=torch.float64))
    assert (ssim(a, textures(3, 24, 1)) < 0.9).all()
    with pytest.raises(ValueError, match="one shape"):
        ssim(a, a[:, :, :20])


def test_copies_of_training_images_are_flagged_and_fresh_images_are_not():
    from gan_augment.memorization import memorization

    training, heldout = textures(40, 24, 0), textures(40, 24, 1)
    f_train, f_held = pixel_features(training), pixel_features(heldout)
    copies = training[:20].flip(-1).flip(-1)  # exact copies
    copied = memorization(copies, pixel_features(copies), heldout, f_held, training, f_train)
    assert copied["near_copy_share"] == 1.0 and copied["ssim_median"]["synthetic"] == pytest.approx(1.0)
    fresh = textures(40, 24, 2)
    new = memorization(fresh, pixel_features(fresh), heldout, f_held, training, f_train)
    assert new["near_copy_share"] < 0.3 and new["ssim_median"]["synthetic"] < 0.9
    with pytest.raises(ValueError, match="quantile"):
        memorization(fresh, pixel_features(fresh), heldout, f_held, training, f_train, quantile=1.5)


def test_report_with_training_data_has_memorization_rows(tmp_path):
    from gan_augment.realism_report import card_evaluation, markdown_report

    heldout, training = memory_pairs(12, size=16, seed=0), memory_pairs(10, size=16, seed=5)
    result = evaluate(
        {"identity": identity}, heldout, size=16, max_items=6, views=["whole", "crop"],
        extractor=pixel_features, progress=False, training=training, max_training=8,
    )
    mem = result["candidates"]["identity"]["crop"]["memorization"]
    assert mem["n_training"] == 8 and 0.0 <= mem["near_copy_share"] <= 1.0
    assert all(i.startswith("img") for i in mem["most_copied"])
    text = markdown_report(result)
    assert "near-copies" in text
    # each table's rows follow its own header: the memorization table holds only its rows (candidate | view | ...)
    table = text.split("near-copies (expected ~5 %) |\n|---|---|---|---|---|\n")[1].split("\n\n")[0].splitlines()
    assert table and all(row.split(" | ")[1] in ("whole", "crop") for row in table), table
    assert any("memorization" in row["name"] for row in card_evaluation([result], "identity")["rows"])


# --- the translators' own domains (add / remove a lesion) ---------------------------------------
BLUE_LESION = (0, 0, 255)


def lesion_folder(root: Path, n: int, size: int = 64, seed: int = 0) -> Path:
    """``root/images`` + ``root/masks`` (ImageMaskFolder layout): beige skin of a random shade
    with one pure blue disk lesion near a random corner, so every image has lesion-free windows."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        skin = np.array([200, 160, 130]) + rng.integers(-30, 30, 3)
        image = np.broadcast_to(skin, (size, size, 3)).astype(np.uint8).copy()
        cy, cx = (rng.choice([size // 4, 3 * size // 4]) for _ in range(2))
        mask = disk_mask(size, size, cy, cx, r=rng.uniform(5, 9))
        image[mask > 0] = BLUE_LESION
        Image.fromarray(image).save(root / "images" / f"s{seed}_{i}.png")
        Image.fromarray(mask * 255).save(root / "masks" / f"s{seed}_{i}_segmentation.png")
    return root


def _blue(images: torch.Tensor) -> torch.Tensor:
    """Per image: whether any pixel is the lesion's pure blue."""
    return ((images[:, 2] > 0.9) & (images[:, 0] < 0.1)).flatten(1).any(1)


class SpyCandidate:
    """Returns its input with blue painted inside the mask, remembering what it was given."""

    def __init__(self) -> None:
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __call__(self, images, masks, seed):
        self.seen.append((images.clone(), masks.clone()))
        blue = torch.tensor(BLUE_LESION, dtype=images.dtype).view(1, 3, 1, 1) / 255
        return torch.where(masks.bool(), blue, images)


def test_add_protocol_feeds_skin_patches_with_masks_of_a_and_compares_with_lesion_crops_of_b(tmp_path):
    from gan_augment.data import open_dataset
    from gan_augment.realism_domains import lesion_crops, skin_patches

    heldout = open_dataset(lesion_folder(tmp_path / "heldout", 12, seed=0))
    training = open_dataset(lesion_folder(tmp_path / "training", 6, seed=1))
    spy, extractor = SpyCandidate(), SpyExtractor()
    result = evaluate(
        {"spy": spy}, heldout, size=32, max_items=5, extractor=extractor, progress=False,
        training=training, max_training=6, domain="add",
    )
    d, s = result["data"], result["settings"]
    assert s["domain"] == "add" and s["protocol"].startswith("add a lesion") and s["views"] == ["whole", "crop"]
    assert d["n_a"] == d["n_b"] == 5 and d["dropped"] == 0 and not set(d["ids_a"]) & set(d["ids_b"])
    index = {r.id: i for i, r in enumerate(heldout.records)}
    a, b = [index[x] for x in d["ids_a"]], [index[x] for x in d["ids_b"]]
    images, masks = spy.seen[0]  # the first synthesis batch: every input of A
    # the candidate saw A's skin patches (no lesion pixel), with the masks of A's own lesion crops
    assert not _blue(images).any() and (masks.flatten(1).sum(1) > 0).all()
    assert torch.equal(images, skin_patches(heldout, a, 32).images)
    assert torch.equal(masks, lesion_crops(heldout, a, 32).masks)
    # feature calls: real A whole, real B whole, real A crop, real B crop, training whole, training crop, ...
    real_a, real_b, train_whole = extractor.calls[0], extractor.calls[1], extractor.calls[4]
    assert torch.equal(real_a, lesion_crops(heldout, a, 32).images) and torch.equal(real_b, lesion_crops(heldout, b, 32).images)
    assert _blue(real_b).all() and _blue(train_whole).all()  # references and memorization: lesion crops
    entry = result["candidates"]["spy"]
    assert set(entry) >= {"whole", "crop"} and entry["change_inside_mask"] > 0.3
    assert entry["crop"]["memorization"]["n_training"] == 6
    assert all(x.startswith("s1_") for x in entry["whole"]["memorization"]["most_copied"])
    assert "Protocol: domain `add`" in markdown_report(result) and result["grid_titles"][:3] == ["real B", "input A", "mask A"]


def test_remove_protocol_skips_the_crop_view(tmp_path):
    from gan_augment.data import open_dataset

    heldout = open_dataset(lesion_folder(tmp_path / "heldout", 8, seed=2))
    spy, extractor = SpyCandidate(), SpyExtractor()
    result = evaluate({"spy": spy}, heldout, size=32, max_items=4, extractor=extractor, progress=False, domain="remove")
    s = result["settings"]
    assert s["domain"] == "remove" and s["views"] == ["whole"] and "no lesion box" in s["skipped_views"]["crop"]
    assert set(result["reference"]) >= {"whole"} and "crop" not in result["reference"] and "crop" not in result["candidates"]["spy"]
    images, _ = spy.seen[0]
    assert _blue(images).all()  # inputs: lesion crops of A
    assert not _blue(extractor.calls[0]).any() and not _blue(extractor.calls[1]).any()  # real A, real B: skin patches
    md = markdown_report(result)
    assert "Protocol: domain `remove`" in md and "crop view is skipped" in md
    # a remover's outputs hold no lesion: no mask agreement
    assert "mask_agreement" not in result["reference"] and "mask_agreement" not in result["candidates"]["spy"]
    assert "lesion where the mask says" not in md and s["mask_agreement"] is None
    with pytest.raises(ValueError, match="no view"):
        evaluate({"spy": spy}, heldout, size=32, max_items=4, views=("crop",), extractor=pixel_features, progress=False, domain="remove")


def _tiny_residual_unet_dir(root: Path, direction: str | None) -> Path:
    """A saved tiny residual U-Net whose config.json records ``direction`` (None: no training record)."""
    synth = tiny_synthesizer("residual_unet")
    if direction:
        synth.metadata["training"] = {"hparams": {"direction": direction}}
    return synth.save_pretrained(root / f"residual-unet-{direction or 'unrecorded'}")


def test_cli_evaluates_a_lesion_adder_in_its_own_domain_next_to_its_baselines(tmp_path):
    from gan_augment.cli import main

    heldout, training = lesion_folder(tmp_path / "heldout", 8, seed=3), lesion_folder(tmp_path / "training", 6, seed=4)
    adder = _tiny_residual_unet_dir(tmp_path, "add")
    out = tmp_path / "report"
    common = ["--data", str(heldout), "--size", "32", "--max-items", "3", "--device", "cpu", "--quiet", "--threads", "1"]
    assert main([
        "evaluate", str(adder), *common, "--views", "whole", "--baselines", "identity,copy-paste-harmonized",
        "--bank-data", str(training), "--train-data", str(training), "--max-training", "6", "--out", str(out),
    ]) == 0  # --domain auto: the checkpoint's own direction
    saved = json.loads((out / "realism.json").read_text())
    assert saved["settings"]["domain"] == "add" and saved["data"]["n_a"] == saved["data"]["n_b"] == 3
    assert set(saved["candidates"]) == {adder.name, "identity", "copy-paste-harmonized"}
    assert saved["candidates"]["identity"]["change_inside_mask"] == 0.0  # plain skin: the sanity floor
    assert saved["candidates"]["copy-paste-harmonized"]["change_inside_mask"] > 0
    assert saved["candidates"][adder.name]["whole"]["memorization"]["n_training"] == 6
    assert "Protocol: domain `add`" in (out / "realism.md").read_text()

    remover, unrecorded = _tiny_residual_unet_dir(tmp_path, "remove"), _tiny_residual_unet_dir(tmp_path, None)
    with pytest.raises(SystemExit, match="does not record which way"):
        main(["evaluate", str(unrecorded), *common])
    with pytest.raises(SystemExit, match="does not remove lesions"):
        main(["evaluate", str(adder), *common, "--domain", "remove"])
    with pytest.raises(SystemExit, match="each direction in its own run"):
        main(["evaluate", str(adder), str(remover), *common])
    with pytest.raises(SystemExit, match="no baseline for removing"):
        main(["evaluate", str(remover), *common, "--baselines", "copy-paste", "--bank-data", str(training)])
    whole_image = tiny_synthesizer("pix2pix").save_pretrained(tmp_path / "pix2pix-tiny")
    with pytest.raises(SystemExit, match="pix2pix-tiny work on whole images"):
        main(["evaluate", str(adder), str(whole_image), *common])  # auto would score pix2pix in the add protocol unasked
