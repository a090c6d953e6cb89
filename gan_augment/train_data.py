"""Turn a data set of item dicts into GAN training tensors, reproducibly.

:class:`GANTrainingView` is keyed by ``(epoch, index)``: the random jitter of an item is a
pure function of (seed, epoch, index), so a run resumed mid-epoch sees exactly the batches
an uninterrupted run would have seen, however many DataLoader workers there are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler
from tqdm.auto import tqdm

from gan_augment.functional import square_resize  # also importable from here, where it used to live


class GANTrainingView(Dataset):
    """Tensors for GAN training from a data set of item dicts.

    Item -> ``{"image": 3HW float in [-1, 1], "mask": 1HW float in {0, 1}, "label": int64}``
    (mask and label only when the base items have them). Augmentation, as in pix2pix
    (Isola et al. 2017, Sec. 6.2): resize to ``jitter * image_size``, random crop back to
    ``image_size``; plus a random flip / 90-degree rotation (dermoscopy has no canonical
    orientation). ``preload()`` decodes every image once into memory.

    ``condition_maps(image, mask, attributes) -> CHW uint8`` (e.g. pix2pixHD's label and
    instance maps) is computed once per item at load size and jittered with the image; it
    is returned as float ``"condition"``.
    """

    def __init__(
        self,
        base: Dataset,
        image_size: int,
        *,
        seed: int = 0,
        jitter: float = 1.125,
        dihedral: bool = True,
        condition_maps: Callable[[np.ndarray, np.ndarray, np.ndarray | None], np.ndarray] | None = None,
    ) -> None:
        if jitter < 1.0:
            raise ValueError(f"jitter must be >= 1, got {jitter}")
        self.base, self.image_size, self.seed = base, int(image_size), int(seed)
        self.load_size = round(image_size * jitter)
        self.dihedral = dihedral
        self.condition_maps = condition_maps
        self._cache: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self.base)

    def _load(self, index: int) -> dict[str, Any]:
        if self._cache is not None:
            return self._cache[index]
        item = self.base[index]
        out = {"image": square_resize(item["image"], self.load_size, nearest=False)}
        if "mask" in item:
            out["mask"] = square_resize(item["mask"], self.load_size, nearest=True)
        if "label" in item:
            out["label"] = int(item["label"])
        if self.condition_maps is not None:
            attributes = item.get("attributes")
            if attributes is not None:
                attributes = np.stack([square_resize(a, self.load_size, nearest=True) for a in attributes])
            out["condition"] = self.condition_maps(out["image"], out["mask"], attributes)
        return out

    def preload(self, threads: int = 8, progress: bool = True) -> GANTrainingView:
        """Decode and resize every item once; later reads come from memory."""
        with ThreadPoolExecutor(threads) as pool:
            items = list(
                tqdm(pool.map(self._load, range(len(self))), total=len(self), desc="loading", disable=not progress)
            )
        self._cache = items
        return self

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Tensor]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        rng = np.random.default_rng([self.seed, epoch, index])
        slack = self.load_size - self.image_size
        top, left = (int(rng.integers(0, slack + 1)), int(rng.integers(0, slack + 1))) if slack else (0, 0)
        turns, flip = (int(rng.integers(4)), bool(rng.integers(2))) if self.dihedral else (0, False)
        return self._tensors(index, top, left, turns, flip)

    def preview_batch(self, n: int) -> dict[str, Tensor]:
        """The first ``n`` items, centre-cropped and not augmented, for sample grids."""
        off = (self.load_size - self.image_size) // 2
        items = [self._tensors(i, off, off, 0, False) for i in range(min(n, len(self)))]
        return {k: torch.stack([it[k] for it in items]) for k in items[0]}

    def _tensors(self, index: int, top: int, left: int, turns: int, flip: bool) -> dict[str, Tensor]:
        item = self._load(index)

        def view(a: np.ndarray, y: int = 0) -> np.ndarray:  # y: index of the height axis
            crop = (slice(None),) * y + (slice(top, top + self.image_size), slice(left, left + self.image_size))
            a = np.rot90(a[crop], turns, axes=(y, y + 1))
            return np.ascontiguousarray(np.flip(a, axis=y + 1) if flip else a)

        out: dict[str, Tensor] = {"image": torch.from_numpy(view(item["image"])).permute(2, 0, 1).float() / 127.5 - 1}
        if "mask" in item:
            out["mask"] = torch.from_numpy(view(item["mask"])).float().unsqueeze(0)
        if "condition" in item:
            out["condition"] = torch.from_numpy(view(item["condition"], y=1)).float()
        if "label" in item:
            out["label"] = torch.tensor(item["label"], dtype=torch.long)
        return out


class EpochSampler(Sampler):
    """Yields ``(epoch, index)`` keys forever: a fresh permutation per epoch, seeded by
    (seed, epoch), starting ``start_step`` batches in. Incomplete final batches are skipped,
    so step ``s`` always sees the same items.

    ``batch_size`` is the batch of one step over all processes: with ``world_size`` processes,
    process ``rank`` yields the ``rank``-th of ``world_size`` equal slices of every batch
    (``local_batch`` keys), so the processes of step ``s`` together see exactly the items one
    process would have seen, whatever their number."""

    def __init__(self, size: int, batch_size: int, seed: int, start_step: int = 0, *, rank: int = 0, world_size: int = 1) -> None:
        if size < batch_size:
            raise ValueError(f"the data set has {size} items, fewer than one batch of {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must lie in [0, {world_size}), got {rank}")
        if batch_size % world_size:
            raise ValueError(
                f"batch_size {batch_size} (the batch of one step over all processes) does not split evenly over "
                f"{world_size} processes: use a multiple of {world_size}"
            )
        self.size, self.batch_size, self.seed, self.start_step = size, batch_size, seed, start_step
        self.rank, self.world_size = rank, world_size
        self.local_batch = batch_size // world_size
        self.steps_per_epoch = size // batch_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, offset = divmod(self.start_step, self.steps_per_epoch)
        lo, hi = self.rank * self.local_batch, (self.rank + 1) * self.local_batch
        while True:
            perm = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
            batches = perm[: self.steps_per_epoch * self.batch_size].view(self.steps_per_epoch, self.batch_size)
            for i in batches[offset:, lo:hi].reshape(-1).tolist():
                yield epoch, i
            epoch, offset = epoch + 1, 0
