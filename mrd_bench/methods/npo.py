"""NPO: Negative Preference Optimization (Zhang et al., 2024, Eq. 3), optionally with the retain NLL.

L = −(2/β)·log σ(−β·(log π_θ(y|x) − log π_ref(y|x))), with π_ref the original model and
log π the summed log-prob of the answer. With a retain set the loss adds α·NLL_retain.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from mrd_bench.config import opt
from mrd_bench.errors import ConfigError
from mrd_bench.methods.base import METHODS, Batch


@METHODS.register("npo")
@dataclass(frozen=True)
class NPO:
    beta: float = opt(0.1, "NPO's inverse temperature β")
    retain_weight: float = opt(1.0, "α, the weight of the retain NLL")  # used when a retain set is given
    retain: ClassVar[str] = "optional"
    needs_reference: ClassVar[bool] = True
    needs_refusals: ClassVar[bool] = False
    default_sampler: ClassVar[str] = "uniform"

    def __post_init__(self) -> None:
        if not self.beta > 0:
            raise ConfigError(f"NPO's beta must be positive; got {self.beta}.")

    def per_sample_loss(self, batch: Batch) -> torch.Tensor:  # [B]
        log_ratio = batch.forget_logp - batch.reference_logp
        return -2 / self.beta * F.logsigmoid(-self.beta * log_ratio) + self.retain_weight * batch.retain_nll
