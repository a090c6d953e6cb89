"""A realism report that cannot be gamed by comparing an edited image with its own source.

Protocol (what :func:`evaluate` does, exactly):

1. **Held-out, unpaired.** The held-out pairs (image + lesion mask) are shuffled with
   ``seed`` and cut into two disjoint halves A and B (:func:`unpaired_split`); each half keeps
   at most ``max_items`` (default 300; ISIC 2017 validation gives 75 a half), chosen at
   random, not the first files. Every candidate synthesises on the
   pairs of A; its outputs are compared with the *real images of B*. The noise floor,
   "real vs real (reference)", compares real A with real B. No image is ever compared with
   the image it was edited from. A split is held-out only for models not trained on it
   (ISIC 2017 ``training`` is allowed, but then only for models trained elsewhere).
2. **Same resize for real and synthetic.** Items are read at native size, centre-cropped to
   a square and resized (bilinear; masks nearest) to ``size`` (:func:`gan_augment.evaluation.load_pairs`).
   Candidates receive A's images and masks at ``size`` and return images at ``size``.
   Items whose mask is empty after the crop are dropped (counted in the result).
3. **Two views.** ``whole``: the ``size`` px images. ``crop``: the square lesion box (25 %
   margin) resized to ``size`` (:func:`gan_augment.lesion_box.lesion_crops`); synthetic
   images are cropped with the mask they were generated for.
4. **Metrics per view**, each next to the real-vs-real value:
   KID on EfficientNet-Lite0 features (:func:`gan_augment.metrics.kid`; mean ± std over 100
   subsets of min(100, half the smaller set)) as candidate, reference, excess (candidate -
   reference) and ratio (meaningless when the reference is near 0); C2ST accuracy (5-fold
   stratified, mean ± std; 0.5 = indistinguishable) of a logistic regression on frozen Lite0
   features and of a small CNN trained from scratch on 64 px pixels (:mod:`gan_augment.c2st`).
5. **Diversity** (whole view): for up to 16 masks of A and 8 seeds each, the mean pairwise
   cosine distance of Lite0 features among the 8 outputs of one mask (averaged over masks),
   next to the mean pairwise distance between different real images of B; and the mean over
   pixels of the per-pixel std across a candidate's outputs for different masks ("the same
   artifact everywhere" shows as a low value), next to the same for real B.
6. **Checkerboard spectrum** (whole view): :func:`gan_augment.metrics.upsampling_peaks` of
   the candidate's outputs next to real B's; a peak above real B's is an upsampling artifact.
7. **Domains** (``domain="add"`` / ``"remove"``, :mod:`gan_augment.realism_domains`): the
   skin <-> lesion translators (residual U-Net, CycleGAN) are measured where they were
   trained, on the same halves: a lesion adder receives A's lesion-free skin patches with
   lesion masks of A and is compared with B's lesion crops (reference: A's lesion crops vs
   B's); a remover receives A's lesion crops and is compared with B's skin patches (whole
   view only). Memorization then searches the training set's images of the output domain.
8. **Mask agreement** (whole images and ``add``: outputs that should hold a lesion inside the
   mask): Dice of a no-learning segmentation of each output (:mod:`gan_augment.mask_agreement`)
   against the mask it was made for, next to real B with its own masks and with shuffled ones.

A candidate is any callable ``synthesize(images N3HW [0, 1], masks N1HW {0, 1}, seed) -> N3HW
[0, 1]``; it is called on batches of 32 with ``seed + batch index``. Offered here:
:func:`synthesizer_candidate`, :func:`noise_candidate` (noise-to-image models: whole view
only), :func:`copy_paste_candidate` and :func:`identity_candidate`.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from gan_augment.c2st import cnn_c2st, linear_c2st
from gan_augment.data import DermDataset
from gan_augment.evaluation import load_pairs
from gan_augment.lesion_box import DEFAULT_MARGIN, lesion_crops
from gan_augment.mask_agreement import mask_agreement
from gan_augment.mask_agreement import real_reference as mask_agreement_reference
from gan_augment.memorization import memorization
from gan_augment.metrics import FeatureExtractor, kid, upsampling_peaks
from gan_augment.realism_domains import DOMAIN_VIEWS, DOMAINS, TRAINING_ITEMS, Items, domain_halves, domain_settings, domain_targets
from gan_augment.realism_report import markdown_report, write_report
from gan_augment.synthesizer import Synthesizer
from gan_augment.visualize import grid_image

__all__ = [
    "Synthesize",
    "copy_paste_candidate",
    "evaluate",
    "markdown_report",
    "noise_candidate",
    "synthesizer_candidate",
    "unpaired_split",
    "write_report",
]

Synthesize = Callable[[Tensor, Tensor, int], Tensor]
"""``synthesize(images N3HW [0, 1], masks N1HW {0, 1}, seed) -> N3HW [0, 1]``."""

VIEWS = ("whole", "crop")
BATCH = 32
C2ST_FOLDS = 5
DIVERSITY_MASKS, DIVERSITY_SEEDS = 16, 8
GRID_ROWS = 6
MASK_AGREEMENT_DOMAINS = (None, "add")


# --- candidates ------------------------------------------------------------------------------
def synthesizer_candidate(synth: Synthesizer) -> Synthesize:
    """A mask-conditioned translator as a candidate: ``translate(masks=...)``, plus
    ``images=`` for models whose spec reads the image (pix2pixHD, residual U-Net)."""
    if synth.task == "noise_to_image":
        raise ValueError(f"{synth.architecture} generates from noise, without masks: the paired-mask protocol does not apply")

    def synthesize(images: Tensor, masks: Tensor, seed: int) -> Tensor:
        return synth.generate(masks=masks, images=images, seed=seed)  # each model takes what it reads

    return synthesize


def noise_candidate(synth: Synthesizer, labels: Sequence[int | None] = (), *, truncation: float | None = None) -> Synthesize:
    """A noise-to-image generator as a candidate: one sample per item of A (the images and
    masks are ignored). A class-conditional model gets a class per sample drawn (seeded) from
    ``labels``, the held-out set's labels, so its outputs follow that set's class mix; the
    comparison is unpaired anyway. Only the whole-image view applies (samples have no mask)."""
    if synth.task != "noise_to_image":
        raise ValueError(f"{synth.architecture} translates inputs: use synthesizer_candidate")
    conditional = bool(getattr(synth.network, "num_classes", 0))
    pool = np.asarray([x for x in labels if x is not None], dtype=np.int64)
    if conditional and pool.size == 0:
        raise ValueError(f"{synth.architecture} is class-conditional: pass the held-out set's labels")

    def synthesize(images: Tensor, masks: Tensor, seed: int) -> Tensor:
        n = len(images)
        drawn = pool[np.random.default_rng(seed).integers(len(pool), size=n)].tolist() if conditional else None
        out = synth.sample(n, labels=drawn, seed=seed, truncation=truncation, size=images.shape[-1])
        return out.to(images.device)

    synthesize.edits_input = False  # type: ignore[attr-defined]
    return synthesize


def identity_candidate() -> Synthesize:
    """The do-nothing editor: returns real A unchanged. A background-preserving model must
    change the lesion (see ``change_inside_mask``) and still score near this row."""

    def synthesize(images: Tensor, masks: Tensor, seed: int) -> Tensor:
        return images.clone()

    return synthesize


def copy_paste_candidate(bank: Any, harmonize: bool = True) -> Synthesize:
    """Lesion copy-paste as a baseline: each target pair of A gets a lesion drawn (seeded) from
    ``bank`` (a :class:`gan_augment.copy_paste.LesionBank`, built from a *training* split)."""
    # lazy: the copy-paste module is only needed when this baseline is asked for
    from gan_augment.copy_paste import lesion_copy_paste

    def synthesize(images: Tensor, masks: Tensor, seed: int) -> Tensor:
        rng = np.random.default_rng(seed)
        out = []
        for image, mask in zip(images, masks):
            source_image, source_mask = bank.draw(rng)
            out.append(
                lesion_copy_paste(
                    image, mask[0], source_image, source_mask, harmonize=harmonize, seed=int(rng.integers(2**31))
                )
            )
        return torch.stack(out)

    return synthesize


# --- the protocol ----------------------------------------------------------------------------
def unpaired_split(
    n: int, max_items: int | None = None, seed: int = 0, groups: Sequence[Any] | None = None
) -> tuple[list[int], list[int]]:
    """Disjoint halves A and B of ``range(n)`` (shuffled with ``seed``), each of at most
    ``max_items`` indices, in random order.

    ``groups`` (e.g. HAM10000's lesion ids; ``None`` entries are groups of one): whole groups go
    to one half, so that no lesion photographed twice is in A and in B; both halves are then cut
    to the size of the smaller one."""
    if n < 2:
        raise ValueError(f"an unpaired split needs at least 2 items, got {n}")
    rng = np.random.default_rng(seed)
    if groups is None or all(g is None for g in groups):
        perm = rng.permutation(n)
        half = n // 2
        cap = half if max_items is None else min(half, int(max_items))
        return perm[:cap].tolist(), perm[half : half + cap].tolist()
    if len(groups) != n:
        raise ValueError(f"groups must have one entry per item ({n}), got {len(groups)}")
    members: dict[Any, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(("item", i) if g is None else ("group", g), []).append(i)
    keys = list(members)
    a: list[int] = []
    b: list[int] = []
    for k in rng.permutation(len(keys)):
        (a if len(a) < n // 2 else b).extend(members[keys[k]])
    if not a or not b:
        raise ValueError("an unpaired split needs at least 2 groups")
    a, b = rng.permutation(a).tolist(), rng.permutation(b).tolist()
    cap = min(len(a), len(b)) if max_items is None else min(len(a), len(b), int(max_items))
    return a[:cap], b[:cap]


def _load(dataset: DermDataset, indices: list[int], size: int) -> Items:
    """Whole images with non-empty masks."""
    images, masks = load_pairs(dataset, size, indices)
    if masks.numel() == 0:
        raise ValueError("the held-out data set has no lesion masks: the realism protocol needs image + mask pairs")
    keep = (masks.flatten(1).sum(1) > 0).nonzero().flatten()
    return Items(images[keep], masks[keep], [dataset.records[indices[i]].id for i in keep.tolist()])


def _view(images: Tensor, masks: Tensor, view: str, size: int) -> Tensor:
    return images if view == "whole" else lesion_crops(images, masks, size, DEFAULT_MARGIN)[0]


def _synthesize(candidate: Synthesize, images: Tensor, masks: Tensor, seed: int, desc: str, progress: bool) -> Tensor:
    chunks = list(zip(images.split(BATCH), masks.split(BATCH)))
    out = []
    for b, (x, m) in enumerate(tqdm(chunks, desc=desc, unit="batch", disable=not progress, leave=False)):
        y = candidate(x, m, seed + b)
        if tuple(y.shape) != tuple(x.shape):
            raise ValueError(f"{desc}: the candidate returned shape {tuple(y.shape)} for inputs {tuple(x.shape)}")
        out.append(y.detach().float().cpu().clamp(0, 1))
    return torch.cat(out)


def _features(extractor: Callable, images: Tensor, desc: str, progress: bool) -> Tensor:
    batch = getattr(extractor, "batch_size", 64)
    chunks = tqdm(images.split(batch), desc=desc, unit="batch", disable=not progress, leave=False)
    return extractor(chunks)


def _mean_pairwise_cosine_distance(features: Tensor) -> float:
    f = F.normalize(features.double(), dim=1)
    n = len(f)
    sim = f @ f.T
    return float(1 - (sim.sum() - sim.diagonal().sum()) / (n * (n - 1)))


def _pixel_std(images: Tensor) -> float:
    """Mean over pixels and channels of the std across the N images at that pixel."""
    return float(images.double().std(dim=0).mean())


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def _kid_subset(n_a: int, n_b: int) -> int:
    """KID subset size: 100, or half the smaller set when that is under 200 (so that the 100
    subsets differ and their std means something)."""
    return max(2, min(100, min(n_a, n_b) // 2))


def _compare(a: Tensor, f_a: Tensor, b: Tensor, f_b: Tensor, *, seed: int, device: Any, desc: str, progress: bool) -> dict[str, Any]:
    """KID and both C2STs between (images, features) A and B (C2ST: None under 2 items a set)."""
    k, k_std = kid(f_a, f_b, subset_size=_kid_subset(len(f_a), len(f_b)), seed=seed)
    folds = min(C2ST_FOLDS, len(a), len(b))
    return {
        "kid": k,
        "kid_std": k_std,
        "linear_c2st": linear_c2st(f_a, f_b, folds=folds, seed=seed) if folds >= 2 else None,
        "cnn_c2st": cnn_c2st(a, b, folds=folds, seed=seed, device=device, progress=progress, desc=desc) if folds >= 2 else None,
    }


def _diversity(
    candidate: Synthesize, images: Tensor, masks: Tensor, whole: Tensor, extractor: Callable, seed: int, progress: bool
) -> dict[str, Any]:
    m = min(DIVERSITY_MASKS, len(masks))
    outs = [
        _synthesize(candidate, images[:m], masks[:m], seed + 10_000 + 100 * s, "diversity", False)
        for s in tqdm(range(DIVERSITY_SEEDS), desc="diversity seeds", disable=not progress, leave=False)
    ]
    feats = _features(extractor, torch.cat(outs), "diversity features", progress).view(DIVERSITY_SEEDS, m, -1)
    within = float(np.mean([_mean_pairwise_cosine_distance(feats[:, i]) for i in range(m)]))
    return {"masks": m, "seeds": DIVERSITY_SEEDS, "within_mask_distance": within, "pixel_std": _pixel_std(whole)}


def _grid_column(images: Tensor, masks: Tensor, size: int, crops: bool = True) -> Tensor:
    """The first ``GRID_ROWS`` images, then their lesion crops (or, without crops, the next
    ``GRID_ROWS`` images)."""
    if not crops:
        return images[: 2 * GRID_ROWS]
    x, m = images[:GRID_ROWS], masks[:GRID_ROWS]
    return torch.cat([x, _view(x, m, "crop", size)])


def _grid_png(columns: list[Tensor], titles: list[str]) -> str:
    image = grid_image(columns, titles)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def evaluate(
    candidates: dict[str, Synthesize],
    heldout: DermDataset,
    *,
    size: int = 128,
    max_items: int = 300,
    seed: int = 0,
    views: Sequence[str] = VIEWS,
    extractor: Callable[[Any], Tensor] | None = None,
    progress: bool = True,
    training: DermDataset | None = None,
    max_training: int = 2000,
    domain: str | None = None,
) -> dict[str, Any]:
    """Run the protocol of this module on ``heldout`` for each candidate.

    ``domain`` (``"add"`` / ``"remove"``, :mod:`gan_augment.realism_domains`): the halves A
    and B stay the same, but candidates receive A's skin patches + lesion masks (add) or A's
    lesion crops + masks (remove) and are compared with B's lesion crops (add) or skin patches
    (remove); ``training`` is then read in the output domain too. ``remove`` has no crop view
    (recorded in ``settings["skipped_views"]``).

    Returns a JSON-able dict: ``settings`` (with ``domain`` and ``protocol``), ``data``
    (counts, ids of A and B), ``reference`` and ``candidates`` (per view: KID, KID std,
    excess, ratio, linear and CNN C2ST; and ``diversity``), ``seconds``, and ``grid_png``
    (base64 PNG: real B, the inputs of A (domains only), masks of A, each candidate's
    outputs; whole images on top, lesion crops below).
    """
    views = tuple(views)
    if not views or set(views) - set(VIEWS):
        raise ValueError(f"views must be a non-empty subset of {VIEWS}, got {views}")
    if domain is not None and domain not in DOMAINS:
        raise ValueError(f"domain must be None or one of {DOMAINS}, got {domain!r}")
    protocol = domain_settings(domain, views)
    if domain is not None:
        views = tuple(v for v in views if v in DOMAIN_VIEWS[domain])
        if not views:
            raise ValueError(f"the {domain} protocol has no view among {sorted(protocol['skipped_views'])}: {protocol['skipped_views']}")
    start = time.perf_counter()
    groups = [getattr(r, "group", None) for r in getattr(heldout, "records", [])] or None
    idx_a, idx_b = unpaired_split(len(heldout), max_items, seed, groups)
    grouped = groups is not None and any(g is not None for g in groups)
    if domain is None:
        real_a = inputs = _load(heldout, idx_a, size)
        real_b = _load(heldout, idx_b, size)
    else:
        inputs, real_a, real_b = domain_halves(heldout, idx_a, idx_b, size, domain)
    dropped = len(idx_a) + len(idx_b) - len(inputs) - len(real_b)
    images_a, masks_a, images_b = inputs.images, inputs.masks, real_b.images
    extractor = extractor or FeatureExtractor()
    device = getattr(extractor, "device", "cpu")

    real: dict[str, dict[str, Tensor]] = {}
    reference: dict[str, Any] = {}
    for view in views:
        a, b = _view(real_a.images, real_a.masks, view, size), _view(images_b, real_b.masks, view, size)
        real[view] = {"a": a, "b": b, "fa": _features(extractor, a, f"features real A {view}", progress),
                      "fb": _features(extractor, b, f"features real B {view}", progress)}
        r = real[view]
        reference[view] = _compare(r["a"], r["fa"], r["b"], r["fb"], seed=seed, device=device, desc=f"CNN C2ST reference {view}", progress=progress)
    f_whole_b = real["whole"]["fb"] if "whole" in real else _features(extractor, images_b, "features real B whole", progress)
    reference["diversity"] = {
        "between_image_distance": _mean_pairwise_cosine_distance(f_whole_b),
        "pixel_std": _pixel_std(images_b),
    }
    reference["spectrum"] = upsampling_peaks(images_b)
    checks_masks = domain in MASK_AGREEMENT_DOMAINS  # outputs that should hold a lesion inside the mask
    if checks_masks:
        reference["mask_agreement"] = mask_agreement_reference(images_b, real_b.masks)

    train_sets: dict[str, dict[str, Any]] = {}
    if training is not None:
        picks = sorted(np.random.default_rng(seed).permutation(len(training))[:max_training].tolist())
        targets = _load(training, picks, size) if domain is None else domain_targets(training, picks, size, domain)
        for view in views:
            t = _view(targets.images, targets.masks, view, size)
            train_sets[view] = {"images": t, "features": _features(extractor, t, f"features training {view}", progress), "ids": targets.ids}

    results: dict[str, Any] = {}
    crops = "crop" in views
    grid_titles = ["real B", *(["input A"] if domain else []), "mask A", *candidates]
    grid_columns = [
        _grid_column(images_b, real_b.masks, size, crops),
        *([_grid_column(images_a, masks_a, size, crops)] if domain else []),
        _grid_column(masks_a.expand(-1, 3, -1, -1), masks_a, size, crops),
    ]
    for name, candidate in candidates.items():
        t0 = time.perf_counter()
        synthetic = _synthesize(candidate, images_a, masks_a, seed, f"synthesis {name}", progress)
        entry: dict[str, Any] = {}
        for view in views:
            s = _view(synthetic, masks_a, view, size)  # crops from the masks the images were made for
            fs = _features(extractor, s, f"features {name} {view}", progress)
            r = real[view]
            entry[view] = _compare(s, fs, r["b"], r["fb"], seed=seed, device=device, desc=f"CNN C2ST {name} {view}", progress=progress)
            entry[view]["kid_excess"] = entry[view]["kid"] - reference[view]["kid"]
            entry[view]["kid_ratio"] = _ratio(entry[view]["kid"], reference[view]["kid"])
            if view in train_sets:
                t = train_sets[view]
                mem = memorization(s, fs, r["b"], r["fb"], t["images"], t["features"])
                mem["most_copied"] = [t["ids"][i] for i in mem["most_copied"]]
                entry[view]["memorization"] = mem
        div = _diversity(candidate, images_a, masks_a, synthetic, extractor, seed, progress)
        div["within_mask_ratio"] = _ratio(div["within_mask_distance"], reference["diversity"]["between_image_distance"])
        div["pixel_std_ratio"] = _ratio(div["pixel_std"], reference["diversity"]["pixel_std"])
        entry["diversity"] = div
        entry["spectrum"] = upsampling_peaks(synthetic)
        if checks_masks:
            entry["mask_agreement"] = mask_agreement(synthetic, masks_a)
        # How much the candidate changed its own input inside the lesion mask (mean absolute
        # difference, [0, 1] scale): an editor that returns its input unchanged would score
        # like real A vs real B, so the report shows this next to the C2STs.
        inside = masks_a.expand_as(images_a).bool()
        edits = getattr(candidate, "edits_input", True)
        entry["change_inside_mask"] = float((synthetic - images_a).abs()[inside].mean()) if edits and inside.any() else None
        entry["seconds"] = time.perf_counter() - t0
        results[name] = entry
        grid_columns.append(_grid_column(synthetic, masks_a, size, crops))

    return {
        "settings": {
            "size": size,
            "max_items": max_items,
            "seed": seed,
            "split": "by lesion id (no lesion in both halves)" if grouped else "per image",
            "views": list(views),
            **protocol,
            "resize": "centre-crop to square, bilinear resize to size (masks: nearest), same for real and synthetic",
            "crop_margin": DEFAULT_MARGIN,
            "features": "EfficientNet-Lite0 (ImageNet), global-average-pooled, 1280-d, inputs resized to 224",
            "kid_subset_size": _kid_subset(len(inputs), len(real_b)),
            "kid_subsets": 100,
            "linear_c2st": "logistic regression, L2 (C=0.1), standardised Lite0 features, 5-fold stratified CV (fewer folds under 5 items a set)",
            "cnn_c2st": "4 stride-2 convs 16-32-64-64 + linear, 64 px input, 200 Adam steps (at most 40 epochs; lr 2e-3, batch 32, flips) per fold, 5-fold stratified CV",
            "diversity": f"{DIVERSITY_SEEDS} seeds x up to {DIVERSITY_MASKS} masks of A, whole view",
            "synthesis_batch": BATCH,
            "mask_agreement": (
                "Dice of the darker Otsu class of smoothed luminance against the mask; reference: real B with its own "
                "masks, and with the next image's mask (what ignoring the mask scores)"
            ) if checks_masks else None,
            "memorization": (
                f"nearest of {len(next(iter(train_sets.values()))['ids'])} random training {TRAINING_ITEMS[domain]} by Lite0 cosine distance; "
                "near-copy = closer than 95 % of real B images are to their nearest training image"
            ) if train_sets else None,
        },
        "data": {
            "name": heldout.info.name if heldout.info else type(heldout).__name__,
            "n_heldout": len(heldout),
            "n_a": len(inputs),
            "n_b": len(real_b),
            # whole images: empty masks after the crop; domains: also no lesion-free window
            "dropped_empty_masks" if domain is None else "dropped": dropped,
            "split_seed": seed,
            "ids_a": inputs.ids,
            "ids_b": real_b.ids,
        },
        "reference": reference,
        "candidates": results,
        "seconds": time.perf_counter() - start,
        "grid_titles": grid_titles,
        "grid_png": _grid_png(grid_columns, grid_titles),
    }
