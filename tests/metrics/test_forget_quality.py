"""Forget quality: the KS two-sample p-value on cases with a known exact null distribution."""
from __future__ import annotations

import pytest

from mrd_bench.errors import DataError
from mrd_bench.metrics.forget_quality import forget_quality


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
