"""What every method shares: the registry, the batch it reads, and token log-probs.

A method is a frozen dataclass with `per_sample_loss(batch) -> [B]`, one value per
forget sample of the batch; the loop averages them. Class variables say what a method
needs: `retain` ("none", "optional" or "required"), `needs_reference` (a frozen copy of
the original model) and `needs_refusals` (refusal answers to the forget questions).
Its dataclass fields, declared with `config.opt`, are its hyperparameters: `hyperparameters()`
makes each a field of `unlearn.Settings` (a flag of every command that trains, stored in the
run record), so a new one touches the method's file only.
`Batch` computes each quantity on first use, so a method pays only for what it reads.
"""
from __future__ import annotations

import typing
from dataclasses import fields
from functools import cached_property
from typing import Optional

import torch

from mrd_bench.config import opt
from mrd_bench.models import IGNORE, gather_logprobs
from mrd_bench.registry import Registry

METHODS: Registry = Registry("method")
Tensors = dict[str, torch.Tensor]  # input_ids, attention_mask, labels: each [B, T]


def hyperparameters() -> list[tuple[str, type, object]]:
    """Every registered method's hyperparameters as (name, type, field) for `dataclasses`, sorted by
    name. A name that several methods declare must have one type and one default there; its help
    names the methods that read it."""
    found: dict[str, dict] = {}
    for method in METHODS.names():
        cls = METHODS.get(method)
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if "help" not in f.metadata:
                raise TypeError(f"method {method!r}: hyperparameter {f.name!r} needs its help text; declare it "
                                f"with config.opt(default, help)")
            seen = found.setdefault(f.name, {"type": hints[f.name], "default": f.default, "help": f.metadata["help"],
                                             "methods": []})
            if (seen["type"], seen["default"]) != (hints[f.name], f.default):
                raise TypeError(f"method {method!r}: hyperparameter {f.name!r} is {hints[f.name]} = {f.default!r}, "
                                f"but {seen['methods'][0]!r} has {seen['type']} = {seen['default']!r}; give one of "
                                "them another name")
            seen["methods"].append(method)
    return [(name, h["type"], opt(h["default"], f"{h['help']} ({', '.join(h['methods'])})"))
            for name, h in sorted(found.items())]


def with_hyperparameters(after: str):
    """Class decorator, under @dataclass: the methods' hyperparameters become fields of the class,
    placed after the field `after`."""
    def add(cls):
        if after not in cls.__annotations__:
            raise TypeError(f"{cls.__name__} has no field {after!r} to place the methods' hyperparameters after")
        extra = hyperparameters()
        taken = [name for name, _, _ in extra if name in cls.__annotations__]
        if taken:
            raise TypeError(f"{cls.__name__} declares {taken}, which a method declares too; keep them in the method")
        annotations = {}
        for name, hint in cls.__annotations__.items():
            annotations[name] = hint
            if name == after:
                for field_name, kind, field_ in extra:
                    annotations[field_name] = kind
                    setattr(cls, field_name, field_)
        cls.__annotations__ = annotations
        return cls
    return add


def token_logprobs(model: torch.nn.Module, tensors: Tensors, *, hits: bool = False):
    """log p(x_t | x_<t) and a scored-token mask, over the columns where any row is scored
    (and, with `hits`, where the greedy next token is the true one).

    The LM head runs only on those columns (`logits_to_keep`), through the model's own
    forward, so data-parallel, LoRA and sharded wrappers see an ordinary call: ([B, C], [B, C]
    [, [B, C]]).
    """
    labels = tensors["labels"][:, 1:]  # [B, T-1]: the token each position predicts
    scored = labels != IGNORE
    cols = scored.any(0).nonzero().squeeze(1)  # [C]
    try:
        logits = model(input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"],
                       logits_to_keep=cols).logits  # [B, C, V]
    except TypeError:  # a model without logits_to_keep
        logits = model(input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"]).logits[:, cols]
    mask, targets = scored[:, cols], labels[:, cols]
    logp = gather_logprobs(logits, targets.clamp(min=0)) * mask
    if not hits:
        return logp, mask
    return logp, mask, (logits.argmax(-1) == targets) & mask


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
    def forget_pass(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One forward of the forget rows: summed answer log-prob, answer tokens, and how many of
        them are the greedy next token (MA's numerator): ([B], [B], [B])."""
        logp, mask, hits = token_logprobs(self.model, self.forget, hits=True)
        return logp.sum(1), mask.sum(1), hits.sum(1)

    @cached_property
    def forget_logp(self) -> torch.Tensor:
        """Summed answer log-prob under the model being unlearned: [B]."""
        return self.forget_pass[0]

    @cached_property
    def forget_nll(self) -> torch.Tensor:
        """Mean answer NLL per token: [B]."""
        total, count, _ = self.forget_pass
        return -total / count.clamp(min=1)

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
