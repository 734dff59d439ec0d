"""Answer probabilities of the paraphrased and the perturbed answers (open-unlearning's
forget_Q_A_PARA_Prob and forget_Q_A_PERT_Prob): exp(mean token log p) of each answer; for the
perturbed answers, the arithmetic mean over them (open-unlearning's `aggregate_to_1D`)."""
from __future__ import annotations

import math
from typing import Sequence


def answer_probability(mean_logp: float) -> float:
    """exp(mean log p per answer token)."""
    return math.exp(mean_logp)


def mean_probability(mean_logps: Sequence[float]) -> float:
    """The arithmetic mean of exp(mean log p) over several answers (NaN for none)."""
    return sum(math.exp(m) for m in mean_logps) / len(mean_logps) if len(mean_logps) else math.nan
