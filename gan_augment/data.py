"""Readers for the official dermoscopy data-set layouts.

Each reader is a map-style ``torch.utils.data.Dataset`` whose items are dicts:

* ``image``: HWC uint8 RGB array,
* ``mask``: HW uint8 array in {0, 1} (when the data set has lesion masks),
* ``attributes``: 5HW uint8 array in {0, 1}, ISIC 2018 Task 2 order (when present),
* ``label``: int index into ``dataset.class_names`` (when the data set has labels),
* ``id``: the image id as the official files name it.

Point a reader at the unpacked official download; the folder and file names below are
exactly those of the challenge archives.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from gan_augment.constants import ATTRIBUTES  # ISIC 2018 Task 2 attribute channel order (re-exported here)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


ISIC2017_CLASSES = ("nevus", "melanoma", "seborrheic_keratosis")
ISIC2018_CLASSES = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")
HAM10000_CLASSES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
PH2_CLASSES = ("common_nevus", "atypical_nevus", "melanoma")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as an HWC uint8 RGB array."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """A 0/255 (or bilevel) mask file as an HW uint8 array in {0, 1} (threshold 127)."""
    with Image.open(path) as im:
        return (np.asarray(im.convert("L")) > 127).astype(np.uint8)


@dataclass
class Record:
    """Where one sample's files are, and its label."""

    id: str
    image: Path
    mask: Path | None = None
    label: int | None = None
    attributes: dict[str, Path] = field(default_factory=dict)
    group: str | None = None  # lesion id, for grouped splits


@dataclass(frozen=True)
class DatasetInfo:
    """Provenance for model cards: which data, under which licence, whom to credit."""

    name: str
    license: str
    credit: str
    hub_dataset: str | None = None


class DermDataset(Dataset):
    """A list of :class:`Record` read lazily into item dicts."""

    info: DatasetInfo | None = None

    def __init__(self, records: Sequence[Record], class_names: Sequence[str] | None = None) -> None:
        if not records:
            raise ValueError(f"{type(self).__name__}: no images found")
        self.records = list(records)
        self.class_names = tuple(class_names) if class_names is not None else None

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.records[index]
        item: dict[str, Any] = {"image": read_image(rec.image), "id": rec.id}
        if rec.mask is not None:
            mask = read_mask(rec.mask)
            if mask.shape != item["image"].shape[:2]:
                raise ValueError(f"{rec.id}: mask {mask.shape} and image {item['image'].shape[:2]} differ in size")
            item["mask"] = mask
        if rec.attributes:
            h, w = item["image"].shape[:2]
            item["attributes"] = np.stack(
                [read_mask(rec.attributes[a]) if a in rec.attributes else np.zeros((h, w), np.uint8) for a in ATTRIBUTES]
            )
        if rec.label is not None:
            item["label"] = rec.label
        return item

    @property
    def labels(self) -> list[int | None]:
        return [r.label for r in self.records]

    @property
    def has_masks(self) -> bool:
        return all(r.mask is not None for r in self.records)

    def with_classes(self, names: Sequence[str]) -> DermDataset:
        """Only the records of the named classes (labels keep their original indices)."""
        if not self.class_names:
            raise ValueError("this data set has no class labels")
        unknown = set(names) - set(self.class_names)
        if unknown:
            raise ValueError(f"unknown classes {sorted(unknown)}; this data set has {list(self.class_names)}")
        keep = {self.class_names.index(n) for n in names}
        return self.subset(i for i, r in enumerate(self.records) if r.label in keep)

    def subset(self, indices: Iterable[int]) -> DermDataset:
        """A new data set with the chosen records (keeps class names and provenance)."""
        part = DermDataset([self.records[i] for i in indices], self.class_names)
        part.info = self.info
        return part


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{what} not found: expected the folder {path}")
    return path


def _image_files(folder: Path) -> dict[str, Path]:
    """image id -> file for the images in ``folder`` (skips ISIC superpixel maps)."""
    files = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith("_superpixels"):
            files[p.stem] = p
    return files


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _one_hot_label(row: dict[str, str], columns: Sequence[str], default: int | None) -> int | None:
    hot = [i for i, c in enumerate(columns) if float(row.get(c, 0) or 0) >= 0.5]
    if len(hot) > 1:
        raise ValueError(f"{row}: more than one class set")
    return hot[0] if hot else default


class ISIC2017(DermDataset):
    """ISIC 2017 Challenge (Codella et al., ISBI 2018): Part 1 masks, Part 3 labels.

    ``root`` holds ``ISIC-2017_<Split>_Data/``, ``ISIC-2017_<Split>_Part1_GroundTruth/`` and
    ``ISIC-2017_<Split>_Part3_GroundTruth.csv`` for ``split`` in training / validation / test
    (the test archive's ``Test_v2`` prefix is found too). Labels: 0 nevus, 1 melanoma,
    2 seborrheic keratosis.
    """

    SPLITS: ClassVar[dict[str, str]] = {"training": "Training", "validation": "Validation", "test": "Test_v2"}
    info = DatasetInfo(
        "ISIC 2017 Challenge",
        "ISIC Archive terms: research use with attribution",
        "Codella et al., Skin lesion analysis toward melanoma detection: a challenge at ISBI 2017, "
        "hosted by the International Skin Imaging Collaboration (ISIC), ISBI 2018",
    )

    def __init__(self, root: str | os.PathLike, split: str = "training", masks: bool = True, labels: bool = True):
        if split not in self.SPLITS:
            raise ValueError(f"split must be one of {sorted(self.SPLITS)}, got {split!r}")
        root, tag = Path(root), self.SPLITS[split]
        images = _image_files(_require_dir(root / f"ISIC-2017_{tag}_Data", f"ISIC 2017 {split} images"))
        label_of: dict[str, int | None] = {}
        if labels:
            csv_path = root / f"ISIC-2017_{tag}_Part3_GroundTruth.csv"
            if not csv_path.is_file():
                raise FileNotFoundError(f"ISIC 2017 {split} labels not found: expected {csv_path}")
            for row in _read_csv(csv_path):
                # both columns 0 means nevus (class 0)
                label_of[row["image_id"]] = _one_hot_label(row, ISIC2017_CLASSES, 0)
        mask_dir = _require_dir(root / f"ISIC-2017_{tag}_Part1_GroundTruth", f"ISIC 2017 {split} masks") if masks else None
        records = []
        for image_id, path in images.items():
            mask = mask_dir / f"{image_id}_segmentation.png" if mask_dir else None
            if mask is not None and not mask.is_file():
                raise FileNotFoundError(f"ISIC 2017: no mask for {image_id} (expected {mask})")
            if labels and image_id not in label_of:
                raise KeyError(f"ISIC 2017: {image_id} has no row in the Part 3 ground-truth CSV")
            records.append(Record(image_id, path, mask, label_of.get(image_id)))
        super().__init__(records, ISIC2017_CLASSES if labels else None)


class ISIC2018(DermDataset):
    """ISIC 2018 Challenge (Codella et al. 2019; Tschandl et al. 2018).

    ``task="segmentation"``: ``ISIC2018_Task1-2_<Split>_Input/`` images with
    ``ISIC2018_Task1_<Split>_GroundTruth/*_segmentation.png`` masks and, where the folder
    ``ISIC2018_Task2_<Split>_GroundTruth*/`` exists, the five ``*_attribute_<name>.png``
    masks of Task 2. ``task="classification"``: ``ISIC2018_Task3_<Split>_Input/`` with the
    one-hot ``ISIC2018_Task3_<Split>_GroundTruth.csv`` (MEL, NV, BCC, AKIEC, BKL, DF, VASC).
    """

    SPLITS: ClassVar[dict[str, str]] = {"training": "Training", "validation": "Validation", "test": "Test"}
    info = DatasetInfo(
        "ISIC 2018 Challenge",
        "CC BY-NC 4.0",
        "Codella et al. 2019 (arXiv:1902.03368); Tschandl et al., Sci. Data 2018",
    )

    def __init__(
        self, root: str | os.PathLike, split: str = "training", task: str = "segmentation", attributes: bool = True
    ):
        if split not in self.SPLITS:
            raise ValueError(f"split must be one of {sorted(self.SPLITS)}, got {split!r}")
        root, tag = Path(root), self.SPLITS[split]
        if task == "segmentation":
            records = self._segmentation_records(root, tag, attributes)
            super().__init__(records, None)
        elif task == "classification":
            records = self._classification_records(root, tag)
            super().__init__(records, ISIC2018_CLASSES)
        else:
            raise ValueError(f"task must be 'segmentation' or 'classification', got {task!r}")

    @staticmethod
    def _segmentation_records(root: Path, tag: str, attributes: bool) -> list[Record]:
        images = _image_files(_require_dir(root / f"ISIC2018_Task1-2_{tag}_Input", "ISIC 2018 Task 1-2 images"))
        mask_dir = _require_dir(root / f"ISIC2018_Task1_{tag}_GroundTruth", "ISIC 2018 Task 1 masks")
        attr_dirs = sorted(root.glob(f"ISIC2018_Task2_{tag}_GroundTruth*")) if attributes else []
        records = []
        for image_id, path in images.items():
            mask = mask_dir / f"{image_id}_segmentation.png"
            if not mask.is_file():
                raise FileNotFoundError(f"ISIC 2018: no mask for {image_id} (expected {mask})")
            attrs = {}
            if attr_dirs:
                for name in ATTRIBUTES:
                    p = attr_dirs[-1] / f"{image_id}_attribute_{name}.png"
                    if p.is_file():
                        attrs[name] = p
            records.append(Record(image_id, path, mask, None, attrs))
        return records

    @staticmethod
    def _classification_records(root: Path, tag: str) -> list[Record]:
        images = _image_files(_require_dir(root / f"ISIC2018_Task3_{tag}_Input", "ISIC 2018 Task 3 images"))
        gt_dir = root / f"ISIC2018_Task3_{tag}_GroundTruth"
        csv_path = gt_dir / f"ISIC2018_Task3_{tag}_GroundTruth.csv"
        if not csv_path.is_file():
            raise FileNotFoundError(f"ISIC 2018 Task 3 labels not found: expected {csv_path}")
        rows = {row["image"]: row for row in _read_csv(csv_path)}
        records = []
        for image_id, path in images.items():
            if image_id not in rows:
                raise KeyError(f"ISIC 2018 Task 3: {image_id} has no row in {csv_path.name}")
            records.append(Record(image_id, path, None, _one_hot_label(rows[image_id], ISIC2018_CLASSES, None)))
        return records


class HAM10000(DermDataset):
    """HAM10000 (Tschandl et al., Sci. Data 2018), CC BY-NC-SA 4.0.

    ``root`` holds ``HAM10000_metadata.csv``, the images in ``HAM10000_images/`` (or the
    archive's ``HAM10000_images_part_1/`` + ``_part_2/``) and, with ``masks=True``, the
    ``HAM10000_segmentations_lesion_tschandl/*_segmentation.png`` masks. Labels index
    ``HAM10000_CLASSES`` (dx). Rows whose image file is absent are skipped. Several images
    show one lesion: split with :func:`grouped_split`, never per image.
    """

    info = DatasetInfo(
        "HAM10000",
        "CC BY-NC-SA 4.0",
        "Tschandl, Rosendahl & Kittler, The HAM10000 dataset, Sci. Data 5, 180161 (2018)",
    )

    def __init__(self, root: str | os.PathLike, masks: bool = True, classes: Sequence[str] | None = None):
        root = Path(root)
        meta = root / "HAM10000_metadata.csv"
        if not meta.is_file():
            raise FileNotFoundError(f"HAM10000 metadata not found: expected {meta}")
        image_dirs = [d for d in sorted(root.glob("HAM10000_images*")) if d.is_dir()]
        if not image_dirs:
            raise FileNotFoundError(f"HAM10000 images not found: expected {root / 'HAM10000_images'}")
        images: dict[str, Path] = {}
        for d in image_dirs:
            images.update(_image_files(d))
        mask_dir = _require_dir(root / "HAM10000_segmentations_lesion_tschandl", "HAM10000 masks") if masks else None
        keep = set(classes) if classes is not None else None
        if keep is not None and not keep <= set(HAM10000_CLASSES):
            raise ValueError(f"unknown HAM10000 classes {sorted(keep - set(HAM10000_CLASSES))}")
        records = []
        for row in _read_csv(meta):
            image_id, dx = row["image_id"], row["dx"]
            if image_id not in images or (keep is not None and dx not in keep):
                continue
            mask = mask_dir / f"{image_id}_segmentation.png" if mask_dir else None
            if mask is not None and not mask.is_file():
                raise FileNotFoundError(f"HAM10000: no mask for {image_id} (expected {mask})")
            records.append(Record(image_id, images[image_id], mask, HAM10000_CLASSES.index(dx), group=row["lesion_id"]))
        super().__init__(records, HAM10000_CLASSES)


class PH2(DermDataset):
    """PH2 (Mendonca et al., EMBC 2013): ``PH2 Dataset images/IMDxxx/IMDxxx_Dermoscopic_Image/IMDxxx.bmp``
    with ``IMDxxx_lesion/IMDxxx_lesion.bmp``; labels from ``PH2_dataset.txt`` when present
    (0 common nevus, 1 atypical nevus, 2 melanoma)."""

    info = DatasetInfo(
        "PH2", "research use (PH2 terms)", "Mendonca et al., PH2 - A dermoscopic image database, EMBC 2013"
    )

    def __init__(self, root: str | os.PathLike):
        root = Path(root)
        base = root / "PH2 Dataset images" if (root / "PH2 Dataset images").is_dir() else root
        labels = self._read_labels(root / "PH2_dataset.txt")
        records = []
        for case in sorted(p for p in base.iterdir() if p.is_dir() and p.name.startswith("IMD")):
            image = case / f"{case.name}_Dermoscopic_Image" / f"{case.name}.bmp"
            mask = case / f"{case.name}_lesion" / f"{case.name}_lesion.bmp"
            if image.is_file():
                records.append(Record(case.name, image, mask if mask.is_file() else None, labels.get(case.name)))
        unlabelled = [r.id for r in records if r.label is None]
        if labels and unlabelled:
            warnings.warn(
                f"{root / 'PH2_dataset.txt'} gives no class for {len(unlabelled)} image(s) ({', '.join(unlabelled[:5])}"
                f"{' ...' if len(unlabelled) > 5 else ''}); they have no label",
                stacklevel=2,
            )
        super().__init__(records, PH2_CLASSES if labels else None)

    @staticmethod
    def _read_labels(path: Path) -> dict[str, int]:
        """``{IMDxxx: class}`` from ``PH2_dataset.txt``, either layout: ``||``-separated (as
        distributed) or tab-separated (as re-saved by spreadsheets). The class is the
        "Clinical Diagnosis" column (0, 1 or 2); rows whose class cannot be read are reported."""
        if not path.is_file():
            return {}
        labels: dict[str, int] = {}
        unreadable: list[str] = []
        column: int | None = None
        for line in path.read_text(errors="replace").splitlines():
            cells = _ph2_cells(line)
            lowered = [c.lower() for c in cells]
            if "name" in lowered:  # the header: where the clinical diagnosis is
                column = next((i for i, c in enumerate(lowered) if "clinical diagnosis" in c), None)
                continue
            name = next((i for i, c in enumerate(cells) if re.fullmatch(r"IMD\d+", c)), None)
            if name is None:
                continue
            value = cells[column] if column is not None and column < len(cells) else next(
                (c for c in cells[name + 1 :] if c), ""
            )
            if value in ("0", "1", "2"):
                labels[cells[name]] = int(value)
            else:
                unreadable.append(cells[name])
        if unreadable or not labels:
            shown = ", ".join(unreadable[:5]) + (" ..." if len(unreadable) > 5 else "")
            warnings.warn(
                f"{path}: could not read the clinical diagnosis (0, 1 or 2) of {len(unreadable) if labels else 'any'} "
                f"case(s){': ' + shown if unreadable else ''}; those images have no label",
                stacklevel=3,
            )
        return labels


def _ph2_cells(line: str) -> list[str]:
    """The cells of one ``PH2_dataset.txt`` line, ``||``- or tab-separated."""
    if "||" in line:
        cells = [c.strip() for c in line.split("||")]
        if cells and cells[0] == "":
            cells = cells[1:]
        if cells and cells[-1] == "":
            cells = cells[:-1]
        return cells
    return [c.strip() for c in line.split("\t")]


class ImageMaskFolder(DermDataset):
    """A plain folder of images, optionally with a folder of masks named ``<id><mask_suffix>``
    (ISIC style ``_segmentation.png`` by default) and a ``{id: label}`` mapping."""

    def __init__(
        self,
        images: str | os.PathLike,
        masks: str | os.PathLike | None = None,
        mask_suffix: str = "_segmentation.png",
        labels: dict[str, int] | None = None,
        class_names: Sequence[str] | None = None,
    ):
        files = _image_files(_require_dir(Path(images), "image folder"))
        mask_dir = _require_dir(Path(masks), "mask folder") if masks is not None else None
        records = []
        for image_id, path in files.items():
            mask = None
            if mask_dir is not None:
                mask = mask_dir / f"{image_id}{mask_suffix}"
                if not mask.is_file():
                    raise FileNotFoundError(f"no mask for {image_id} (expected {mask})")
            records.append(Record(image_id, path, mask, None if labels is None else labels[image_id]))
        super().__init__(records, class_names)


def grouped_split(
    dataset: DermDataset, fractions: Sequence[float] = (0.8, 0.2), seed: int = 0
) -> list[DermDataset]:
    """Split by lesion (``Record.group``), stratified by label, so that no lesion is in two parts.

    Data sets without groups are split per image. Fractions must sum to 1.
    """
    if abs(sum(fractions) - 1.0) > 1e-6 or any(f < 0 for f in fractions):
        raise ValueError(f"fractions must be non-negative and sum to 1, got {fractions}")
    groups: dict[Any, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, rec in enumerate(dataset.records):
        groups[rec.label][rec.group if rec.group is not None else f"#{i}"].append(i)
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in fractions]
    for label in sorted(groups, key=lambda x: (x is None, x)):
        names = sorted(groups[label])
        rng.shuffle(names)
        bounds = np.round(np.cumsum(fractions) * len(names)).astype(int)
        start = 0
        for part, stop in zip(parts, bounds):
            for name in names[start:stop]:
                part.extend(groups[label][name])
            start = stop
    empty = [i for i, p in enumerate(parts) if not p]
    if empty:
        raise ValueError(f"split part(s) {empty} would be empty: too few lesions for fractions {tuple(fractions)}")
    return [dataset.subset(sorted(p)) for p in parts]


def concat_datasets(datasets: Sequence[DermDataset]) -> DermDataset:
    """One data set of several (e.g. ISIC 2017 + HAM10000 training parts). Labels are kept
    only when every part has the same class names; the provenance names every part."""
    if not datasets:
        raise ValueError("concat_datasets needs at least one data set")
    if len(datasets) == 1:
        return datasets[0]
    same_classes = all(d.class_names == datasets[0].class_names for d in datasets)
    records = [
        rec if same_classes else dataclasses.replace(rec, label=None) for d in datasets for rec in d.records
    ]
    merged = DermDataset(records, datasets[0].class_names if same_classes else None)
    infos = [d.info for d in datasets if d.info is not None]
    if infos:
        merged.info = DatasetInfo(
            name=" + ".join(i.name for i in infos),
            license="; ".join(dict.fromkeys(i.license for i in infos)),
            credit=" ".join(dict.fromkeys(i.credit for i in infos)),
        )
    return merged


HAM10000_SPLITS = {"training": 0, "test": 1}


def ham10000_split(ham: HAM10000, split: str) -> DermDataset:
    """HAM10000 has no official splits: ``training`` / ``test`` are the 80 % / 20 % parts of
    :func:`grouped_split` (by lesion, stratified, seed 0); ``all`` is everything."""
    if split == "all":
        return ham
    if split not in HAM10000_SPLITS:
        raise ValueError(f"HAM10000 split must be 'training', 'test' or 'all', got {split!r}")
    return grouped_split(ham, (0.8, 0.2), seed=0)[HAM10000_SPLITS[split]]


def open_dataset(path: str | os.PathLike, split: str = "training", **kwargs: Any) -> DermDataset:
    """Open whichever official layout ``path`` holds (ISIC 2017 / 2018, HAM10000, PH2, or a
    folder with ``images/`` and ``masks/``)."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"data folder not found: {path}")
    if any(path.glob("ISIC-2017_*_Data")):
        return ISIC2017(path, split, **kwargs)
    if any(path.glob("ISIC2018_Task1-2_*_Input")):
        return ISIC2018(path, split, task="segmentation", **kwargs)
    if any(path.glob("ISIC2018_Task3_*_Input")):
        return ISIC2018(path, split, task="classification", **kwargs)
    if (path / "HAM10000_metadata.csv").is_file():
        return ham10000_split(HAM10000(path, **kwargs), split)
    if (path / "PH2 Dataset images").is_dir():
        return PH2(path)
    if (path / "images").is_dir():
        masks = path / "masks" if (path / "masks").is_dir() else None
        return ImageMaskFolder(path / "images", masks, **kwargs)
    raise ValueError(
        f"{path} is not a known layout: expected ISIC 2017 (ISIC-2017_<Split>_Data/), ISIC 2018 "
        "(ISIC2018_Task1-2_<Split>_Input/ or ISIC2018_Task3_<Split>_Input/), HAM10000 "
        "(HAM10000_metadata.csv), PH2 ('PH2 Dataset images/') or a folder with images/ [+ masks/]"
    )


SAMPLE_ISIC2017 = Path(__file__).resolve().parent / "sample_data" / "isic2017"
"""Six ISIC 2017 validation images with masks and labels, bundled for demos and tests."""


def bundled_sample() -> ISIC2017:
    """The bundled ISIC 2017 sample (official layout, ``validation`` split)."""
    return ISIC2017(SAMPLE_ISIC2017, "validation")
