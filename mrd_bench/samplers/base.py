"""What every sampler shares: the registry and MRD-derived sampling probabilities.

A sampler is built with the forget set's size, its MRD scores (aligned to the forget
samples; None for samplers that need none) and its settings; the training loop calls
`next_batch(batch_size, generator)` once per step and `update(scores)` when the MRD
scores are refreshed. Only the generator the loop passes in is random, so a run replays
exactly from its seed.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from mrd_bench.errors import ConfigError, DataError
from mrd_bench.registry import Registry

SAMPLERS: Registry = Registry("sampler")


def check_scores(scores: Optional[Sequence[float]], n: int, name: str) -> list[float]:
    if scores is None:
        raise ConfigError(f"the {name} sampler needs MRD scores of the forget set; pass --scores "
                          "scores.jsonl (from `mrd-bench score`) or let unlearn score them (omit --scores).")
    scores = [float(s) for s in scores]
    if len(scores) != n:
        raise DataError(f"{len(scores)} MRD scores for {n} forget samples; score the same forget split.")
    if not all(math.isfinite(s) and s >= 0 for s in scores):
        raise DataError("MRD scores must be finite and non-negative; re-run `mrd-bench score`.")
    return scores


def mrd_probabilities(scores: Sequence[float], tau: float = 1.0, floor: float = 0.05) -> torch.Tensor:
    """p_i = (1 − ε)·MRD_i^τ / Σ_j MRD_j^τ + ε/n: [n] float64.

    τ = 1 is the MRD paper's Algorithm 2 (high MRD = easy, drawn first); τ = −1 its
    efficiency analysis (p ∝ 1/MRD, hard samples drawn more). The uniform floor ε keeps
    every sample's probability at least ε/n, so none is starved. For τ < 0 a zero score is
    raised to the smallest positive one (MRD^τ stays finite); all zero gives uniform.
    """
    if not 0 <= floor <= 1:
        raise ConfigError(f"the uniform floor ε must lie in [0, 1]; got {floor}.")
    if not math.isfinite(tau):
        raise ConfigError(f"τ must be a finite number; got {tau}.")
    s = torch.tensor(list(scores), dtype=torch.float64)
    n = len(s)
    positive = s[s > 0]
    if n == 0:
        raise DataError("no MRD scores to sample from; the forget set is empty.")
    if positive.numel() == 0:
        return torch.full((n,), 1.0 / n, dtype=torch.float64)
    if tau < 0:
        s = s.clamp(min=float(positive.min()))
    w = torch.exp(tau * (s.log() - s.log().max()))  # MRD^τ, scaled to avoid overflow (0^τ = 0 for τ > 0)
    return (1 - floor) * w / w.sum() + floor / n


class Queue:
    """Indices handed out in order without replacement; refilled by `refill` each epoch."""

    def __init__(self) -> None:
        self._items: list[int] = []

    def take(self, batch_size: int, refill) -> list[int]:
        if not self._items:
            self._items = list(refill())
        batch, self._items = self._items[:batch_size], self._items[batch_size:]
        return batch
