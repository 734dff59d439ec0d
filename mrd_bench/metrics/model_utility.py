"""Model utility (TOFU, Maini et al., 2024; open-unlearning's definition): the harmonic
mean of nine numbers: answer probability, ROUGE-L recall and truth ratio (`true_better`)
on each of retain, real authors and world facts.

On real authors and world facts the probability is normalised over the answer options:
p_correct / (p_correct + Σ p_wrong).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

from scipy.special import logsumexp
from scipy.stats import hmean

from mrd_bench.errors import DataError


def model_utility(values: Mapping[str, float]) -> float:
    """Harmonic mean of `values` (name -> value, all >= 0).

    Any zero makes the result 0: one collapsed ability sinks utility, by design.
    """
    if not values:
        raise DataError("model_utility got no values; pass TOFU's nine retain, real-authors "
                        "and world-facts numbers")
    bad = {name: v for name, v in values.items() if not v >= 0.0}  # also catches NaN
    if bad:
        raise DataError(f"model_utility values must be >= 0, got {bad}; pass probabilities, "
                        "ROUGE recalls and true_better truth ratios")
    return float(hmean(list(values.values())))


def option_probability(correct_logprob: float, option_logprobs: Sequence[float]) -> float:
    """p_correct / (p_correct + Σ p_wrong) from length-normalised log-likelihoods.

    `option_logprobs`: the wrong options only, [n_wrong]. Computed as a softmax with
    logsumexp: exp of such log-likelihoods underflows on long or unlikely answers.
    """
    if len(option_logprobs) == 0:
        raise DataError("option_probability got no wrong options; pass the other answer options' log p")
    return math.exp(correct_logprob - float(logsumexp([correct_logprob, *option_logprobs])))
