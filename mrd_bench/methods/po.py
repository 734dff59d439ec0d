"""PO: fine-tune the forget questions toward refusal answers, plus the retain NLL (Maini et al., 2024)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from mrd_bench.config import opt
from mrd_bench.methods.base import METHODS, Batch


@METHODS.register("po")
@dataclass(frozen=True)
class PO:
    retain_weight: float = opt(1.0, "α, the weight of the retain NLL")  # NLL_refusal + α·NLL_retain
    retain: ClassVar[str] = "required"
    needs_reference: ClassVar[bool] = False
    needs_refusals: ClassVar[bool] = True
    default_sampler: ClassVar[str] = "uniform"

    def per_sample_loss(self, batch: Batch) -> torch.Tensor:  # [B]
        return batch.refusal_nll + self.retain_weight * batch.retain_nll
