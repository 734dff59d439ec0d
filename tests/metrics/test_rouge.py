"""ROUGE-L recall on cases worked through rouge_score's tokenizer by hand:
lowercase, non-alphanumerics to spaces, Porter stemming of words longer than 3 characters."""
from __future__ import annotations

import pytest

from mrd_bench.metrics.rouge import rougeL_recall


def test_stemming_makes_inflections_match():
    """reference "the dog runs" → [the, dog, run] ("dog" is 3 letters, not stemmed; runs → run);
    prediction "The dogs were running." → [the, dog, were, run] (dogs → dog, were → were,
    running → run). LCS = the, dog, run = 3 → recall 3/3 = 1.0
    (unstemmed it would be just "the": 1/3)."""
    assert rougeL_recall("The dogs were running.", "the dog runs") == pytest.approx(1.0)


def test_order_matters():
    """prediction "running dogs" → [run, dog]; reference "the dog runs" → [the, dog, run].
    dog comes before run in the reference but after it in the prediction, so
    LCS = 1 ("dog" or "run") → recall 1/3 ≈ 0.3333."""
    assert rougeL_recall("running dogs", "the dog runs") == pytest.approx(1 / 3)


def test_recall_ignores_extra_predicted_words():
    """reference "Tartu, Estonia" → [tartu, estonia]; the prediction contains both in order
    among extra words: LCS 2 / 2 reference tokens = 1.0 (precision would be 2/6)."""
    assert rougeL_recall("She was born in Tartu Estonia", "Tartu, Estonia") == pytest.approx(1.0)


def test_empty_reference_scores_zero():
    """No reference tokens: nothing to recall, rouge_score returns 0."""
    assert rougeL_recall("anything", "") == 0.0
