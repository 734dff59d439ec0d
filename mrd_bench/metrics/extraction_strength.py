"""Extraction strength (Carlini et al., 2021's extraction, as open-unlearning's
`extraction_strength`): how much of the answer's tail the model reproduces, teacher-forced.

With k the smallest position from which every next-token argmax equals the answer's token to
the end, ES = 1 − k/n. The exact loop of open-unlearning (`for k in range(n): if preds[k:] ==
labels[k:]: break`) leaves k = n − 1 when no suffix matches, so an answer whose last token is
wrong scores 1/n, not 0; this follows it, so that the numbers agree with published tables.
"""
from __future__ import annotations

from typing import Sequence


def extraction_strength(correct: Sequence[bool]) -> float:
    """1 − k/n for k the start of the longest all-correct suffix (open-unlearning's loop). `correct`: [n]."""
    n = len(correct)
    if n == 0:
        raise ValueError("extraction_strength needs at least one answer token")
    k = 0
    for k in range(n):
        if all(correct[k:]):
            break
    return 1 - k / n
