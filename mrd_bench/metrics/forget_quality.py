"""Forget quality (TOFU, Maini et al., 2024): the p-value of a two-sample
Kolmogorov–Smirnov test between the forget set's truth ratios under the unlearned model
and under a retain-only model (one never trained on the forget set).

High (near 1) = the two distributions are indistinguishable, as if the forget set had
never been seen; low = the unlearned model still behaves measurably differently.
"""
from __future__ import annotations

from typing import Sequence

from scipy.stats import ks_2samp

from mrd_bench.errors import DataError


def forget_quality(unlearned_truth_ratios: Sequence[float], retain_truth_ratios: Sequence[float]) -> float:
    """KS two-sided p-value; scipy's exact mode on small samples, as open-unlearning runs it."""
    if len(unlearned_truth_ratios) == 0 or len(retain_truth_ratios) == 0:
        raise DataError("forget_quality needs truth ratios from both the unlearned and the "
                        "retain-only model; pass at least one of each")
    return float(ks_2samp(unlearned_truth_ratios, retain_truth_ratios).pvalue)
