"""Min-K% Prob membership inference (Shi et al., 2024, "Detecting Pretraining Data from
Large Language Models").

A text's score is the mean log p of its max(1, ⌊k·n⌋) least likely tokens (the paper's
code and open-unlearning's `min_k` both take int(k·n)): text seen in training
has fewer surprising tokens, so it scores higher. The AUC compares forget samples
(members) with never-seen holdout samples (non-members):
AUC = P(score(member) > score(non-member)), ties counted half.
1.0 = the forget samples are still perfectly recognised as training data;
0.5 = indistinguishable from holdout data (the aim of unlearning);
below 0.5 = the forget samples now look *less* familiar than unseen data.
"""
from __future__ import annotations

import math
from typing import Sequence

from mrd_bench.errors import DataError
from mrd_bench.metrics.membership_auc import membership_auc


def min_k_score(logprobs: Sequence[float], k: float = 0.4) -> float:
    """Mean of the max(1, ⌊k·n⌋) lowest token log-probs. `logprobs`: [n]."""
    if not 0.0 < k <= 1.0:
        raise DataError(f"Min-K% fraction k={k} is outside (0, 1]; pass e.g. 0.2 for 20%")
    if len(logprobs) == 0:
        raise DataError("min_k_score got no token log-probs; pass a text with at least one scored token")
    # round first: 0.29 * 100 is 28.999999999999996 in floats, and floor would make it 28
    count = max(1, math.floor(round(k * len(logprobs), 9)))
    lowest = sorted(logprobs)[:count]
    return sum(lowest) / len(lowest)


def min_k_auc(member_scores: Sequence[float], nonmember_scores: Sequence[float]) -> float:
    """ROC AUC with members labelled 1 and the Min-K% score as the decision value."""
    return membership_auc(member_scores, nonmember_scores)
