"""privleak (open-unlearning's `privleak`, from MUSE's PrivLeak): how far a membership AUC is from
a retain-only model's AUC for the same attack, relative to that model's distance from "all members".

open-unlearning computes it on 1 − AUC (its AUC is on losses with forget labelled 0):
(score − ref) / (ref + 1e-10) · 100 with score = 1 − AUC and ref = 1 − AUC_ref, which is
(AUC_ref − AUC) / (1 − AUC_ref) · 100 here. 0 = like the retain model; negative = the forget
set is recognised more than a model that never saw it would (leakage); −100 at AUC = 1.

Without a retain model, open-unlearning falls back to AUC_ref = 0.5 (and warns); so does
mrd_bench, and says so in the metric's name in reports. (MUSE's relative difference,
(AUC − AUC_ref) / AUC_ref · 100, is open-unlearning's `rel_diff`: another metric.)
"""
from __future__ import annotations

import math

FALLBACK_AUC_REF = 0.5


def privleak(auc: float, auc_ref: float = FALLBACK_AUC_REF) -> float:
    """(AUC_ref − AUC) / (1 − AUC_ref) · 100, in open-unlearning's arithmetic; NaN if either is NaN
    or AUC_ref = 1 (a retain model that ranks every forget sample above every holdout one)."""
    if math.isnan(auc) or math.isnan(auc_ref) or auc_ref >= 1.0:
        return math.nan  # AUC_ref = 1: no room left to leak; open-unlearning's 1e-10 guard gives ~1e12 there
    score, ref = 1 - auc, 1 - auc_ref
    return (score - ref) / (ref + 1e-10) * 100
