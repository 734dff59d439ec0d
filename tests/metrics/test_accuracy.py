"""Forget accuracy and unlearning accuracy on hand-counted cases."""
from __future__ import annotations

import pytest

from mrd_bench.errors import DataError
from mrd_bench.metrics.accuracy import forget_accuracy, token_accuracy, unlearning_accuracy


def test_token_accuracy_by_hand():
    """4 answer tokens, argmax right on 3 of them: 3/4 = 0.75."""
    assert token_accuracy([True, False, True, True]) == pytest.approx(0.75)


def test_forget_accuracy_is_the_mean_over_samples():
    """(0.75 + 0.25 + 0.5)/3 = 1.5/3 = 0.5; UA = 1 − 0.5 = 0.5, and 1 − 0.75 = 0.25."""
    assert forget_accuracy([0.75, 0.25, 0.5]) == pytest.approx(0.5)
    assert unlearning_accuracy(0.5) == pytest.approx(0.5)
    assert unlearning_accuracy(0.75) == pytest.approx(0.25)


def test_empty_inputs_are_data_errors():
    with pytest.raises(DataError):
        token_accuracy([])
    with pytest.raises(DataError):
        forget_accuracy([])


@pytest.mark.parametrize("fa", [-0.1, 1.5, 75.0, float("nan")])
def test_unlearning_accuracy_rejects_a_non_fraction(fa):
    with pytest.raises(DataError):
        unlearning_accuracy(fa)
