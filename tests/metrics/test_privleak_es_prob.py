"""privleak, extraction strength and the paraphrased / perturbed answer probabilities, against
open-unlearning's definitions restated by hand."""
from __future__ import annotations

import math

import pytest

from mrd_bench.metrics.answer_probability import answer_probability, mean_probability
from mrd_bench.metrics.extraction_strength import extraction_strength
from mrd_bench.metrics.privleak import FALLBACK_AUC_REF, privleak


def _ou_privleak(auc, ref_auc):
    """OU privacy.py: score = 1 - score; ref = 1 - ref; (score - ref) / (ref + 1e-10) * 100."""
    score, ref = 1 - auc, 1 - ref_auc
    return (score - ref) / (ref + 1e-10) * 100


@pytest.mark.parametrize("auc,ref,by_hand", [(0.8, 0.5, -60.0), (0.4, 0.55, 100 * 0.15 / 0.45), (0.5, 0.5, 0.0),
                                             (1.0, 0.5, -100.0), (0.3445, 0.5, 31.1)])
def test_privleak_values(auc, ref, by_hand):
    assert privleak(auc, ref) == pytest.approx(by_hand, abs=1e-6)
    assert privleak(auc, ref) == pytest.approx(_ou_privleak(auc, ref), abs=1e-6)


def test_privleak_fallback_and_nan():
    assert FALLBACK_AUC_REF == 0.5
    assert privleak(0.7) == pytest.approx(_ou_privleak(0.7, 0.5), abs=1e-6)
    assert math.isnan(privleak(math.nan, 0.5)) and math.isnan(privleak(0.6, math.nan))
    assert math.isnan(privleak(0.6, 1.0))  # OU's 1e-10 guard would give 4e11 here


def _ou_extraction_strength(preds, labels):
    """OU memorization.py: for k in range(len): if preds[k:] == labels[k:]: break; 1 - k/len."""
    valid_len = len(labels)
    for k in range(valid_len):
        if preds[k:] == labels[k:]:
            break
    return 1 - k / valid_len


@pytest.mark.parametrize("correct,by_hand", [([False, True, True], 2 / 3), ([True, True, True], 1.0),
                                             ([True, True, False], 1 / 3), ([False], 1.0), ([True], 1.0),
                                             ([True, False, True, True, True], 3 / 5)])
def test_extraction_strength(correct, by_hand):
    labels = list(range(len(correct)))
    preds = [t if ok else -1 for t, ok in zip(labels, correct)]
    assert extraction_strength(correct) == pytest.approx(by_hand, abs=1e-12)
    assert extraction_strength(correct) == pytest.approx(_ou_extraction_strength(preds, labels), abs=1e-12)


def test_extraction_strength_needs_tokens():
    with pytest.raises(ValueError):
        extraction_strength([])


def test_answer_probabilities():
    assert answer_probability(-1.0) == pytest.approx(math.exp(-1))
    assert mean_probability([-2.0, -3.0]) == pytest.approx((math.exp(-2) + math.exp(-3)) / 2)
    assert math.isnan(mean_probability([]))
