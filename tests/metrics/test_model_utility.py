"""Model utility's harmonic mean and the option-normalised probability, by hand."""
from __future__ import annotations

import math

import pytest

from mrd_bench.errors import DataError
from mrd_bench.metrics.model_utility import model_utility, option_probability


def test_harmonic_mean_by_hand():
    """hmean(0.5, 0.25) = 2 / (1/0.5 + 1/0.25) = 2 / (2 + 4) = 1/3.
    Nine values all 0.5: 9 / (9 · 2) = 0.5."""
    assert model_utility({"retain_prob": 0.5, "retain_rougeL": 0.25}) == pytest.approx(1 / 3)
    assert model_utility({f"v{i}": 0.5 for i in range(9)}) == pytest.approx(0.5)


def test_any_zero_sinks_utility():
    """1/0 = ∞ in the denominator → hmean 0."""
    assert model_utility({"a": 0.9, "b": 0.0, "c": 0.8}) == 0.0


def test_empty_or_negative_is_a_data_error():
    with pytest.raises(DataError):
        model_utility({})
    with pytest.raises(DataError):
        model_utility({"a": 0.5, "b": -0.1})
    with pytest.raises(DataError):
        model_utility({"a": 0.5, "b": float("nan")})


def test_option_probability_by_hand():
    """log p: correct log 0.6, wrong log 0.2 twice → 0.6 / (0.6 + 0.2 + 0.2) = 0.6.
    correct −1, wrong −1 and −2 → e⁻¹ / (e⁻¹ + e⁻¹ + e⁻²) = 1 / (2 + e⁻¹)
    = 1/2.3679 ≈ 0.4223."""
    assert option_probability(math.log(0.6), [math.log(0.2), math.log(0.2)]) == pytest.approx(0.6)
    assert option_probability(-1.0, [-1.0, -2.0]) == pytest.approx(1 / (2 + math.exp(-1)))
    assert option_probability(-1.0, [-1.0, -2.0]) == pytest.approx(0.422319, rel=1e-5)


def test_option_probability_is_stable():
    """correct −1000, one wrong −1000: equal options → 1/2, where exp(−1000) is 0 in floats (0/0)."""
    assert option_probability(-1000.0, [-1000.0]) == pytest.approx(0.5)


def test_option_probability_needs_wrong_options():
    with pytest.raises(DataError):
        option_probability(-1.0, [])
