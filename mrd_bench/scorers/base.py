"""What every scorer shares: the registry, the Protocol its entries implement, prepared batches,
and scored log-probs.

An MRD estimator (scorers/mrd.py) is registered in ESTIMATORS and implements `Estimator`;
`runner.score_items` drives it (chunks, streaming, resume, shards). The number it writes
is read back through the difficulty signal `mrd_<name>` (signals/mrd.py), which says which
way it points; tests/test_signals.py checks that every estimator has that signal.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol, Sequence, runtime_checkable

import torch

from mrd_bench.models import IGNORE, gather_logprobs
from mrd_bench.registry import Registry



@runtime_checkable
class Estimator(Protocol):
    """One way to estimate MRD: a frozen dataclass of its settings (σ, ...) with these members."""

    noise: ClassVar[str]  # the perturbation each draw k uses: "gaussian" or "rademacher" (perturb.py)
    default_draws: ClassVar[int]  # K when the user gives none

    def draw(self, model: torch.nn.Module, perturb, batches: Sequence["Prepared"], k: int) -> list[torch.Tensor]:
        """Draw k's value for every row of every batch: one [B] tensor per batch."""

    def summarize(self, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The score and its standard error from all draws: [K, B] -> ([B], [B])."""


ESTIMATORS: Registry[type[Estimator]] = Registry("estimator")


def scored_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits at the scored tokens only, row-major, and those tokens: ([N, V], [N]).

    The LM head runs only where a token is scored, not at every position: on a
    49k-word vocabulary the head is a large part of a small model's forward cost.
    """
    labels = batch["labels"][:, 1:]  # [B, T-1]
    scored = labels != IGNORE
    if getattr(model.config, "final_logit_softcapping", None):  # head math lives in forward
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        logits = logits[:, :-1][scored]  # [N, V]
    else:
        hidden = model.base_model(input_ids=batch["input_ids"],
                                  attention_mask=batch["attention_mask"]).last_hidden_state
        logits = model.get_output_embeddings()(hidden[:, :-1][scored])  # [N, V]
    return logits, labels[scored]


def scored_logprobs(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """log p(x_t | x_<t) at the scored tokens only, flattened row-major: [N]."""
    logits, targets = scored_logits(model, batch)
    return gather_logprobs(logits, targets)  # [N], float32 at least


def row_index(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The batch row of each scored token, matching `scored_logprobs`' order: [N]."""
    return (batch["labels"][:, 1:] != IGNORE).nonzero()[:, 0]


@dataclass
class Prepared:
    """A batch with its unperturbed log-probs: the fixed reference every draw compares to."""

    tensors: dict[str, torch.Tensor]  # input_ids, attention_mask, labels: [B, T]
    rows: torch.Tensor  # [N] batch row of each scored token
    p0: torch.Tensor  # [N] float64 log p at θ
    denom: torch.Tensor  # [N] p0 with |p0| clamped up to eps
    size: int

    def per_row(self, values: torch.Tensor) -> torch.Tensor:
        """Sum token values into their rows: [N] -> [B]."""
        return torch.zeros(self.size, dtype=values.dtype, device=values.device).index_add_(0, self.rows, values)

    def ratio(self, p: torch.Tensor) -> torch.Tensor:
        """r(δ) per row: Σ_t (P_t(θ) − P_t(θ+δ)) / P_t(θ): [B]."""
        return self.per_row((self.p0 - p.double()) / self.denom)


def prepare(model: torch.nn.Module, tensors: dict[str, torch.Tensor], eps: float) -> Prepared:
    with torch.no_grad():
        p0 = scored_logprobs(model, tensors).double()
    return Prepared(tensors, row_index(tensors), p0, p0.clamp(max=-eps), int(tensors["input_ids"].shape[0]))
