"""Membership-inference AUC: forget samples (members) against never-seen holdout samples
(non-members), for any attack whose score is higher for members.

AUC = P(score(member) > score(non-member)), ties counted half: 1.0 = the forget samples are
still recognised as training data; 0.5 = indistinguishable from holdout data (the aim of
unlearning); below 0.5 = they now look less familiar than unseen data.

open-unlearning's `mia_auc` labels forget 0 and holdout 1 and scores with a loss-like value
(higher = non-member); negating the score and swapping the labels gives the same number.
"""
from __future__ import annotations

from typing import Sequence

from sklearn.metrics import roc_auc_score

from mrd_bench.errors import DataError


def membership_auc(member_scores: Sequence[float], nonmember_scores: Sequence[float]) -> float:
    """ROC AUC with members labelled 1 and the attack's score as the decision value."""
    if len(member_scores) == 0 or len(nonmember_scores) == 0:
        raise DataError("a membership AUC needs member (forget) and non-member (holdout) scores; "
                        "pass at least one of each")
    labels = [1] * len(member_scores) + [0] * len(nonmember_scores)
    return float(roc_auc_score(labels, [*member_scores, *nonmember_scores]))
