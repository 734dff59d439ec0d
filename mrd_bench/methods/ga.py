"""GA: stochastic gradient ascent on the forget NLL (Jang et al., 2023)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from mrd_bench.methods.base import METHODS, Batch


@METHODS.register("ga")
@dataclass(frozen=True)
class GA:
    retain: ClassVar[str] = "none"
    needs_reference: ClassVar[bool] = False
    needs_refusals: ClassVar[bool] = False
    default_sampler: ClassVar[str] = "uniform"

    def per_sample_loss(self, batch: Batch) -> torch.Tensor:  # [B]
        return -batch.forget_nll
