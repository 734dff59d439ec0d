"""CGA: Curriculum Gradient Ascent, the MRD paper's GA with the MRD sampler (Algorithm 2)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from mrd_bench.methods.base import METHODS, Batch
from mrd_bench.methods.ga import GA


@METHODS.register("cga")
@dataclass(frozen=True)
class CGA:
    retain: ClassVar[str] = "none"
    needs_reference: ClassVar[bool] = False
    needs_refusals: ClassVar[bool] = False
    default_sampler: ClassVar[str] = "mrd"  # what makes GA curriculum GA

    def per_sample_loss(self, batch: Batch) -> torch.Tensor:  # [B]
        return GA().per_sample_loss(batch)
