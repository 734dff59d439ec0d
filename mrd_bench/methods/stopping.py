"""The MRD paper's early-stopping rule: stop when the forget set's Memorization Accuracy
and Extraction Likelihood both fall below their averages on the initial model.

The averages (the threshold) come from a threshold set scored once, before training;
`unlearn` takes TOFU's never-trained holdout authors by default (Jang et al., 2023, whose
MA/EL rule the MRD paper uses). MA needs one forward pass; EL_n needs a greedy
continuation from every prefix, so a check computes EL only once MA is below threshold,
and `stride` (every s-th prefix) and `horizon` (the first h tokens of each suffix) bound
its cost.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from mrd_bench.metrics.memorization import extraction_likelihood, memorization_accuracy
from mrd_bench.models import IGNORE, Encoded, collate
from mrd_bench.scorers.base import row_index, scored_logits


def mean(values: Sequence[float]) -> float:
    """Mean over the finite values (an answer shorter than n has no EL)."""
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


@dataclass(frozen=True)
class Threshold:
    ma: float
    el: float


@dataclass(frozen=True)
class Memorization:
    """How MA and EL_n are measured."""

    n: int = 3  # EL's n-gram size
    stride: int = 4  # EL uses every stride-th prefix of the answer
    horizon: Optional[int] = None  # EL compares the first `horizon` tokens of each suffix
    batch_size: int = 32

    @torch.no_grad()
    def ma(self, model, items: Sequence[Encoded]) -> list[float]:
        """MA of each item's scored tokens under teacher forcing."""
        pad = getattr(model.config, "pad_token_id", None) or 0
        device = next(model.parameters()).device
        out: list[float] = [0.0] * len(items)
        order = sorted(range(len(items)), key=lambda i: len(items[i].input_ids))
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            batch = {k: v.to(device) for k, v in collate([items[i] for i in rows], pad).items()}
            logits, targets = scored_logits(model, batch)
            index = row_index(batch)
            predicted = logits.argmax(-1)
            for r, i in enumerate(rows):
                here = index == r
                out[i] = memorization_accuracy(predicted[here].tolist(), targets[here].tolist())
        return out

    @torch.no_grad()
    def el(self, model, items: Sequence[Encoded], eos_id: Optional[int]) -> list[float]:
        """EL_n of each item: greedy continuations from every stride-th prefix of its answer."""
        pad = getattr(model.config, "pad_token_id", None) or 0
        device = next(model.parameters()).device
        jobs = []  # (item, prefix, true suffix)
        for j, e in enumerate(items):
            start = next(i for i, label in enumerate(e.labels) if label != IGNORE)
            for t in range(start, len(e.input_ids) - self.n + 1, self.stride):
                jobs.append((j, e.input_ids[:t], e.input_ids[t:][:self.horizon]))
        jobs.sort(key=lambda job: len(job[1]))
        continuations: dict[int, list] = {j: [] for j in range(len(items))}
        for start in range(0, len(jobs), self.batch_size):
            chunk = jobs[start:start + self.batch_size]
            width = max(len(p) for _, p, _ in chunk)
            ids = torch.tensor([[pad] * (width - len(p)) + p for _, p, _ in chunk], device=device)
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for _, p, _ in chunk], device=device)
            new = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, pad_token_id=pad,
                                 eos_token_id=eos_id, max_new_tokens=max(len(s) for _, _, s in chunk))
            for (j, _, suffix), row in zip(chunk, new[:, width:].tolist()):
                row = row[:len(suffix)]
                if eos_id is not None and eos_id in row:
                    row = row[:row.index(eos_id) + 1]
                continuations[j].append((row, suffix))
        return [extraction_likelihood([c for c, _ in pairs], [s for _, s in pairs], self.n)
                if pairs else math.nan for _, pairs in sorted(continuations.items())]  # NaN: answer < n tokens

    def threshold(self, model, items: Sequence[Encoded], eos_id: Optional[int]) -> Threshold:
        return Threshold(ma=mean(self.ma(model, items)), el=mean(self.el(model, items, eos_id)))

    def check(self, model, items: Sequence[Encoded], eos_id: Optional[int], threshold: Threshold,
              with_el: bool = True) -> dict:
        """The items' mean MA (and EL, once MA is below), and whether both are below.

        `with_el=False` checks MA alone (the per-sample updates-to-forget count).
        """
        ma = mean(self.ma(model, items))
        if not with_el:
            return {"ma": ma, "el": None, "below": ma < threshold.ma}
        el = mean(self.el(model, items, eos_id)) if ma < threshold.ma else None
        return {"ma": ma, "el": el, "below": el is not None and el < threshold.el}
