"""Add synthetic samples to a real data set: per item (:class:`MixedDataset`), per batch
(:class:`BatchMixer`, the fast path) or from disk (:class:`SyntheticBank`).

Items are dicts like those of :mod:`gan_augment.data`: ``image`` HWC uint8, ``mask`` HW in
{0, 1} (segmentation), ``label`` int, ``id`` str, plus ``synthetic`` (bool). Every synthetic
item is a pure function of (seed, index[, epoch]), so it is the same in every worker and
every run.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from gan_augment.devices import in_dataloader_worker
from gan_augment.distributed import current_world
from gan_augment.functional import check_image_size, float_to_uint8, resize_masks
from gan_augment.masks import PCAShapeModel, elastic_deform, geometric_mask
from gan_augment.run_files import FolderLockedError, create_exclusive, exclusive_lock, live_lock_owner, remove_stale_temporaries
from gan_augment.synthesizer import MissingInputError, Synthesizer

MaskSource = str | Callable[[np.random.Generator, tuple[int, int]], np.ndarray]


def _item_seed(seed: int, index: int, epoch: int = 0) -> int:
    """A well-mixed 63-bit seed for item ``index`` (independent streams per item)."""
    return int(np.random.SeedSequence([seed, index, epoch]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def _resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if mask.shape == size:
        return mask
    t = resize_masks(torch.from_numpy(np.ascontiguousarray(mask)).float()[None, None], size)
    return t[0, 0].numpy().astype(np.uint8)


class MaskSampler:
    """Where the masks of mask-conditioned synthetic samples come from.

    ``"shapes"``: random geometric shapes; ``"elastic"``: elastically deformed real masks;
    ``"real"``: real masks resampled as they are; ``"pca"``: a PCA shape model fitted on the
    real masks; or a callable ``(rng, (h, w)) -> mask``. Real masks come from ``real_masks``
    (a sequence of HW arrays) or a data set whose items have ``mask``.
    """

    def __init__(self, source: MaskSource = "shapes", real: Dataset | Sequence[np.ndarray] | None = None, size: tuple[int, int] = (128, 128)) -> None:
        self.source, self.real = source, real
        self.size = (check_image_size(size[0], "mask height"), check_image_size(size[1], "mask width"))
        if isinstance(source, str):
            if source not in ("shapes", "elastic", "real", "pca"):
                raise ValueError(f"mask source must be shapes, elastic, real, pca or a callable, got {source!r}")
            if source != "shapes" and real is None:
                raise ValueError(f"mask source {source!r} needs real masks (a data set with masks)")
        self._pca: PCAShapeModel | None = None

    def _real_mask(self, rng: np.random.Generator) -> np.ndarray:
        j = int(rng.integers(len(self.real)))
        item = self.real[j]
        return item["mask"] if isinstance(item, Mapping) else np.asarray(item)

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        if callable(self.source):
            mask = np.asarray(self.source(rng, self.size))
        elif self.source == "shapes":
            mask = geometric_mask(self.size, rng)
        elif self.source == "real":
            mask = self._real_mask(rng)
        elif self.source == "elastic":
            mask = elastic_deform(self._real_mask(rng), rng)
        else:
            if self._pca is None:
                masks = [self._real_mask(np.random.default_rng(k)) for k in range(min(len(self.real), 500))]
                self._pca = PCAShapeModel().fit(masks)
            mask = self._pca.sample(self.size, rng)
        return _resize_mask((mask > 0).astype(np.uint8), self.size)


def _class_plan(
    labels: Sequence[int | None], ratio: float | None, class_balance: str | Mapping[int, int] | None
) -> list[int | None]:
    """The label of every synthetic item, in a fixed order (exact counts)."""
    if class_balance is not None and ratio is not None:
        raise ValueError("give ratio or class_balance, not both")
    counts = Counter(label for label in labels if label is not None)
    if class_balance is None:
        if ratio is None or ratio < 0:
            raise ValueError(f"ratio (synthetic items per real item) must be >= 0, got {ratio}")
        n = round(ratio * len(labels))
        if not counts:
            return [None] * n
        # labels in proportion to the real class distribution, largest remainders first
        total = sum(counts.values())
        quotas = {c: n * k / total for c, k in counts.items()}
        plan = {c: int(q) for c, q in quotas.items()}
        for c in sorted(quotas, key=lambda c: (-(quotas[c] - plan[c]), c))[: n - sum(plan.values())]:
            plan[c] += 1
    elif class_balance == "majority":
        if not counts:
            raise ValueError("class_balance needs labels in the real data set")
        top = max(counts.values())
        plan = {c: top - k for c, k in counts.items()}
    elif isinstance(class_balance, Mapping):
        plan = {int(c): int(k) for c, k in class_balance.items()}
        if any(k < 0 for k in plan.values()):
            raise ValueError(f"class counts must be >= 0, got {dict(class_balance)}")
    else:
        raise ValueError(f"class_balance must be 'majority', a {{class: count}} dict or None, got {class_balance!r}")
    return [c for c in sorted(plan) for _ in range(plan[c])]


class GeneratorSource:
    """Synthesises the item for (seed, label) on demand with a :class:`Synthesizer`.

    Mask-conditioned generators get a mask from ``masks`` (a :class:`MaskSampler`); those
    that also read an image (pix2pixHD, residual U-Net) take a real image of ``real``.
    """

    def __init__(self, generator: Synthesizer, masks: MaskSampler | None = None, real: Dataset | None = None, image_size: int | None = None) -> None:
        self.generator = generator
        self.size = check_image_size(image_size or generator.image_size, "image_size")
        self.masks = masks
        self.real = real
        if "masks" in generator.reads and masks is None:
            raise ValueError(f"{generator.architecture} is mask-conditioned: give a mask source")
        if "images" in generator.reads and real is None:
            raise ValueError(f"{generator.architecture} reads an image too: give the real data set")

    def item(self, seed: int, label: int | None) -> dict[str, Any]:
        rng = np.random.default_rng(seed)
        g = self.generator
        out: dict[str, Any] = {}
        mask = self.masks(rng) if self.masks is not None else None
        images = None
        if self.real is not None:  # the model reads an image: a real one, at the mask's size
            real = self.real[int(rng.integers(len(self.real)))]
            if mask is None:
                mask = real.get("mask")
            h, w = mask.shape if mask is not None else real["image"].shape[:2]
            pic = torch.from_numpy(np.ascontiguousarray(real["image"])).permute(2, 0, 1).float()[None] / 255
            images = torch.nn.functional.interpolate(pic, size=(h, w), mode="bilinear", antialias=True) if pic.shape[-2:] != (h, w) else pic
        masks = None if mask is None else torch.from_numpy(np.ascontiguousarray(mask)).float()[None, None]
        with torch.no_grad():
            image = g.generate(masks=masks, images=images, labels=None if label is None else [label], n=1, size=self.size, seed=seed)[0]
        if mask is not None:  # the generated image is drawn for (or translated with) this mask
            out["mask"] = mask
        out["image"] = float_to_uint8(image)
        if label is not None:
            out["label"] = int(label)
        return out


class MixedDataset(Dataset):
    """A real data set plus synthetic items, map-style.

    Args:
        real: a data set of item dicts (``image``, optional ``mask`` / ``label``).
        synthetic: a :class:`Synthesizer` (items generated on demand, in the worker that
            asks; CPU there) or a :class:`SyntheticBank` (items read from disk).
        ratio: synthetic items per real item (``0.5``: one synthetic per two real), labels in
            the real class proportions.
        class_balance: instead of ``ratio``: ``"majority"`` tops every class up to the
            majority class count, or ``{class: count}`` adds exactly that many.
        masks: for mask-conditioned generators, the :class:`MaskSampler` source name or
            callable (``"shapes"``, ``"elastic"``, ``"real"``, ``"pca"``).
        seed: synthetic item ``k`` is a function of (seed, k) — and of the epoch after
            ``set_epoch`` when ``vary_per_epoch``.
        transform: applied to every item dict (real and synthetic), e.g. an Albumentations
            pipeline wrapped with ``lambda d: {**d, **pipeline(image=d["image"], mask=d["mask"])}``.
        synthetic_label: the label of synthetic items from a generator without classes (e.g.
            a per-class model trained with ``--classes melanoma``). Without it, such items get
            label ``-1`` when the real items have labels (use ``ignore_index=-1`` or the
            ``synthetic`` flag); class balancing needs a class-conditional generator.

    Indices ``0 .. len(real)-1`` are the real items, the rest synthetic; every item has
    ``synthetic`` (bool).
    """

    def __init__(
        self,
        real: Dataset,
        synthetic: Synthesizer | SyntheticBank,
        *,
        ratio: float | None = None,
        class_balance: str | Mapping[int, int] | None = None,
        masks: MaskSource = "shapes",
        image_size: int | None = None,
        seed: int = 0,
        vary_per_epoch: bool = False,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        synthetic_label: int | None = None,
    ) -> None:
        if image_size is not None:
            check_image_size(image_size, "image_size")
        if ratio is None and class_balance is None:
            ratio = 1.0
        self.real, self.seed, self.vary_per_epoch, self.transform = real, seed, vary_per_epoch, transform
        self.epoch = 0
        self.plan = _class_plan(_labels_of(real), ratio, class_balance)
        if isinstance(synthetic, SyntheticBank):
            self.source: GeneratorSource | SyntheticBank = synthetic
            has_classes = any(label is not None for label in synthetic.labels)
            name = "this synthetic bank (built without labels)"
        elif isinstance(synthetic, Synthesizer):
            sampler = None
            if "masks" in synthetic.reads:
                size = image_size or synthetic.image_size
                sampler = MaskSampler(masks, real if masks != "shapes" or callable(masks) else None, (size, size))
            self.source = GeneratorSource(synthetic, sampler, real if "images" in synthetic.reads else None, image_size)
            has_classes = bool(synthetic.num_classes)
            name = synthetic.architecture
        else:
            raise TypeError(f"synthetic must be a Synthesizer or a SyntheticBank, got {type(synthetic).__name__}")
        if not has_classes:
            if class_balance is not None:
                raise ValueError(
                    f"class balancing needs a class-conditional generator; {name} has no classes "
                    "(train with --conditional; a per-class model adds one class: use ratio + synthetic_label)"
                )
            if any(c is not None for c in self.plan):
                self.plan = [-1 if synthetic_label is None else int(synthetic_label)] * len(self.plan)
        if isinstance(self.source, SyntheticBank):
            self._bank_index = self.source.assign(self.plan if has_classes else [None] * len(self.plan), seed)

    def __len__(self) -> int:
        return len(self.real) + len(self.plan)

    @property
    def num_synthetic(self) -> int:
        return len(self.plan)

    def set_epoch(self, epoch: int) -> None:
        """With ``vary_per_epoch``, synthetic items change with the epoch (same in every worker)."""
        self.epoch = int(epoch)

    def synthetic_labels(self) -> list[int | None]:
        return list(self.plan)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        if index < len(self.real):
            item = {**self.real[index], "synthetic": False}
        else:
            k = index - len(self.real)
            if isinstance(self.source, SyntheticBank):
                item = self.source[self._bank_index[k]]
                if self.plan[k] is not None:
                    item["label"] = self.plan[k]
            else:
                seed = _item_seed(self.seed, k, self.epoch if self.vary_per_epoch else 0)
                item = self.source.item(seed, self.plan[k])
            item = {**item, "id": f"synthetic-{k}", "synthetic": True}
        return self.transform(item) if self.transform is not None else item


def _labels_of(dataset: Dataset) -> list[int | None]:
    labels = getattr(dataset, "labels", None)
    if labels is not None:
        return list(labels)
    return [dataset[i].get("label") for i in range(len(dataset))]


class BatchMixer:
    """Replace a fraction of each collated batch by synthetic samples in one batched call.

    Runs in the main process (on CUDA when present), never in DataLoader workers — call it
    on each batch in the training loop, or iterate ``mixer.wrap(loader)``::

        mixer = BatchMixer(ga.from_pretrained("mask2lesion-isic2017-128"), fraction=0.25)
        for batch in mixer.wrap(loader):          # batch["image"]: N3HW, batch["mask"]: N1HW / NHW
            ...

    Mask-conditioned generators redraw the image for the batch's own (already augmented)
    masks, so image and mask stay aligned; noise generators keep each sample's label.
    Images may be uint8 or float in [0, 1]; give ``mean``/``std`` if the batch is normalised.
    The batch gains ``mixed_in`` (rows replaced here) and ``synthetic`` (``mixed_in`` or
    already synthetic, e.g. from a :class:`MixedDataset`).
    Choices depend only on (seed, batch number): ``state_dict`` / ``load_state_dict`` resume.
    """

    def __init__(
        self,
        generator: Synthesizer,
        fraction: float = 0.25,
        *,
        seed: int = 0,
        image_key: str = "image",
        mask_key: str = "mask",
        label_key: str = "label",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        self.generator, self.fraction, self.seed = generator, fraction, seed
        self.image_key, self.mask_key, self.label_key = image_key, mask_key, label_key
        self.mean, self.std = mean, std
        self.batches_seen = 0

    def state_dict(self) -> dict[str, int]:
        return {"batches_seen": self.batches_seen, "seed": self.seed}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self.batches_seen, self.seed = int(state["batches_seen"]), int(state["seed"])

    def wrap(self, loader: Iterable[dict[str, Tensor]]) -> Iterator[dict[str, Tensor]]:
        for batch in loader:
            yield self(batch)

    def __call__(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        if in_dataloader_worker():
            raise RuntimeError("BatchMixer runs in the main process: call it on collated batches in the training loop, not in collate_fn or a worker")
        images = batch[self.image_key]
        if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"batch[{self.image_key!r}] must be an N3HW tensor, got {getattr(images, 'shape', type(images))}")
        n = images.shape[0]
        k = round(self.fraction * n)
        gen = torch.Generator().manual_seed(_item_seed(self.seed, self.batches_seen))
        call_seed = _item_seed(self.seed, self.batches_seen, 1)
        self.batches_seen += 1
        out = dict(batch)
        # items that were synthetic already (e.g. from a MixedDataset) stay flagged
        flags = torch.as_tensor(batch["synthetic"]).bool().cpu().clone() if "synthetic" in batch else torch.zeros(n, dtype=torch.bool)
        if k == 0:
            out["synthetic"], out["mixed_in"] = flags, torch.zeros(n, dtype=torch.bool)
            return out
        chosen = torch.randperm(n, generator=gen)[:k].sort().values
        synthetic = self._generate(batch, chosen, call_seed, tuple(images.shape[-2:]))
        new_images = images.clone()
        new_images[chosen.to(images.device)] = self._like(synthetic, images).to(images.device)
        out[self.image_key] = new_images
        flags[chosen] = True
        out["synthetic"] = flags
        out["mixed_in"] = torch.zeros(n, dtype=torch.bool).index_fill_(0, chosen, True)
        return out

    def _generate(self, batch: dict[str, Tensor], chosen: Tensor, seed: int, size: tuple[int, int]) -> Tensor:
        """The chosen rows' synthetic images: every input the batch has goes to
        :meth:`Synthesizer.generate`, which takes what the model reads."""
        g = self.generator
        masks = labels = None
        if self.mask_key in batch:
            masks = torch.as_tensor(batch[self.mask_key])[chosen.to(torch.as_tensor(batch[self.mask_key]).device)]
            masks = (masks.unsqueeze(1) if masks.ndim == 3 else masks).float()
            masks = (masks > (127 if masks.max() > 1 else 0)).float()
        if self.label_key in batch:
            labels = torch.as_tensor(batch[self.label_key])[chosen]
        images = self._unnormalize(batch[self.image_key][chosen.to(batch[self.image_key].device)]) if "images" in g.reads else None
        try:
            return g.generate(masks=masks, images=images, labels=labels, n=len(chosen), size=size, seed=seed)
        except MissingInputError as err:
            key = {"masks": self.mask_key, "images": self.image_key, "labels": self.label_key}[err.input]
            raise ValueError(f"{err}: the batch needs {key!r}") from None

    def _unnormalize(self, images: Tensor) -> Tensor:
        if images.dtype == torch.uint8:
            return images.float() / 255
        if self.mean is not None:
            mean = torch.tensor(self.mean, device=images.device).view(1, -1, 1, 1)
            std = torch.tensor(self.std, device=images.device).view(1, -1, 1, 1)
            images = images * std + mean
        return images.float().clamp(0, 1)

    def _like(self, synthetic: Tensor, reference: Tensor) -> Tensor:
        if reference.dtype == torch.uint8:
            return synthetic.mul(255).round().clamp(0, 255).to(torch.uint8)
        if self.mean is not None:
            mean = torch.tensor(self.mean, device=synthetic.device).view(1, -1, 1, 1)
            std = torch.tensor(self.std, device=synthetic.device).view(1, -1, 1, 1)
            synthetic = (synthetic - mean) / std
        return synthetic.to(reference.dtype)


class SyntheticBank(Dataset):
    """Synthetic samples pre-generated to disk in shards, read back as item dicts.

    ``SyntheticBank.build(generator, folder, n, ...)`` writes ``shard_00000.safetensors``,
    ... each atomically (temporary file + rename), so an interrupted build leaves only
    complete shards; calling it again generates just the missing ones (each shard is a pure
    function of (seed, shard index); it stores its items' seeds as ``seeds``). ``bank.json``
    is written last and lists the shards and the seed.

    Sharded over processes (``rank`` / ``world_size``, or torchrun's ``RANK`` / ``WORLD_SIZE``):
    process ``rank`` writes shards ``rank``, ``rank + world_size``, ...; the shards are the
    same as one process writes, whatever the number of processes.

    A build holds a lock file with its pid, ``.build.lock`` (one process) or
    ``.build.rank<r>-of-<w>.lock`` (process ``r`` of ``w``): a second build into the folder
    while one runs is refused (:class:`~gan_augment.run_files.FolderLockedError`), the
    other processes of the same sharded build are not; the lock of a killed build is taken
    over, and its temporary files removed. Locks see processes on this machine only: on a
    shared folder across machines, ``.build.json`` (created once, compared by every later
    build) still keeps builds with other settings out.
    """

    MANIFEST = "bank.json"
    LOCK = ".build.lock"

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        manifest = self.folder / self.MANIFEST
        if not manifest.is_file():
            raise FileNotFoundError(f"{self.folder} is not a finished synthetic bank ({self.MANIFEST} missing): run SyntheticBank.build again to complete it")
        try:
            self.meta = json.loads(manifest.read_text())
            self.shards = [self.folder / s for s in self.meta["shards"]]
            self.shard_size = int(self.meta["shard_size"])
            self.length = int(self.meta["n"])
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{manifest}: not a readable synthetic bank manifest ({type(err).__name__}: {err})") from None
        self.labels: list[int | None] = self.meta.get("labels") or [None] * self.length
        self._open: dict[int, dict[str, Tensor]] = {}

    def __len__(self) -> int:
        return self.length

    def _shard(self, s: int) -> dict[str, Tensor]:
        if s not in self._open:
            try:
                with safe_open(str(self.shards[s]), framework="pt") as f:
                    self._open = {s: {k: f.get_tensor(k) for k in f.keys()}}  # noqa: SIM118 (safe_open is not a dict)  # keep one shard in memory
            except (OSError, SafetensorError) as err:
                raise ValueError(f"{self.shards[s]}: cannot read this synthetic bank shard ({err}); rebuild it (delete it and run SyntheticBank.build again)") from None
        return self._open[s]

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        s, r = divmod(index, self.shard_size)
        shard = self._shard(s)
        item: dict[str, Any] = {"image": shard["images"][r].numpy(), "id": f"bank-{index}", "synthetic": True}
        if "masks" in shard:
            item["mask"] = shard["masks"][r].numpy()
        if self.labels[index] is not None:
            item["label"] = int(self.labels[index])
        return item

    def assign(self, plan: Sequence[int | None], seed: int) -> list[int]:
        """Bank indices for a plan of labels: distinct items per class as long as they last."""
        rng = np.random.default_rng(seed)
        by_label: dict[int | None, list[int]] = {}
        for i, label in enumerate(self.labels):
            by_label.setdefault(label, []).append(i)
        for idx in by_label.values():
            rng.shuffle(idx)
        used: Counter = Counter()
        out = []
        for label in plan:
            pool = by_label.get(label) if label is not None else list(range(self.length))
            if not pool:
                raise ValueError(f"the bank has no samples of class {label}")
            out.append(pool[used[label] % len(pool)])
            used[label] += 1
        return out

    @classmethod
    def build(
        cls,
        generator: Synthesizer,
        folder: str | os.PathLike,
        n: int,
        *,
        shard_size: int = 256,
        seed: int = 0,
        labels: Sequence[int] | None = None,
        masks: MaskSource = "shapes",
        real: Dataset | None = None,
        image_size: int | None = None,
        progress: bool = True,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> SyntheticBank | None:
        """Generate (or finish generating) ``n`` samples into ``folder``; ``labels`` gives the
        class of each sample for conditional generators.

        With ``world_size`` > 1 this process writes only its own shards. The process that
        finds every shard on disk when it is done writes ``bank.json`` and returns the bank;
        the others return ``None`` (open it with ``SyntheticBank(folder)`` once all are done).
        """
        if n <= 0 or shard_size <= 0:
            raise ValueError("n and shard_size must be positive")
        if labels is not None and len(labels) != n:
            raise ValueError(f"got {len(labels)} labels for {n} samples")
        rank, world_size = _rank_and_world(rank, world_size)
        size = check_image_size(image_size or generator.image_size, "image_size")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        params = {
            "n": n, "shard_size": shard_size, "seed": seed, "image_size": size,
            "labels": list(map(int, labels)) if labels is not None else None,
            "masks": masks if isinstance(masks, str) else "callable",
            "generator": generator.source or generator.architecture,
        }
        sampler = MaskSampler(masks, real, (size, size)) if "masks" in generator.reads else None
        source = GeneratorSource(generator, sampler, real if "images" in generator.reads else None, size)
        n_shards = -(-n // shard_size)
        names = [f"shard_{s:05d}.safetensors" for s in range(n_shards)]
        mine = range(rank, n_shards, world_size)
        # one build per folder at a time: two would interleave shards of different settings
        with _build_lock(folder, rank, world_size):
            if world_size == 1:
                remove_stale_temporaries(folder, ".*.tmp*")  # left by a killed build
            else:  # only this process's own files: the other processes are writing theirs
                own = {f".{names[s]}.tmp" for s in mine}
                remove_stale_temporaries(folder, ".shard_*.tmp*", only=lambda p: p.name[: p.name.rfind(".tmp") + 4] in own)
            started = folder / ".build.json"
            if not create_exclusive(started, json.dumps(params)) and _read_json(started) != params:
                raise ValueError(f"{folder} holds a bank built with other settings ({started}); use a new folder")
            cls._write_shards(source, folder, params, labels, names, mine, progress, f"synthetic bank {rank + 1}/{world_size}" if world_size > 1 else "synthetic bank")
            if not all((folder / name).is_file() for name in names):
                return None  # another process's shards are still missing: the last one writes bank.json
            manifest = {
                **params, "shards": names,
                "item_seed": "item i: numpy.random.SeedSequence([seed, i, 0]).generate_state(2, uint64)[0] >> 1",
            }
            tmp = folder / f".{cls.MANIFEST}.tmp-{os.getpid()}"
            tmp.write_text(json.dumps(manifest, indent=2))
            os.replace(tmp, folder / cls.MANIFEST)
        return cls(folder)

    @staticmethod
    def _write_shards(
        source: GeneratorSource, folder: Path, params: Mapping[str, Any], labels: Sequence[int] | None,
        names: Sequence[str], mine: Iterable[int], progress: bool, desc: str,
    ) -> None:
        """Generate this process's shards not on disk yet (each atomically)."""
        n, shard_size, seed = params["n"], params["shard_size"], params["seed"]
        todo = [s for s in mine if not (folder / names[s]).is_file()]
        for s in tqdm(todo, desc=desc, unit="shard", disable=not progress):
            rows = range(s * shard_size, min(n, (s + 1) * shard_size))
            seeds = [_item_seed(seed, i) for i in rows]
            items = [source.item(item_seed, None if labels is None else int(labels[i])) for item_seed, i in zip(seeds, rows)]
            tensors = {
                "images": torch.from_numpy(np.stack([it["image"] for it in items])).contiguous(),
                "seeds": torch.tensor(seeds, dtype=torch.int64),
            }
            if "mask" in items[0]:
                tensors["masks"] = torch.from_numpy(np.stack([it["mask"] for it in items])).contiguous()
            tmp = folder / f".{names[s]}.tmp-{os.getpid()}"
            save_file(tensors, str(tmp), metadata={"seed": str(seed), "shard": str(s)})
            os.replace(tmp, folder / names[s])


def _rank_and_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """Explicit ``rank`` / ``world_size``, or the torchrun environment's."""
    if (rank is None) != (world_size is None):
        raise ValueError("give both rank and world_size, or neither (then torchrun's RANK / WORLD_SIZE are used)")
    if rank is None:
        world = current_world()
        return world.rank, world.size
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank must lie in [0, world_size) and world_size >= 1, got rank={rank}, world_size={world_size}")
    return int(rank), int(world_size)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


_RANK_LOCK = re.compile(r"^\.build\.rank(\d+)-of-(\d+)\.lock$")


@contextmanager
def _build_lock(folder: Path, rank: int, world_size: int) -> Iterator[None]:
    """This process's lock; refused while a build with another number of processes runs
    (the processes of one sharded build share the folder, two builds do not)."""
    name = SyntheticBank.LOCK if world_size == 1 else f".build.rank{rank}-of-{world_size}.lock"
    what = "SyntheticBank.build" if world_size == 1 else f"SyntheticBank.build (process {rank} of {world_size})"
    with exclusive_lock(folder, what, name):
        for lock in sorted(folder.glob(".build*.lock")):
            match = _RANK_LOCK.match(lock.name)
            other = int(match.group(2)) if match else 1 if lock.name == SyntheticBank.LOCK else None
            if lock.name == name or other is None or other == world_size:
                continue
            owner = live_lock_owner(lock)
            if owner is not None:
                raise FolderLockedError(
                    f"{folder} is in use: process {owner} is running SyntheticBank.build there on {other} process(es) "
                    f"({lock.name}), this build has {world_size}; wait for it to finish or use another folder"
                )
        yield
