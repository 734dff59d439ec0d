"""mrd: draw forget samples with probability p_i ∝ MRD_i^τ, with a uniform floor ε.

The MRD paper's Algorithm 2 (τ = 1: easy, high-MRD samples first); its efficiency
analysis uses p_i ∝ 1/MRD_i instead (τ = −1). Batches are drawn with replacement; the
training loop refreshes the scores every m steps with the current weights (Algorithm 2,
lines 8–9) through `update`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional, Sequence

import torch

from mrd_bench.samplers.base import SAMPLERS, check_scores, mrd_probabilities


@SAMPLERS.register("mrd")
@dataclass
class MRDSampler:
    n: int
    scores: Optional[Sequence[float]] = None
    tau: float = 1.0
    floor: float = 0.05
    needs_scores: ClassVar[bool] = True
    probabilities: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.update(self.scores)

    def next_batch(self, batch_size: int, generator: torch.Generator) -> list[int]:
        return torch.multinomial(self.probabilities, batch_size, replacement=True, generator=generator).tolist()

    def update(self, scores: Optional[Sequence[float]]) -> None:
        self.scores = check_scores(scores, self.n, "mrd")
        self.probabilities = mrd_probabilities(self.scores, self.tau, self.floor)
