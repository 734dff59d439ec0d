"""Forget quality (TOFU, Maini et al., 2024): the p-value of a two-sample
Kolmogorov–Smirnov test between the forget set's truth ratios under the unlearned model
and under a retain-only model (one never trained on the forget set).

High (near 1) = the two distributions are indistinguishable, as if the forget set had
never been seen; low = the unlearned model still behaves measurably differently.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.stats import ks_2samp, kstwo

from mrd_bench.errors import DataError


def forget_quality(unlearned_truth_ratios: Sequence[float], retain_truth_ratios: Sequence[float]) -> float:
    """KS two-sided p-value; scipy's exact mode on small samples, as open-unlearning runs it."""
    if len(unlearned_truth_ratios) == 0 or len(retain_truth_ratios) == 0:
        raise DataError("forget_quality needs truth ratios from both the unlearned and the "
                        "retain-only model; pass at least one of each")
    return float(ks_2samp(unlearned_truth_ratios, retain_truth_ratios).pvalue)


def weighted_ks_statistic(a: Sequence[float], b: Sequence[float], wa: Sequence[float], wb: Sequence[float]) -> float:
    """sup_x |F_a(x) − F_b(x)| between two weighted empirical CDFs (F(x) = Σ_{a_i ≤ x} w_i / Σ w)."""
    a, b, wa, wb = (np.asarray(x, dtype=float) for x in (a, b, wa, wb))
    grid = np.union1d(a, b)
    cdf_a = np.array([wa[a <= x].sum() for x in grid]) / wa.sum()
    cdf_b = np.array([wb[b <= x].sum() for x in grid]) / wb.sum()
    return float(np.abs(cdf_a - cdf_b).max())


def weighted_forget_quality(unlearned_truth_ratios: Sequence[float], retain_truth_ratios: Sequence[float],
                            unlearned_weights: Sequence[float], retain_weights: Sequence[float]) -> float:
    """Forget quality with each sample weighted (e.g. to a reference difficulty mix).

    The statistic is the KS distance between the weighted empirical CDFs; its p-value is
    the two-sample asymptotic one (scipy's `ks_2samp(method="asymp")`: kstwo at
    n·m/(n+m)) with Kish's effective sizes n = (Σw)²/Σw². Equal weights give ks_2samp
    itself (exact on small samples), so the unweighted forget quality is the special case.
    """
    if len(unlearned_truth_ratios) == 0 or len(retain_truth_ratios) == 0:
        raise DataError("forget_quality needs truth ratios from both the unlearned and the "
                        "retain-only model; pass at least one of each")
    wa, wb = np.asarray(unlearned_weights, dtype=float), np.asarray(retain_weights, dtype=float)
    if np.ptp(wa) == 0 and np.ptp(wb) == 0:
        return forget_quality(unlearned_truth_ratios, retain_truth_ratios)
    d = weighted_ks_statistic(unlearned_truth_ratios, retain_truth_ratios, wa, wb)
    n, m = wa.sum() ** 2 / (wa ** 2).sum(), wb.sum() ** 2 / (wb ** 2).sum()
    return float(kstwo.sf(d, max(1, round(n * m / (n + m)))))
