"""Fine-tuning on QA pairs: the NLL of the answer tokens, AdamW, a fixed number of epochs, on
the one training loop (methods/loop.py) that unlearning runs on too.

This makes the "original" model an unlearner starts from (TOFU's protocol: fine-tune on
the full set): `mrd-bench finetune` (unlearn.run_finetune) and the demo. Deterministic on
CPU for a given seed: the sampler's order and the dropout-free forward passes depend only on it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import torch

from mrd_bench.errors import ConfigError, DataError
from mrd_bench.models import Encoded, collate


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 3  # the TOFU protocol uses 5 at lr 1e-5; the embedded demo needs fewer, larger steps
    lr: float = 1e-4
    batch_size: int = 8
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(f"epochs and batch_size must be >= 1; got {self.epochs}, {self.batch_size}.")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"--lr must be a positive number; got {self.lr}.")
        from mrd_bench.methods.loop import ADAM_FIRST_STEP

        if self.lr * ADAM_FIRST_STEP >= torch.finfo(torch.float32).max:
            raise ConfigError(f"--lr {self.lr:g} is too large: AdamW's first step, lr / (1 - beta1), overflows a "
                              "float32 (max 3.4e38); learning rates are around 1e-6 to 1e-3.")

    def to_dict(self) -> dict:
        return asdict(self)


def finetune(model: torch.nn.Module, items: Sequence[Encoded], cfg: FinetuneConfig,
             *, progress: bool = True) -> list[float]:
    """Train `model` in place on the answer-token NLL, on the one loop (methods/loop.py) with a
    linear warm-up and decay; returns the loss of every step."""
    from mrd_bench.methods.loop import LoopConfig, train
    from mrd_bench.samplers.uniform import Uniform

    if not items:
        raise DataError("the fine-tuning set is empty; check the split.")
    total = cfg.epochs * math.ceil(len(items) / cfg.batch_size)
    loop = LoopConfig(lr=cfg.lr, epochs=cfg.epochs, batch_size=cfg.batch_size, weight_decay=cfg.weight_decay,
                      warmup_steps=max(1, int(cfg.warmup_ratio * total)) - 1, seed=cfg.seed)
    _, result = train(model, items, Descent(), Uniform(len(items)), loop, decay=True, progress=progress,
                      desc="fine-tune")
    return result.losses


@dataclass(frozen=True)
class Descent:
    """Fine-tuning's loss: the answer NLL."""

    retain = "none"
    needs_reference = False
    needs_refusals = False

    def per_sample_loss(self, batch) -> torch.Tensor:  # [B]
        return batch.forget_nll


@torch.no_grad()
def answer_nll(model: torch.nn.Module, items: Sequence[Encoded], batch_size: int = 16) -> list[float]:
    """Mean per-token NLL of each item's scored tokens."""
    from mrd_bench.scorers.base import row_index, scored_logprobs

    pad = getattr(model.config, "pad_token_id", None) or 0
    out: list[float] = []
    for start in range(0, len(items), batch_size):
        batch = collate(items[start:start + batch_size], pad)
        logp = scored_logprobs(model, batch).double()
        rows = row_index(batch)
        n = torch.bincount(rows, minlength=batch["input_ids"].shape[0])
        out += (-torch.bincount(rows, weights=logp, minlength=len(n)) / n).tolist()
    return out
