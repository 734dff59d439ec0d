"""Fine-tuning on QA pairs: the NLL of the answer tokens, AdamW, a fixed number of epochs.

This makes the "original" model an unlearner starts from (TOFU's protocol: fine-tune on
the full set). Deterministic on CPU for a given seed: the shuffling and the dropout-free
forward passes depend only on it.
"""
from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Sequence

import torch
from tqdm.auto import tqdm

from mrd_bench.errors import ConfigError, DataError, TrainingDiverged
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
    """Train `model` in place on the answer-token NLL; returns the loss of every step."""
    if not items:
        raise DataError("the fine-tuning set is empty; check the split.")
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    steps_per_epoch = math.ceil(len(items) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup = max(1, int(cfg.warmup_ratio * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (total - step) / max(1, total - warmup)))
    pad = getattr(model.config, "pad_token_id", None) or 0
    model.train()
    losses: list[float] = []
    bar = tqdm(total=total, desc="fine-tune", unit="step", disable=not progress)
    for _ in range(cfg.epochs):
        order = list(range(len(items)))
        rng.shuffle(order)
        for start in range(0, len(order), cfg.batch_size):
            batch = collate([items[i] for i in order[start:start + cfg.batch_size]], pad)
            loss = model(**batch).loss
            if not math.isfinite(loss.item()):
                raise TrainingDiverged(f"fine-tuning diverged at step {len(losses) + 1}: the loss is {loss.item()}; "
                                       f"nothing was saved. Lower --lr (now {cfg.lr:g}) and run again.")
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            bar.update()
    bar.close()
    model.eval()
    return losses


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
