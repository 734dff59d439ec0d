"""curriculum: every epoch walks the forget set from easy (high MRD) to hard, without replacement."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional, Sequence

import torch

from mrd_bench.samplers.base import SAMPLERS, Queue, check_scores


@SAMPLERS.register("curriculum")
@dataclass
class Curriculum:
    n: int
    scores: Optional[Sequence[float]] = None
    needs_scores: ClassVar[bool] = True
    _queue: Queue = field(default_factory=Queue, repr=False)

    def __post_init__(self) -> None:
        self.update(self.scores)

    def next_batch(self, batch_size: int, generator: torch.Generator) -> list[int]:
        return self._queue.take(batch_size, lambda: sorted(range(self.n), key=lambda i: (-self.scores[i], i)))

    def update(self, scores: Optional[Sequence[float]]) -> None:
        self.scores = check_scores(scores, self.n, "curriculum")  # the next epoch uses the new order
