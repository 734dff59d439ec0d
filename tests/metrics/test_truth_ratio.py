"""Truth ratio and its two summaries on hand-computed cases."""
from __future__ import annotations

import math

import pytest

from mrd_bench.errors import DataError
from mrd_bench.metrics.truth_ratio import closer_to_one, true_better, truth_ratio


def test_truth_ratio_by_hand():
    """perturbed mean log p = (−2 + −4)/2 = −3, paraphrased −1
    → exp(−3 − (−1)) = exp(−2) ≈ 0.1353."""
    assert truth_ratio(-1.0, [-2.0, -4.0]) == pytest.approx(math.exp(-2.0))
    assert truth_ratio(-1.0, [-2.0, -4.0]) == pytest.approx(0.135335, rel=1e-5)


def test_truth_ratio_is_computed_in_log_space():
    """paraphrased −1000, perturbed [−1001] → exp(−1001 − (−1000)) = exp(−1) ≈ 0.3679,
    where exp(−1001)/exp(−1000) would be 0/0 in floats."""
    assert truth_ratio(-1000.0, [-1001.0]) == pytest.approx(math.exp(-1.0))


def test_summaries_by_hand():
    """R = exp(−2) ≈ 0.1353: true_better = 1 − 0.1353 = 0.8647,
    closer_to_one = min(0.1353, 1/0.1353 = 7.389) = 0.1353.
    R = 2: true_better = max(0, 1 − 2) = 0, closer_to_one = min(2, 1/2) = 0.5.
    R = 1: true_better = 0, closer_to_one = 1."""
    r = math.exp(-2.0)
    assert true_better(r) == pytest.approx(1 - r)
    assert closer_to_one(r) == pytest.approx(r)
    assert true_better(2.0) == 0.0
    assert closer_to_one(2.0) == pytest.approx(0.5)
    assert true_better(1.0) == 0.0
    assert closer_to_one(1.0) == pytest.approx(1.0)


def test_no_perturbed_answers_is_a_data_error():
    with pytest.raises(DataError):
        truth_ratio(-1.0, [])


@pytest.mark.parametrize("summary", [true_better, closer_to_one])
@pytest.mark.parametrize("ratio", [0.0, -0.5, float("nan")])
def test_non_positive_ratio_is_a_data_error(summary, ratio):
    with pytest.raises(DataError):
        summary(ratio)
