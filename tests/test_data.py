"""Readers for the official layouts: real data where ../shared provides it, fixtures otherwise."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import HAM10000_ROOT, ISIC2017_ROOT, disk_mask, needs_ham10000, needs_isic2017
from PIL import Image

from gan_augment.data import (
    ATTRIBUTES,
    HAM10000,
    ISIC2017,
    ISIC2018,
    PH2,
    ImageMaskFolder,
    bundled_sample,
    grouped_split,
    open_dataset,
)


def write_image(path, h=24, w=32, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)


def write_mask(path, mask):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((mask * 255).astype(np.uint8)).save(path)


def check_item(item, h, w):
    assert item["image"].shape == (h, w, 3) and item["image"].dtype == np.uint8
    if "mask" in item:
        assert item["mask"].shape == (h, w) and set(np.unique(item["mask"])) <= {0, 1}


def test_bundled_sample_reads_as_isic2017():
    sample = bundled_sample()
    assert len(sample) == 6 and sample.class_names == ("nevus", "melanoma", "seborrheic_keratosis")
    assert sorted(sample.labels) == [0, 0, 1, 1, 2, 2]
    for item in sample:
        check_item(item, 256, 256)
        assert item["mask"].sum() > 0 and item["id"].startswith("ISIC_")


@needs_isic2017
def test_isic2017_official_layout():
    train = ISIC2017(ISIC2017_ROOT, "training")
    val = ISIC2017(ISIC2017_ROOT, "validation")
    assert len(train) == 2000 and len(val) == 150
    assert train.labels.count(1) == 374 and train.labels.count(2) == 254 and train.labels.count(0) == 1372
    assert val.labels.count(1) == 30 and val.labels.count(2) == 42
    check_item(train[0], 256, 256)
    assert isinstance(open_dataset(ISIC2017_ROOT, "validation"), ISIC2017)


@needs_ham10000
def test_ham10000_lesion_grouped_split_never_leaks():
    ham = HAM10000(HAM10000_ROOT)
    assert len(ham) == 8520 and ham.class_names[ham[0]["label"]] in ham.class_names
    check_item(ham[0], 150, 200)
    train, test = grouped_split(ham, (0.8, 0.2), seed=0)
    assert len(train) + len(test) == len(ham)
    lesions_train = {r.group for r in train.records}
    lesions_test = {r.group for r in test.records}
    assert not lesions_train & lesions_test
    assert 0.75 < len(train) / len(ham) < 0.85
    # stratified: every class on both sides
    assert set(train.labels) == set(test.labels) == set(range(7))
    rare = HAM10000(HAM10000_ROOT, classes=["df"])
    assert set(rare.labels) == {3}  # df
    with pytest.raises(ValueError, match="unknown HAM10000 classes"):
        HAM10000(HAM10000_ROOT, classes=["melanoma"])


def test_ham10000_archive_layout_with_two_image_folders(tmp_path):
    rows = [
        ("HAM_1", "ISIC_1", "mel"), ("HAM_1", "ISIC_2", "mel"), ("HAM_2", "ISIC_3", "nv"),
        ("HAM_4", "ISIC_4", "mel"), ("HAM_5", "ISIC_5", "nv"), ("HAM_3", "ISIC_9", "df"),
    ]
    with open(tmp_path / "HAM10000_metadata.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"])
        for lesion, image, dx in rows:
            w.writerow([lesion, image, dx, "histo", "50", "male", "back"])
    for i, image in enumerate(["ISIC_1", "ISIC_2", "ISIC_3", "ISIC_4", "ISIC_5"]):  # ISIC_9 absent: skipped
        part = "HAM10000_images_part_1" if i < 2 else "HAM10000_images_part_2"
        write_image(tmp_path / part / f"{image}.jpg", seed=i)
        write_mask(tmp_path / "HAM10000_segmentations_lesion_tschandl" / f"{image}_segmentation.png", disk_mask(24, 32))
    ham = HAM10000(tmp_path)
    assert [r.id for r in ham.records] == ["ISIC_1", "ISIC_2", "ISIC_3", "ISIC_4", "ISIC_5"]
    assert [r.group for r in ham.records][:3] == ["HAM_1", "HAM_1", "HAM_2"]
    check_item(ham[2], 24, 32)
    a, b = grouped_split(ham, (0.5, 0.5), seed=1)
    assert {r.group for r in a.records}.isdisjoint({r.group for r in b.records})


def make_isic2018_task12(root, n=3, attributes=True):
    for i in range(n):
        image_id = f"ISIC_000000{i}"
        write_image(root / "ISIC2018_Task1-2_Training_Input" / f"{image_id}.jpg", seed=i)
        write_mask(root / "ISIC2018_Task1_Training_GroundTruth" / f"{image_id}_segmentation.png", disk_mask(24, 32))
        if attributes:
            for j, name in enumerate(ATTRIBUTES):
                m = np.zeros((24, 32), np.uint8)
                m[j : j + 3, :4] = 1 if j != i else 0
                write_mask(root / "ISIC2018_Task2_Training_GroundTruth_v3" / f"{image_id}_attribute_{name}.png", m)
    (root / "ISIC2018_Task1-2_Training_Input" / "ATTRIBUTION.txt").write_text("not an image")


def test_isic2018_task1_and_task2_layout(tmp_path):
    make_isic2018_task12(tmp_path)
    ds = ISIC2018(tmp_path, "training")
    assert len(ds) == 3
    item = ds[1]
    check_item(item, 24, 32)
    assert item["attributes"].shape == (5, 24, 32) and item["attributes"].dtype == np.uint8
    assert item["attributes"][1].sum() == 0 and item["attributes"][0].sum() == 12  # per-attribute channels
    assert isinstance(open_dataset(tmp_path), ISIC2018)


def test_isic2018_without_task2_has_no_attributes(tmp_path):
    make_isic2018_task12(tmp_path, attributes=False)
    assert "attributes" not in ISIC2018(tmp_path)[0]


def test_isic2018_task3_labels(tmp_path):
    ids = ["ISIC_0024306", "ISIC_0024307"]
    for i, image_id in enumerate(ids):
        write_image(tmp_path / "ISIC2018_Task3_Training_Input" / f"{image_id}.jpg", seed=i)
    gt = tmp_path / "ISIC2018_Task3_Training_GroundTruth"
    gt.mkdir()
    with open(gt / "ISIC2018_Task3_Training_GroundTruth.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"])
        w.writerow([ids[0], 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
        w.writerow([ids[1], 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    ds = ISIC2018(tmp_path, task="classification")
    assert [ds.class_names[label] for label in ds.labels] == ["NV", "DF"]
    assert "mask" not in ds[0]


def test_ph2_layout(tmp_path):
    base = tmp_path / "PH2 Dataset images"
    for i, case in enumerate(["IMD002", "IMD003"]):
        im = Image.fromarray(np.random.default_rng(i).integers(0, 256, (20, 30, 3), dtype=np.uint8))
        (base / case / f"{case}_Dermoscopic_Image").mkdir(parents=True)
        im.save(base / case / f"{case}_Dermoscopic_Image" / f"{case}.bmp")
        (base / case / f"{case}_lesion").mkdir()
        Image.fromarray(disk_mask(20, 30) * 255).save(base / case / f"{case}_lesion" / f"{case}_lesion.bmp")
    (tmp_path / "PH2_dataset.txt").write_text(
        "|| Name || Clinical Diagnosis || ...\n|| IMD002 ||  0  || x ||\n|| IMD003 ||  2  || y ||\n"
    )
    ds = PH2(tmp_path)
    assert ds.labels == [0, 2] and ds.class_names[2] == "melanoma"
    check_item(ds[0], 20, 30)
    assert isinstance(open_dataset(tmp_path), PH2)


def test_image_mask_folder_and_detection(tmp_path):
    for i in range(2):
        write_image(tmp_path / "images" / f"img{i}.png", seed=i)
        write_mask(tmp_path / "masks" / f"img{i}_segmentation.png", disk_mask(24, 32))
    ds = open_dataset(tmp_path)
    assert isinstance(ds, ImageMaskFolder) and len(ds) == 2 and ds.has_masks
    (tmp_path / "masks" / "img1_segmentation.png").unlink()
    with pytest.raises(FileNotFoundError, match="no mask for img1"):
        ImageMaskFolder(tmp_path / "images", tmp_path / "masks")


def test_clear_errors_for_missing_or_unknown_layouts(tmp_path):
    with pytest.raises(FileNotFoundError, match="ISIC-2017_Training_Data"):
        ISIC2017(tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        ISIC2017(tmp_path, "train")
    with pytest.raises(ValueError, match="not a known layout"):
        open_dataset(tmp_path)
    with pytest.raises(FileNotFoundError, match="data folder not found"):
        open_dataset(tmp_path / "nope")
    with pytest.raises(ValueError, match="sum to 1"):
        grouped_split(bundled_sample(), (0.5, 0.2))


def test_mask_image_size_mismatch_is_reported(tmp_path):
    write_image(tmp_path / "images" / "a.png", 24, 32)
    write_mask(tmp_path / "masks" / "a_segmentation.png", disk_mask(10, 10))
    with pytest.raises(ValueError, match="differ in size"):
        open_dataset(tmp_path)[0]


def _ph2_images(tmp_path, cases):
    base = tmp_path / "PH2 Dataset images"
    for i, case in enumerate(cases):
        write_image(base / case / f"{case}_Dermoscopic_Image" / f"{case}.bmp", 20, 30, seed=i)
        write_mask(base / case / f"{case}_lesion" / f"{case}_lesion.bmp", disk_mask(20, 30))


PH2_PIPES = (  # as distributed: the histological diagnosis is mostly empty, the clinical one is the class
    "||   Name   || Histological Diagnosis || Clinical Diagnosis || Asymmetry || Colors ||\n"
    "|| IMD002 ||                       ||          0         ||     0     ||  R  ||\n"
    "|| IMD003 ||       Melanoma        ||          2         ||     2     ||  B  ||\n"
    "|| IMD004 ||                       ||          1         ||     1     ||  R  ||\n"
)
PH2_TABS = (
    "Name\tHistological Diagnosis\tClinical Diagnosis\tAsymmetry\n"
    "IMD002\t\t0\t0\n"
    "IMD003\tMelanoma\t2\t2\n"
    "IMD004\t\t1\t1\n"
)


@pytest.mark.parametrize("text", [PH2_PIPES, PH2_TABS], ids=["pipes", "tabs"])
def test_ph2_labels_in_both_file_layouts(tmp_path, text, recwarn):
    _ph2_images(tmp_path, ["IMD002", "IMD003", "IMD004"])
    (tmp_path / "PH2_dataset.txt").write_text(text)
    ds = PH2(tmp_path)
    assert ds.labels == [0, 2, 1] and ds.class_names == ("common_nevus", "atypical_nevus", "melanoma")
    assert not [w for w in recwarn if "PH2" in str(w.message)]


def test_ph2_unreadable_labels_warn_instead_of_vanishing(tmp_path):
    _ph2_images(tmp_path, ["IMD002", "IMD003", "IMD004"])
    (tmp_path / "PH2_dataset.txt").write_text(
        "|| Name || Histological Diagnosis || Clinical Diagnosis ||\n|| IMD002 || || 0 ||\n|| IMD003 || || melanoma ||\n"
    )
    with pytest.warns(UserWarning, match=r"could not read the clinical diagnosis .* of 1 case\(s\): IMD003") as caught:
        ds = PH2(tmp_path)
    assert any("gives no class for 2 image(s) (IMD003, IMD004)" in str(w.message) for w in caught)
    assert ds.labels == [0, None, None]
    (tmp_path / "PH2_dataset.txt").write_text("something else entirely\n")
    with pytest.warns(UserWarning, match="could not read the clinical diagnosis .* of any case"):
        assert PH2(tmp_path).class_names is None
