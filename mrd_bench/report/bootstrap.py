"""Bootstrap 95% intervals of a stratified metric, from lm-eval's --log_samples items.

Each item is what a document gave a metric's per-bin keys (mrd_bench.lmeval.stratified.item):
its value and its bin ("" for a membership test's non-member). A bin's interval resamples
that bin's documents (and, for the Min-K% AUC, the non-members it is compared with); the
overall interval resamples every document. Percentile intervals, seeded.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from mrd_bench.metrics.forget_quality import forget_quality
from mrd_bench.metrics.membership_auc import membership_auc
from mrd_bench.metrics.privleak import privleak

ITERATIONS = 1000
SEED = 0


def _mean(members: np.ndarray, _others: np.ndarray) -> float:
    return float(members.mean())


def _auc(members: np.ndarray, others: np.ndarray) -> float:
    return membership_auc(members, others) if len(others) else math.nan


def statistic(kind: str, reference: Sequence[float] = ()) -> Callable[[np.ndarray, np.ndarray], float]:
    """The per-group statistic: mean, a membership AUC (members vs non-members), privleak (that AUC
    against the retain model's AUC `reference[0]`) or forget quality (KS p against the retain
    model's truth ratios of the same samples, `reference`)."""
    if kind == "fq":
        ref = np.asarray(reference, dtype=float)
        return lambda members, _others: forget_quality(members[:, 0], ref[members[:, 1].astype(int)])
    if kind == "privleak":  # the AUC's privleak against the retain model's AUC, reference[0], held fixed
        return lambda members, others: privleak(_auc(members, others), reference[0])
    return {"mean": _mean, "auc": _auc}[kind]


def interval(members: Sequence, others: Sequence, stat: Callable, *, iterations: int = ITERATIONS,
             seed: int = SEED) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of `stat` over resamples; NaN where it cannot be formed."""
    members, others = np.asarray(members, dtype=float), np.asarray(others, dtype=float)
    if len(members) < 2 or np.isnan(members).any() or np.isnan(others).any():
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(iterations):
        m = members[rng.integers(len(members), size=len(members))]
        o = others[rng.integers(len(others), size=len(others))] if len(others) else others
        value = stat(m, o)
        if not math.isnan(value):
            draws.append(value)
    if len(draws) < iterations // 2:
        return math.nan, math.nan
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(low), float(high)
