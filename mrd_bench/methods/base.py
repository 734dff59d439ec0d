"""What every method shares: the registry, the batch it reads, and token log-probs.

A method is a frozen dataclass with `per_sample_loss(batch) -> [B]`, one value per
forget sample of the batch; the loop averages them. Class variables say what a method
needs: `retain` ("none", "optional" or "required"), `needs_reference` (a frozen copy of
the original model) and `needs_refusals` (refusal answers to the forget questions).
`Batch` computes each quantity on first use, so a method pays only for what it reads.
"""
from __future__ import annotations

from functools import cached_property
from typing import Optional

import torch

from mrd_bench.models import IGNORE, gather_logprobs
from mrd_bench.registry import Registry

METHODS: Registry = Registry("method")
Tensors = dict[str, torch.Tensor]  # input_ids, attention_mask, labels: each [B, T]


def token_logprobs(model: torch.nn.Module, tensors: Tensors) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(x_t | x_<t) and a scored-token mask, over the columns where any row is scored.

    The LM head runs only on those columns (`logits_to_keep`), through the model's own
    forward, so data-parallel, LoRA and sharded wrappers see an ordinary call: ([B, C], [B, C]).
    """
    labels = tensors["labels"][:, 1:]  # [B, T-1]: the token each position predicts
    scored = labels != IGNORE
    cols = scored.any(0).nonzero().squeeze(1)  # [C]
    try:
        logits = model(input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"],
                       logits_to_keep=cols).logits  # [B, C, V]
    except TypeError:  # a model without logits_to_keep
        logits = model(input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"]).logits[:, cols]
    mask = scored[:, cols]
    return gather_logprobs(logits, labels[:, cols].clamp(min=0)) * mask, mask


def sequence_logprob(model: torch.nn.Module, tensors: Tensors) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-prob of each row's scored tokens, and their number: ([B], [B])."""
    logp, mask = token_logprobs(model, tensors)
    return logp.sum(1), mask.sum(1)


def mean_nll(model: torch.nn.Module, tensors: Tensors) -> torch.Tensor:
    """Each row's mean NLL per scored token: [B]."""
    total, count = sequence_logprob(model, tensors)
    return -total / count.clamp(min=1)


class Batch:
    """One step's data; each property runs its forward pass on first use."""

    def __init__(self, model: torch.nn.Module, forget: Tensors, *, retain: Optional[Tensors] = None,
                 refusal: Optional[Tensors] = None, reference: Optional[torch.nn.Module] = None) -> None:
        self.model, self.forget, self.retain, self.refusal, self.reference = model, forget, retain, refusal, reference

    @cached_property
    def forget_logp(self) -> torch.Tensor:
        """Summed answer log-prob under the model being unlearned: [B]."""
        return sequence_logprob(self.model, self.forget)[0]

    @cached_property
    def forget_nll(self) -> torch.Tensor:
        """Mean answer NLL per token: [B]."""
        return mean_nll(self.model, self.forget)

    @cached_property
    def reference_logp(self) -> torch.Tensor:
        """Summed answer log-prob under the frozen original model: [B]."""
        if self.reference is None:
            raise RuntimeError("this method needs the reference model; the loop did not provide one")
        with torch.no_grad():
            return sequence_logprob(self.reference, self.forget)[0]

    @cached_property
    def refusal_nll(self) -> torch.Tensor:
        """Mean NLL of a refusal answer to each forget question: [B]."""
        if self.refusal is None:
            raise RuntimeError("this method needs refusal answers; the loop did not provide them")
        return mean_nll(self.model, self.refusal)

    @cached_property
    def retain_nll(self) -> torch.Tensor:
        """Mean over the retain batch of each row's mean answer NLL: a scalar (0 without a retain set)."""
        if self.retain is None:
            return torch.zeros((), device=self.forget["input_ids"].device)
        return mean_nll(self.model, self.retain).mean()
