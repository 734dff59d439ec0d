"""Min-K%++ (Zhang et al., 2025, "Min-K%++: Improved Baseline for Detecting Pre-Training Data").

Each answer token's log p is standardised by the model's next-token distribution at that
position: z_t = (log p(x_t) − μ_t) / σ_t, with μ_t = E_{v∼p}[log p(v)] and
σ_t² = E_{v∼p}[(log p(v))²] − μ_t² (the variance of the log-prob under the model's own
distribution). The score is the mean of the max(1, ⌊k·n⌋) lowest z_t.

As open-unlearning's `min_k_plus_plus` attack: σ_t² is clamped at 1e-6 before the square
root, and k = 0.4; it reports −score (loss-like), which gives the same AUC.
"""
from __future__ import annotations

import math
from typing import Sequence

from mrd_bench.metrics.min_k import min_k_score

VAR_FLOOR = 1e-6


def standardised(logprobs: Sequence[float], vocab_mean: Sequence[float], vocab_var: Sequence[float]) -> list[float]:
    """z_t = (log p_t − μ_t) / sqrt(max(σ_t², 1e-6)), per answer token."""
    if not len(logprobs) == len(vocab_mean) == len(vocab_var):
        raise ValueError(f"need one mean and variance per token; got {len(logprobs)}, {len(vocab_mean)} and "
                         f"{len(vocab_var)}")
    return [(lp - mu) / math.sqrt(max(var, VAR_FLOOR)) for lp, mu, var in zip(logprobs, vocab_mean, vocab_var)]


def min_k_pp_score(logprobs: Sequence[float], vocab_mean: Sequence[float], vocab_var: Sequence[float],
                   k: float = 0.4) -> float:
    """Mean of the max(1, ⌊k·n⌋) lowest standardised token log-probs (higher = more likely a member)."""
    return min_k_score(standardised(logprobs, vocab_mean, vocab_var), k)
