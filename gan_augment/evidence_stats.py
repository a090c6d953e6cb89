"""Statistics for augmentation experiments: is arm A better than arm B, and how sure are we?

An experiment trains one model per (arm, seed) and scores it on the images of a test set.
Scores come in one of two shapes:

* per seed, ``(S,)``: one number per trained model (e.g. AUC, or mean Dice);
* per seed and test image, ``(S, N[, ...])``: what each model did on each image (Dice per
  image, or the predicted probabilities from which a ``metric`` computes AUC).

Both sources of chance are resampled: which models were trained (seeds) and which images
happened to be in the test set (images). A replicate draws ``S`` seeds with replacement and
gives every image a multiplicity (how often it was drawn, the same for every drawn seed),
computes the metric per drawn seed under those multiplicities and averages over the drawn
seeds. Arms trained at the same seed on the same data and scored on the same images are
*paired*: :func:`paired_bootstrap` draws the same seeds and the same images for both, so the
seed-to-seed and image-to-image spread that both arms share cancels out of the difference.

* :func:`bootstrap_ci` -- percentile interval of one arm's mean.
* :func:`paired_bootstrap` -- difference of two arms, its interval and a two-sided p-value
  (``paired=False``: the two arms are resampled independently, for comparison).
* :func:`wilcoxon_signed_rank` -- the rank test on paired differences (per seed, or per
  image averaged over seeds), exact for up to 50 non-zero differences (ties included),
  normal approximation with tie and continuity correction above.
* :func:`holm` -- Holm's step-down adjustment of a family of p-values.
* :func:`mean_metric`, :func:`auc_metric`, :func:`macro_auc_metric` -- metrics that take
  image multiplicities; :func:`weighted_auc` is the Mann-Whitney AUC with weights.

Only numpy is imported: a leaf of the package (nothing of ``gan_augment`` is imported), so
experiment scripts and users' own comparisons can use it without loading any model code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

Metric = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``metric(values, weights) -> (B, S)``: ``values`` has seeds on axis 0 and images on axis 1
(``(S, N, ...)``), ``weights`` is ``(B, N)`` image multiplicities; one number per replicate
and seed."""

WILCOXON_EXACT_MAX_N = 50


# ----------------------------------------------------------------------------- metrics


def mean_metric(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted mean over images, per seed: ``(S, N)`` values -> ``(B, S)``."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"mean_metric needs (seeds, images) values, got shape {values.shape}")
    return (weights @ values.T) / weights.sum(axis=1, keepdims=True)


def weighted_auc(scores: np.ndarray, positives: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray | float:
    """Mann-Whitney AUC of ``scores`` (N,) for the boolean ``positives`` (N,), ties counting
    half, each image counted ``weights`` times: ``weights`` (N,) or (B, N) -> float or (B,).
    NaN where the weighted positives or negatives are empty."""
    scores = np.asarray(scores, dtype=float)
    positives = np.asarray(positives, dtype=bool)
    if scores.shape != positives.shape or scores.ndim != 1:
        raise ValueError(f"scores {scores.shape} and positives {positives.shape} must be two vectors of one length")
    single = weights is None or np.ndim(weights) == 1
    w = np.ones((1, scores.size)) if weights is None else np.atleast_2d(np.asarray(weights, dtype=float))
    if w.shape[1] != scores.size:
        raise ValueError(f"weights have {w.shape[1]} columns for {scores.size} scores")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    is_pos = positives[order]
    ordered = w[:, order]
    n_pos, n_neg = ordered[:, is_pos].sum(axis=1), ordered[:, ~is_pos].sum(axis=1)
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])  # groups of tied scores
    if starts.size == scores.size:  # no ties (the usual case for probabilities): one pass
        neg = np.where(is_pos, 0.0, ordered)
        below = np.cumsum(neg, axis=1)  # at a positive item: the negative weight below it
        numerator = (ordered[:, is_pos] * below[:, is_pos]).sum(axis=1)
    else:
        pos_g = np.add.reduceat(np.where(is_pos, ordered, 0.0), starts, axis=1)
        neg_g = np.add.reduceat(np.where(is_pos, 0.0, ordered), starts, axis=1)
        below = np.cumsum(neg_g, axis=1) - neg_g  # negative weight strictly below each group
        numerator = (pos_g * (below + 0.5 * neg_g)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = numerator / (n_pos * n_neg)
    auc = np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)
    return float(auc[0]) if single else auc


def auc_metric(labels: Sequence[int] | np.ndarray, positive: int) -> Metric:
    """One-vs-rest AUC of class ``positive``: values ``(S, N)`` are that class's scores (or
    ``(S, N, C)`` probabilities, column ``positive`` is used); ``labels`` (N,) the true classes."""
    truth = np.asarray(labels) == positive

    def metric(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        scores = values[..., positive] if values.ndim == 3 else values
        return np.stack([weighted_auc(s, truth, weights) for s in scores], axis=1)

    return metric


def macro_auc_metric(labels: Sequence[int] | np.ndarray, classes: Sequence[int]) -> Metric:
    """Mean one-vs-rest AUC over ``classes``: values ``(S, N, C)`` probabilities, ``labels`` (N,)."""
    per_class = [auc_metric(labels, c) for c in classes]
    if not per_class:
        raise ValueError("macro_auc_metric needs at least one class")

    def metric(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.mean([m(values, weights) for m in per_class], axis=0)

    return metric


# ----------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile bootstrap interval."""

    estimate: float
    low: float
    high: float
    level: float
    n_boot: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    """Arm A minus arm B: the difference, its interval and a two-sided bootstrap p-value."""

    difference: float
    low: float
    high: float
    p_value: float
    level: float
    n_boot: int
    paired: bool

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _as_seed_image(values: np.ndarray | Sequence[float]) -> np.ndarray:
    """(S,) per-seed numbers become (S, 1); (S, N, ...) stays."""
    v = np.asarray(values, dtype=float)
    if v.ndim == 0 or v.size == 0:
        raise ValueError(f"need at least one value per seed, got shape {v.shape}")
    return v[:, None] if v.ndim == 1 else v


def _image_weights(rng: np.random.Generator, n: int, n_boot: int, strata: np.ndarray | None) -> np.ndarray:
    """(B, N) multiplicities of a with-replacement draw of N images (within each stratum)."""
    if n == 1:
        return np.ones((n_boot, 1))
    if strata is None:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
    strata = np.asarray(strata)
    if strata.shape != (n,):
        raise ValueError(f"strata must have one entry per image ({n}), got shape {strata.shape}")
    weights = np.zeros((n_boot, n))
    for value in np.unique(strata):
        members = np.flatnonzero(strata == value)
        weights[:, members] = rng.multinomial(members.size, np.full(members.size, 1.0 / members.size), size=n_boot)
    return weights


def _replicates(values: np.ndarray, metric: Metric, seeds: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(B,) replicate statistics: per-seed metric under ``weights``, averaged over the drawn seeds."""
    per_seed = metric(values, weights)  # (B, S)
    drawn = np.take_along_axis(per_seed, seeds, axis=1)
    return np.nanmean(drawn, axis=1) if np.isnan(drawn).any() else drawn.mean(axis=1)


def _point(values: np.ndarray, metric: Metric) -> tuple[float, np.ndarray]:
    per_seed = metric(values, np.ones((1, values.shape[1])))[0]
    return float(np.mean(per_seed)), per_seed


def per_seed(values: np.ndarray | Sequence[float], metric: Metric | None = None) -> np.ndarray:
    """The metric of every seed on the whole test set: ``(S,)``."""
    v = _as_seed_image(values)
    return _point(v, metric or mean_metric)[1]


def _check_level(level: float, n_boot: int) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")


def bootstrap_ci(
    values: np.ndarray | Sequence[float],
    *,
    metric: Metric | None = None,
    strata: np.ndarray | Sequence[int] | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Mean over seeds of ``metric`` with a percentile bootstrap interval over seeds and images.

    ``values``: ``(S,)`` per-seed numbers, or ``(S, N[, ...])`` per seed and image (then
    ``metric`` turns them into one number per seed; default the mean over images).
    ``strata``: resample images within these groups (e.g. the labels, for AUC).
    """
    _check_level(level, n_boot)
    v = _as_seed_image(values)
    metric = metric or mean_metric
    estimate, _ = _point(v, metric)
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, v.shape[0], size=(n_boot, v.shape[0]))
    weights = _image_weights(rng, v.shape[1], n_boot, None if strata is None else np.asarray(strata))
    reps = _replicates(v, metric, seeds, weights)
    low, high = np.nanquantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return Interval(estimate, float(low), float(high), level, n_boot)


def paired_bootstrap(
    a: np.ndarray | Sequence[float],
    b: np.ndarray | Sequence[float],
    *,
    metric: Metric | None = None,
    strata: np.ndarray | Sequence[int] | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    paired: bool = True,
) -> Comparison:
    """Arm ``a`` minus arm ``b`` (same shapes, seed ``k`` and image ``i`` of both matched).

    Each replicate draws seeds and image multiplicities once and uses them for both arms
    (``paired=False``: independently for each, which ignores the pairing -- for
    comparison). The p-value is two-sided: twice the share of replicates on the far side of
    zero, ``(count + 1) / (B + 1)``, at most 1.
    """
    _check_level(level, n_boot)
    va, vb = _as_seed_image(a), _as_seed_image(b)
    if va.shape != vb.shape:
        raise ValueError(f"the two arms must have the same (seeds, images) shape, got {va.shape} and {vb.shape}")
    metric = metric or mean_metric
    difference = _point(va, metric)[0] - _point(vb, metric)[0]
    rng = np.random.default_rng(seed)
    s, n = va.shape[:2]
    strata_arr = None if strata is None else np.asarray(strata)
    seeds_a = rng.integers(0, s, size=(n_boot, s))
    weights_a = _image_weights(rng, n, n_boot, strata_arr)
    if paired:
        seeds_b, weights_b = seeds_a, weights_a
    else:
        seeds_b = rng.integers(0, s, size=(n_boot, s))
        weights_b = _image_weights(rng, n, n_boot, strata_arr)
    reps = _replicates(va, metric, seeds_a, weights_a) - _replicates(vb, metric, seeds_b, weights_b)
    reps = reps[~np.isnan(reps)]
    if reps.size == 0:
        return Comparison(difference, math.nan, math.nan, math.nan, level, n_boot, paired)
    low, high = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    below, above = int((reps <= 0).sum()), int((reps >= 0).sum())
    p = min(1.0, 2 * (min(below, above) + 1) / (reps.size + 1))
    return Comparison(float(difference), float(low), float(high), float(p), level, n_boot, paired)


# ----------------------------------------------------------------------------- rank test


@dataclass(frozen=True)
class WilcoxonResult:
    """``statistic``: W+, the sum of the ranks of the positive differences; ``n``: the
    non-zero differences; ``method``: "exact", "normal" or "no differences"."""

    statistic: float
    p_value: float
    n: int
    method: str

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def _midranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``x``, ties sharing the mean of their ranks."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(x.size)
    sorted_x = x[order]
    i = 0
    while i < x.size:
        j = i
        while j + 1 < x.size and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _signed_rank_null(doubled_ranks: np.ndarray) -> np.ndarray:
    """P(2 W+ = k), k = 0 .. sum(doubled ranks), when each rank's sign is a fair coin."""
    total = int(doubled_ranks.sum())
    dist = np.zeros(total + 1)
    dist[0] = 1.0
    for r in doubled_ranks.astype(int):
        shifted = np.zeros_like(dist)
        shifted[r:] = dist[: total + 1 - r]
        dist = 0.5 * (dist + shifted)
    return dist


def wilcoxon_signed_rank(
    x: np.ndarray | Sequence[float], y: np.ndarray | Sequence[float] | None = None, *, exact: bool | None = None
) -> WilcoxonResult:
    """Two-sided Wilcoxon signed-rank test of the paired differences ``x - y`` (or ``x``).

    Zero differences are dropped (Wilcoxon's convention); tied absolute differences share
    their mean rank. ``exact`` (default: up to 50 non-zero differences) enumerates the null
    distribution of W+ given the ranks (ties included, by dynamic programming over doubled
    ranks); otherwise the normal approximation with the tie-corrected variance and a
    continuity correction of 1/2. With ``n`` differences the smallest exact two-sided
    p-value is ``2 / 2**n`` (0.0625 for 5 seeds: five seeds cannot reach 0.05 on their own).
    """
    d = np.asarray(x, dtype=float) - (0.0 if y is None else np.asarray(y, dtype=float))
    d = d.ravel()
    if not np.isfinite(d).all():
        raise ValueError("wilcoxon_signed_rank: differences must be finite")
    d = d[d != 0]
    n = d.size
    if n == 0:
        return WilcoxonResult(0.0, 1.0, 0, "no differences")
    ranks = _midranks(np.abs(d))
    w_plus = float(ranks[d > 0].sum())
    if exact is None:
        exact = n <= WILCOXON_EXACT_MAX_N
    if exact:
        dist = _signed_rank_null(np.round(2 * ranks))
        k = round(2 * w_plus)
        p = 2 * min(dist[: k + 1].sum(), dist[k:].sum())
        return WilcoxonResult(w_plus, float(min(1.0, p)), n, "exact")
    mean = n * (n + 1) / 4
    _, tie_counts = np.unique(np.abs(d), return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24 - float(((tie_counts**3) - tie_counts).sum()) / 48
    if var <= 0:
        return WilcoxonResult(w_plus, 1.0, n, "normal")
    z = max(0.0, abs(w_plus - mean) - 0.5) / math.sqrt(var)
    return WilcoxonResult(w_plus, float(min(1.0, math.erfc(z / math.sqrt(2)))), n, "normal")


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error), in the input order; NaN stays NaN."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = valid.size
    running = 0.0
    for rank, i in enumerate(valid[np.argsort(p[valid], kind="mergesort")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def summarize(
    values: np.ndarray | Sequence[float],
    *,
    metric: Metric | None = None,
    strata: np.ndarray | Sequence[int] | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float | int | list[float]]:
    """One arm: mean over seeds, sample standard deviation over seeds (ddof 1; 0 for one
    seed), the bootstrap interval (seeds and images) and the per-seed values."""
    per = per_seed(values, metric)
    ci = bootstrap_ci(values, metric=metric, strata=strata, n_boot=n_boot, level=level, seed=seed)
    return {
        "mean": float(np.mean(per)),
        "std": float(np.std(per, ddof=1)) if per.size > 1 else 0.0,
        "ci_low": ci.low,
        "ci_high": ci.high,
        "level": level,
        "n_seeds": int(per.size),
        "per_seed": [float(v) for v in per],
    }
