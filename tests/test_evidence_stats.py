"""The statistics of the evidence scripts (gan_augment.evidence_stats): known values,
brute-force enumerations and properties."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gan_augment import evidence_stats as es

# ----------------------------------------------------------------------------- Wilcoxon


def test_wilcoxon_darwin_zea_mays():
    """Fisher's version of Darwin's paired plant heights (the example of scipy's documentation):
    the two negative differences have ranks 10 and 14, so W- = 24, W+ = 96; exact p = 0.041259765625."""
    d = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75]
    result = es.wilcoxon_signed_rank(d)
    assert result.statistic == 96 and result.n == 15 and result.method == "exact"
    assert result.p_value == pytest.approx(0.041259765625, abs=1e-12)


@pytest.mark.parametrize("n", [1, 5, 10])
def test_wilcoxon_all_positive_has_the_smallest_p(n):
    """All n differences positive: only 2 of the 2**n sign patterns are as extreme (5 seeds: 0.0625)."""
    result = es.wilcoxon_signed_rank(np.arange(1, n + 1) * 0.01)
    assert result.p_value == pytest.approx(min(1.0, 2 / 2**n))


def test_wilcoxon_paired_form_equals_differences_and_zeros_are_dropped():
    x, y = np.array([0.61, 0.64, 0.60, 0.70, 0.66, 0.5]), np.array([0.60, 0.62, 0.61, 0.65, 0.61, 0.5])
    assert es.wilcoxon_signed_rank(x, y) == es.wilcoxon_signed_rank(x - y)
    assert es.wilcoxon_signed_rank(x, y).n == 5
    assert es.wilcoxon_signed_rank([0.0, 0.0]).p_value == 1.0


def _brute_force_p(d: np.ndarray) -> float:
    """Two-sided p by enumerating every sign pattern of the ranks (midranks for ties)."""
    d = d[d != 0]
    if d.size == 0:
        return 1.0
    a = np.abs(d)
    ranks = np.array([(a < v).sum() + ((a == v).sum() + 1) / 2 for v in a])
    observed = ranks[d > 0].sum()
    totals = [sum(r for r, s in zip(ranks, signs) if s) for signs in itertools.product([0, 1], repeat=d.size)]
    totals = np.array(totals)
    return min(1.0, 2 * min((totals <= observed + 1e-9).mean(), (totals >= observed - 1e-9).mean()))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-4, 4), min_size=1, max_size=10))
def test_wilcoxon_exact_equals_enumeration_with_ties_and_zeros(values):
    d = np.array(values, dtype=float)
    assert es.wilcoxon_signed_rank(d).p_value == pytest.approx(_brute_force_p(d), abs=1e-12)


def test_wilcoxon_normal_approximation_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    d = np.round(rng.normal(0.2, 1.0, 120), 1)  # many ties and a few zeros
    ours = es.wilcoxon_signed_rank(d)
    theirs = stats.wilcoxon(d, zero_method="wilcox", correction=True, method="approx")
    assert ours.method == "normal"
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9)
    # the exact and the normal route agree closely where both apply
    d = rng.normal(0.3, 1.0, 40)
    assert es.wilcoxon_signed_rank(d, exact=True).p_value == pytest.approx(es.wilcoxon_signed_rank(d, exact=False).p_value, abs=0.01)


# ----------------------------------------------------------------------------- AUC


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.booleans(), st.integers(0, 3)), min_size=2, max_size=25))
def test_weighted_auc_is_mann_whitney_over_repeated_items(rows):
    scores = np.array([r[0] for r in rows], dtype=float)
    positives = np.array([r[1] for r in rows])
    weights = np.array([r[2] for r in rows], dtype=float)
    rep = np.repeat(np.arange(len(rows)), weights.astype(int))
    pos, neg = scores[rep][positives[rep]], scores[rep][~positives[rep]]
    got = es.weighted_auc(scores, positives, weights)
    if pos.size == 0 or neg.size == 0:
        assert math.isnan(got)
    else:
        expected = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (pos.size * neg.size)
        assert got == pytest.approx(expected)


def test_weighted_auc_batches_and_macro_metric():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 60)
    probs = rng.dirichlet(np.ones(3), size=(2, 60))  # 2 seeds
    weights = rng.integers(0, 3, size=(4, 60)).astype(float)
    per_class = [es.auc_metric(labels, c)(probs, weights) for c in range(3)]
    assert per_class[0].shape == (4, 2)
    assert per_class[1][2, 1] == pytest.approx(es.weighted_auc(probs[1, :, 1], labels == 1, weights[2]))
    assert np.allclose(es.macro_auc_metric(labels, [0, 1, 2])(probs, weights), np.mean(per_class, axis=0))


# ----------------------------------------------------------------------------- bootstrap


arrays_1d = st.lists(st.floats(-5, 5, allow_nan=False, width=32), min_size=1, max_size=12).map(np.array)


@settings(max_examples=50, deadline=None)
@given(arrays_1d)
def test_bootstrap_ci_holds_the_mean_of_per_seed_values(values):
    ci = es.bootstrap_ci(values, n_boot=400, seed=1)
    assert ci.estimate == pytest.approx(values.mean())
    assert ci.low - 1e-9 <= ci.estimate <= ci.high + 1e-9


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.integers(1, 30), st.integers(0, 10_000))
def test_bootstrap_ci_holds_the_mean_over_seeds_and_images(n_seeds, n_images, seed):
    values = np.random.default_rng(seed).beta(2, 2, size=(n_seeds, n_images))
    ci = es.bootstrap_ci(values, n_boot=400, seed=seed)
    assert ci.estimate == pytest.approx(values.mean())
    assert ci.low - 1e-9 <= ci.estimate <= ci.high + 1e-9


def test_bootstrap_ci_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    covered = 0
    for k in range(200):
        ci = es.bootstrap_ci(rng.normal(1.0, 2.0, 40), n_boot=500, seed=k)
        covered += ci.low <= 1.0 <= ci.high
    assert 0.88 <= covered / 200 <= 0.99


def test_identical_arms_differ_by_nothing():
    values = np.random.default_rng(0).random((5, 50))
    result = es.paired_bootstrap(values, values.copy(), n_boot=300)
    assert result.difference == 0 and result.low == 0 and result.high == 0 and result.p_value == 1.0


def test_pairing_removes_the_shared_spread():
    """Arm A = arm B + 0.01 on every image, on top of a large seed and image spread that both
    arms share: the paired test finds the difference, the unpaired one cannot."""
    rng = np.random.default_rng(1)
    seed_effect = rng.normal(0, 0.05, (5, 1))
    image_effect = rng.normal(0, 0.15, (1, 200))
    b = 0.6 + seed_effect + image_effect + rng.normal(0, 0.01, (5, 200))
    a = b + 0.01 + rng.normal(0, 0.005, (5, 200))
    paired = es.paired_bootstrap(a, b, n_boot=1000, seed=0)
    unpaired = es.paired_bootstrap(a, b, n_boot=1000, seed=0, paired=False)
    assert paired.difference == pytest.approx(unpaired.difference) == pytest.approx(0.01, abs=0.002)
    assert paired.p_value < 0.01 and paired.low > 0
    assert unpaired.p_value > 0.2 and unpaired.low < 0 < unpaired.high
    assert (unpaired.high - unpaired.low) > 10 * (paired.high - paired.low)
    # the rank test over images (per-image values averaged over seeds) sees it too
    assert es.wilcoxon_signed_rank(a.mean(axis=0), b.mean(axis=0)).p_value < 1e-6


def test_paired_bootstrap_sign_and_strata():
    rng = np.random.default_rng(2)
    labels = np.r_[np.zeros(40, int), np.ones(10, int)]
    good = np.where(labels == 1, 0.8, 0.2)[None] + rng.normal(0, 0.2, (3, 50))
    bad = rng.normal(0.5, 0.2, (3, 50))
    metric = es.auc_metric(labels, 1)
    result = es.paired_bootstrap(good, bad, metric=metric, strata=labels, n_boot=500)
    assert result.difference > 0.2 and result.low > 0 and result.p_value < 0.01
    flipped = es.paired_bootstrap(bad, good, metric=metric, strata=labels, n_boot=500)
    assert flipped.difference == pytest.approx(-result.difference)


def test_holm_known_values_and_order():
    assert es.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert es.holm([0.5]) == [0.5]
    out = es.holm([0.2, float("nan"), 0.01])
    assert math.isnan(out[1]) and out[0] == pytest.approx(0.2) and out[2] == pytest.approx(0.02)


def test_summarize_reports_mean_std_and_interval():
    s = es.summarize([0.60, 0.62, 0.64, 0.61, 0.63], n_boot=500)
    assert s["mean"] == pytest.approx(0.62) and s["std"] == pytest.approx(np.std([0.60, 0.62, 0.64, 0.61, 0.63], ddof=1))
    assert s["ci_low"] <= 0.62 <= s["ci_high"] and s["n_seeds"] == 5
    assert es.summarize([0.5], n_boot=10)["std"] == 0.0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="same"):
        es.paired_bootstrap(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="level"):
        es.bootstrap_ci([1.0, 2.0], level=1.5)
    with pytest.raises(ValueError, match="finite"):
        es.wilcoxon_signed_rank([1.0, float("nan")])
