"""Forget quality: the KS two-sample p-value on cases with a known exact null distribution."""
from __future__ import annotations

import pytest

from mrd_bench.errors import DataError
from scipy.stats import ks_2samp

from mrd_bench.metrics.forget_quality import forget_quality, weighted_forget_quality, weighted_ks_statistic


def test_identical_samples_are_indistinguishable():
    """Same five values on both sides: the empirical CDFs coincide, D = 0, p = P(D ≥ 0) = 1."""
    ratios = [0.1, 0.2, 0.3, 0.4, 0.5]
    assert forget_quality(ratios, ratios) == pytest.approx(1.0)


def test_fully_separated_samples_give_the_exact_small_p():
    """n = m = 5, all unlearned ratios below all retain ratios: D = 1.
    With n, m this small scipy's default ('auto') uses the exact null distribution: all
    C(10, 5) = 252 ways to split the 10 pooled ranks into the two samples are equally likely,
    and D reaches 1 only when one sample holds the 5 lowest ranks, 2 ways (either sample
    lowest) → two-sided p = P(D ≥ 1) = 2/252 = 1/126 ≈ 0.00794."""
    p = forget_quality([0.1, 0.2, 0.3, 0.4, 0.5], [0.6, 0.7, 0.8, 0.9, 1.0])
    assert p == pytest.approx(2 / 252)


def test_empty_side_is_a_data_error():
    with pytest.raises(DataError):
        forget_quality([], [0.5])
    with pytest.raises(DataError):
        forget_quality([0.5], [])


def test_weighted_ks_statistic_by_hand():
    """a = [1, 2] with weights 3 and 1 (CDF 0.75 at 1, 1 at 2); b = [1.5] (CDF 0 below 1.5, 1 from it).
    Grid 1, 1.5, 2: |0.75 − 0|, |0.75 − 1|, |1 − 1| → D = 0.75 (unweighted it would be 0.5)."""
    assert weighted_ks_statistic([1, 2], [1.5], [3, 1], [1]) == pytest.approx(0.75)
    assert weighted_ks_statistic([1, 2], [1.5], [1, 1], [1]) == pytest.approx(0.5)


def test_equal_weights_are_the_ordinary_forget_quality():
    a, b = [0.1, 0.4, 0.5, 0.9, 1.3], [0.2, 0.3, 0.6, 0.7, 1.0, 1.1]
    assert weighted_forget_quality(a, b, [2.0] * 5, [0.5] * 6) == forget_quality(a, b)


def test_weighted_p_value_uses_effective_sizes():
    """Weights [1, 1, 2, 2] have Kish size 6²/10 = 3.6; against four equal weights (size 4)
    n·m/(n + m) = 14.4/7.6 ≈ 1.89, rounded to 2: the p-value is kstwo's at n = 2. Nearly equal
    weights give nearly ks_2samp's asymptotic p."""
    from scipy.stats import kstwo

    a, b = [0.1, 0.2, 0.3, 0.4], [0.25, 0.35, 0.45, 0.55]
    d = weighted_ks_statistic(a, b, [1, 1, 2, 2], [1, 1, 1, 1])
    assert weighted_forget_quality(a, b, [1, 1, 2, 2], [1] * 4) == pytest.approx(kstwo.sf(d, 2))
    a, b = list(range(0, 40, 2)), list(range(5, 45, 2))
    near = weighted_forget_quality(a, b, [1.0] * 19 + [1.000001], [1.0] * 20)
    assert near == pytest.approx(ks_2samp(a, b, method="asymp").pvalue, rel=1e-3)
