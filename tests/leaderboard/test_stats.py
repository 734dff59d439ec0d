"""The leaderboard's and the audit's statistics, by hand."""
from __future__ import annotations

import numpy as np
import pytest

from mrd_bench import audit
from mrd_bench.stats import bin_indices, draws, interval, ranks, stratified, win_shares


def test_win_shares_and_ranks_by_hand():
    # three entries on four shared resamples; lower is better
    sampled = np.array([[1.0, 1.0, 1.0, 1.0],   # a: always best
                        [2.0, 2.0, 2.0, 0.5],   # b: beats a once in four
                        [3.0, 3.0, 3.0, 3.0]])  # c: always worst
    shares = win_shares(sampled, "lower")
    assert shares[0, 1] == pytest.approx(0.25)  # b beats a in 1 of 4 resamples
    assert shares[1, 0] == pytest.approx(0.75)
    assert shares[2, 0] == 1.0 and shares[2, 1] == 1.0 and shares[0, 2] == 0.0
    # with level 0.7: a is beaten by nobody; b by a (0.75); c by a and b
    assert ranks(shares, level=0.7) == [1, 2, 3]
    # with the default 97.5%: a and b are not separated (share a rank), c is beaten by both
    assert ranks(shares) == [1, 1, 3]
    assert win_shares(sampled, "higher")[0, 2] == 1.0  # direction flips who wins


def test_paired_bootstrap_separates_what_ci_overlap_cannot():
    """Two entries whose per-sample values differ by a small constant on noisy samples: their CIs
    overlap, yet every paired resample has b ahead, so b alone takes rank 1."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=60)
    a, b = base, base - 0.05  # lower is better: b is better on every sample
    groups = bin_indices(["easy"] * 20 + ["medium"] * 20 + ["hard"] * 20)
    resamples, _ = draws(groups, {}, 500, 0)
    weights = {"easy": 1 / 3, "medium": 1 / 3, "hard": 1 / 3}
    sa, sb = (stratified(v, groups, weights, resamples)["overall"] for v in (a, b))
    ca, cb = interval(sa[1]), interval(sb[1])
    assert cb[1] > ca[0]  # the intervals overlap
    assert ranks(win_shares(np.stack([sa[1], sb[1]]), "lower")) == [2, 1]


def test_stratified_means_and_reweighting_by_hand():
    values = np.array([1.0, 3.0, 10.0, 20.0, 30.0, 100.0])
    bins = ["easy", "easy", "medium", "medium", "medium", "hard"]
    groups = bin_indices(bins)
    weights = {"easy": 0.5, "medium": 0.25, "hard": 0.25}
    stats = stratified(values, groups, weights, draws(groups, {}, 50, 1)[0])
    assert stats["easy"][0] == 2.0 and stats["medium"][0] == 20.0 and stats["hard"][0] == 100.0
    assert stats["overall"][0] == pytest.approx(164 / 6)
    assert stats["reweighted"][0] == pytest.approx(0.5 * 2 + 0.25 * 20 + 0.25 * 100)
    assert np.all(stats["hard"][1] == 100.0)  # one sample: every resample is that sample
    # a bin with weight > 0 and no samples makes the reweighted value NaN, not a silent renormalisation
    groups = bin_indices(["easy", "easy", "medium"])
    assert np.isnan(stratified(values[:3], groups, weights, draws(groups, {}, 10, 0)[0])["reweighted"][0])


def test_permutation_percentile_and_bin_tests_by_hand():
    pool = np.linspace(0, 1, 100)
    top = np.arange(67, 100)  # the easiest third
    result = audit.permutation(pool, top, 500, 0)
    assert result["share_below"] == 1.0 and result["p_easier"] == pytest.approx(1 / 501)
    middle = np.arange(0, 100, 3)  # an even spread
    spread = audit.permutation(pool, middle, 500, 0)
    assert 0.2 < spread["share_below"] < 0.8 and spread["p_easier"] > 0.05 and spread["p_harder"] > 0.05
    tests = audit.bin_tests(["easy"] * 50 + ["hard"] * 50, ["easy"] * 10)
    assert tests["easy"]["count"] == 10 and tests["easy"]["expected"] == 5
    assert tests["easy"]["p"] == pytest.approx(2 * 0.5 ** 10)  # two-sided exact binomial


def test_reweight_by_hand():
    values = np.array([1.0, 1.0, 1.0, 5.0])
    rw = audit.reweight(values, ["easy", "easy", "easy", "hard"], {"easy": 0.5, "hard": 0.5, "medium": 0.0}, 100,
                        np.random.default_rng(0))
    assert rw["value"] == pytest.approx(3.0) and rw["per_bin"]["easy"] == 1.0 and rw["per_bin"]["hard"] == 5.0
    assert np.allclose(rw["draws"], 3.0)  # within-bin resamples of constant bins
