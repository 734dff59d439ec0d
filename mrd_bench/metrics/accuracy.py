"""Forget accuracy (Jia et al., 2024), as the MRD paper uses it: teacher-forced next-token
accuracy on the answer tokens, averaged over the forget samples. Unlearning accuracy is
its complement, UA = 1 − FA.
"""
from __future__ import annotations

from typing import Sequence

from mrd_bench.errors import DataError


def token_accuracy(correct: Sequence[bool]) -> float:
    """One sample's accuracy: the fraction of answer tokens whose argmax prediction is the token.

    `correct`: [T] whether argmax p(· | x_<t) == x_t at each answer token.
    """
    if len(correct) == 0:
        raise DataError("token_accuracy got no answer tokens; pass a sample with a non-empty answer")
    return sum(bool(c) for c in correct) / len(correct)


def forget_accuracy(per_sample: Sequence[float]) -> float:
    """FA: the mean of the per-sample token accuracies, each sample weighing the same."""
    if len(per_sample) == 0:
        raise DataError("forget_accuracy got no samples; pass one token accuracy per forget sample")
    return sum(per_sample) / len(per_sample)


def unlearning_accuracy(fa: float) -> float:
    """UA = 1 − FA: higher means more of the forget answers are no longer reproduced."""
    if not 0.0 <= fa <= 1.0:
        raise DataError(f"forget accuracy {fa} is outside [0, 1]; pass a fraction, not a percentage")
    return 1.0 - fa
