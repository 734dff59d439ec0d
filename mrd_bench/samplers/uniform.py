"""uniform: a fresh random permutation each epoch, as ordinary training shuffles."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional, Sequence

import torch

from mrd_bench.samplers.base import SAMPLERS, Queue


@SAMPLERS.register("uniform")
@dataclass
class Uniform:
    n: int
    scores: Optional[Sequence[float]] = None  # unused
    needs_scores: ClassVar[bool] = False
    _queue: Queue = field(default_factory=Queue, repr=False)

    def next_batch(self, batch_size: int, generator: torch.Generator) -> list[int]:
        return self._queue.take(batch_size, lambda: torch.randperm(self.n, generator=generator).tolist())

    def update(self, scores: Sequence[float]) -> None:
        pass
