"""GradDiff: ascent on the forget NLL plus descent on the retain NLL (Liu et al., 2022)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from mrd_bench.config import opt
from mrd_bench.methods.base import METHODS, Batch


@METHODS.register("graddiff")
@dataclass(frozen=True)
class GradDiff:
    retain_weight: float = opt(1.0, "α, the weight of the retain NLL")  # −NLL_forget + α·NLL_retain
    retain: ClassVar[str] = "required"
    needs_reference: ClassVar[bool] = False
    needs_refusals: ClassVar[bool] = False
    default_sampler: ClassVar[str] = "uniform"

    def per_sample_loss(self, batch: Batch) -> torch.Tensor:  # [B]
        return -batch.forget_nll + self.retain_weight * batch.retain_nll
