"""Truth ratio (TOFU, Maini et al., 2024).

R = (geometric mean over perturbed answers of P(â | q)^(1/|â|)) / P(ã | q)^(1/|ã|),
where ã is a paraphrase of the right answer and â are perturbed (wrong) answers. Inputs
are length-normalised log-likelihoods (mean log p per token), so
R = exp(mean(perturbed) − paraphrased). R < 1: the model prefers the right answer.

Two summaries of R are in use:
- `true_better` = max(0, 1 − R), used for model utility on retain, real authors and
  world facts (higher = the model still prefers the truth);
- `closer_to_one` = min(R, 1/R), what open-unlearning reports on the forget set
  (1 = no preference between right and wrong answers, the aim of unlearning).
"""
from __future__ import annotations

import math
from typing import Sequence

from mrd_bench.errors import DataError


def truth_ratio(paraphrased: float, perturbed: Sequence[float]) -> float:
    """exp(mean(perturbed) − paraphrased), in log space so tiny probabilities do not underflow."""
    if len(perturbed) == 0:
        raise DataError("truth_ratio got no perturbed answers; pass at least one wrong answer's log p")
    return math.exp(sum(perturbed) / len(perturbed) - paraphrased)


def _check_ratio(ratio: float) -> None:
    if not ratio > 0.0:  # also rejects NaN
        raise DataError(f"truth ratio {ratio} is not positive; pass a value from truth_ratio()")


def true_better(ratio: float) -> float:
    """max(0, 1 − R): model utility's truth-ratio term (retain, real authors, world facts)."""
    _check_ratio(ratio)
    return max(0.0, 1.0 - ratio)


def closer_to_one(ratio: float) -> float:
    """min(R, 1/R): open-unlearning's forget-set truth ratio, 1 when right and wrong tie."""
    _check_ratio(ratio)
    return min(ratio, 1.0 / ratio)
