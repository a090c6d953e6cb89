"""The inputs and references of the realism protocol (:mod:`gan_augment.realism`) in the two
domains the skin <-> lesion translators work in (:mod:`gan_augment.domains`: residual U-Net,
CycleGAN), instead of whole images.

A translator that adds a lesion was trained on lesion-free skin patches and lesion masks; one
that removes a lesion on lesion crops and their masks. A whole held-out image fits neither
(adding a lesion over a lesion). With a ``domain``, :func:`gan_augment.realism.evaluate` keeps
its disjoint held-out halves A and B and builds from them (:func:`domain_halves`):

* ``add``: inputs = A's lesion-free skin patches (:class:`~gan_augment.domains.SkinPatches`),
  each with the lesion mask of the same image's lesion crop
  (:class:`~gan_augment.domains.LesionCrops`); real A = A's lesion crops (the reference), real
  B = B's lesion crops (what the outputs are compared with). Views: the whole square and the
  lesion box (synthetic images cropped with their input mask, real ones with their own).
* ``remove``: inputs = A's lesion crops with their masks; real A and real B = A's and B's skin
  patches. Whole view only: a skin patch has no lesion box.

Squares are ``fraction`` (0.5) x the image's shorter side, as in training, resized to ``size``
px (bilinear; masks nearest). An item of A needs both a skin patch and a non-empty lesion crop,
an item of B one of the reference domain; the others are dropped (counted in the result).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gan_augment.data import DermDataset
from gan_augment.domains import LesionCrops, SkinPatches
from gan_augment.functional import square_resize
from gan_augment.realism_report import PROTOCOL_WHOLE

DOMAINS = ("add", "remove")
DOMAIN_VIEWS = {"add": ("whole", "crop"), "remove": ("whole",)}
NO_CROP_VIEW = "skipped: the references are lesion-free skin patches, which have no lesion box"
TRAINING_ITEMS = {None: "images", "add": "lesion crops", "remove": "skin patches"}
"""What memorization searches in the training set, per domain (the output domain's images)."""
PROTOCOLS = {
    None: PROTOCOL_WHOLE,
    "add": (
        "add a lesion (gan_augment.domains): candidates receive A's lesion-free skin patches with the lesion masks "
        "of the same images' lesion crops, compared with B's lesion crops; reference: A's lesion crops vs B's"
    ),
    "remove": (
        "remove a lesion (gan_augment.domains): candidates receive A's lesion crops with their masks, compared "
        "with B's lesion-free skin patches; reference: A's skin patches vs B's; whole view only"
    ),
}


@dataclass(frozen=True)
class Items:
    """Images N3HW in [0, 1] at the protocol's size, their masks N1HW in {0, 1} (``None`` for
    skin patches) and the id of the data-set image each came from."""

    images: Tensor
    masks: Tensor | None
    ids: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, ids: Sequence[str]) -> Items:
        """The items of ``ids``, in that order."""
        where = {x: i for i, x in enumerate(self.ids)}
        keep = torch.as_tensor([where[x] for x in ids], dtype=torch.long)
        return Items(self.images[keep], None if self.masks is None else self.masks[keep], list(ids))


def _tensor(images: list[np.ndarray], size: int) -> Tensor:
    return torch.stack([torch.from_numpy(square_resize(x, size, nearest=False)).permute(2, 0, 1) for x in images]).float() / 255.0


def lesion_crops(dataset: DermDataset, indices: Sequence[int], size: int, fraction: float = 0.5) -> Items:
    """The lesion crops of ``dataset[indices]`` with their masks (empty masks left out)."""
    items = [c for c in LesionCrops(dataset.subset(indices), fraction) if c["mask"].any()]
    if not items:
        raise ValueError("no lesion crop with a non-empty mask among the chosen images")
    masks = torch.stack([torch.from_numpy(square_resize(c["mask"], size, nearest=True)) for c in items]).unsqueeze(1).float()
    return Items(_tensor([c["image"] for c in items], size), masks, [c["id"] for c in items])


def skin_patches(dataset: DermDataset, indices: Sequence[int], size: int, fraction: float = 0.5) -> Items:
    """The lesion-free skin patches of ``dataset[indices]`` (images without one left out)."""
    patches = list(SkinPatches(dataset.subset(indices), fraction))
    return Items(_tensor([p["image"] for p in patches], size), None, [p["id"] for p in patches])


def domain_halves(
    dataset: DermDataset, idx_a: Sequence[int], idx_b: Sequence[int], size: int, domain: str
) -> tuple[Items, Items, Items]:
    """(inputs of A, real A, real B) of ``domain`` (see the module docstring)."""
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
    skin_a, crops_a = skin_patches(dataset, idx_a, size), lesion_crops(dataset, idx_a, size)
    with_skin = set(skin_a.ids)
    both = [x for x in crops_a.ids if x in with_skin]
    if not both:
        raise ValueError("no image of half A has both a lesion-free skin patch and a lesion")
    skin_a, crops_a = skin_a.take(both), crops_a.take(both)
    if domain == "add":
        return Items(skin_a.images, crops_a.masks, both), crops_a, lesion_crops(dataset, idx_b, size)
    return crops_a, skin_a, skin_patches(dataset, idx_b, size)


def domain_targets(dataset: DermDataset, indices: Sequence[int], size: int, domain: str) -> Items:
    """The images of ``domain``'s output domain (lesion crops for ``add``, skin patches for
    ``remove``): what a translator's outputs are checked against for memorization."""
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
    return lesion_crops(dataset, indices, size) if domain == "add" else skin_patches(dataset, indices, size)


def domain_settings(domain: str | None, requested_views: Sequence[str]) -> dict[str, Any]:
    """What the result records about the protocol: ``domain``, ``protocol`` (one line) and
    ``skipped_views`` (requested views the domain has none of, with the reason)."""
    skipped = {} if domain is None else {v: NO_CROP_VIEW for v in requested_views if v not in DOMAIN_VIEWS[domain]}
    return {"domain": domain, "protocol": PROTOCOLS[domain], "skipped_views": skipped}
