"""Min-K% Prob scores and the member-vs-non-member AUC on constructed cases."""
from __future__ import annotations

import pytest

from mrd_bench.errors import DataError
from mrd_bench.metrics.min_k import min_k_auc, min_k_score

LOGPS = [-0.1, -3.0, -0.5, -2.0, -1.0]


def test_min_k_score_by_hand():
    """n = 5 (the Min-K% paper's code and open-unlearning take max(1, int(k·n)) tokens).
    k = 0.4: ⌊2.0⌋ = 2 lowest, −3 and −2, mean −2.5.
    k = 0.5: ⌊2.5⌋ = 2 lowest again (a ceiling would take 3: −2).
    k = 0.1: ⌊0.5⌋ = 0, at least 1: −3.
    k = 1: all, (−0.1 − 3 − 0.5 − 2 − 1)/5 = −6.6/5 = −1.32."""
    assert min_k_score(LOGPS, k=0.4) == pytest.approx(-2.5)
    assert min_k_score(LOGPS, k=0.5) == pytest.approx(-2.5)
    assert min_k_score(LOGPS, k=0.1) == pytest.approx(-3.0)
    assert min_k_score(LOGPS, k=1.0) == pytest.approx(-1.32)


def test_min_k_takes_at_least_one_token_and_ignores_float_noise():
    """One token, k = 0.2: ⌊0.2⌋ = 0, at least 1 → −0.7.
    100 tokens −1..−100, k = 0.29: 0.29·100 is 28.999999999999996 in floats but means 29 tokens,
    −100..−72, mean −86 (28 tokens would give −86.5)."""
    assert min_k_score([-0.7], k=0.2) == pytest.approx(-0.7)
    assert min_k_score([-float(i) for i in range(1, 101)], k=0.29) == pytest.approx(-86.0)


@pytest.mark.parametrize("k", [0.0, -0.1, 1.5])
def test_k_outside_unit_interval_is_a_data_error(k):
    with pytest.raises(DataError):
        min_k_score(LOGPS, k=k)


def test_no_tokens_is_a_data_error():
    with pytest.raises(DataError):
        min_k_score([])


def test_auc_direction():
    """Every member (−1, −0.5) scores above every non-member (−3, −2): 4/4 pairs → AUC 1.0
    (still recognised). Swapped sides: 0/4 pairs → 0.0."""
    assert min_k_auc([-1.0, -0.5], [-3.0, -2.0]) == 1.0
    assert min_k_auc([-3.0, -2.0], [-1.0, -0.5]) == 0.0


def test_auc_counts_ties_half():
    """members (−1, −0.5), non-members (−1, −2); the 4 pairs:
    −1 vs −1 tie 0.5, −1 vs −2 win 1, −0.5 vs −1 win 1, −0.5 vs −2 win 1 → 3.5/4 = 0.875."""
    assert min_k_auc([-1.0, -0.5], [-1.0, -2.0]) == pytest.approx(0.875)


def test_auc_needs_both_sides():
    with pytest.raises(DataError):
        min_k_auc([], [-1.0])
    with pytest.raises(DataError):
        min_k_auc([-1.0], [])
