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


def plateaued(checks: Sequence[dict], patience: int) -> bool:
    """True when the last `patience` checks brought no MA lower than the lowest before them: a run
    whose forget-set MA has settled above the threshold (its forget and retain terms balance)."""
    ma = [c["ma"] for c in checks]
    return patience > 0 and len(ma) > patience and min(ma[-patience:]) >= min(ma[:-patience])


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
    def predictions(self, model, items: Sequence[Encoded]) -> list[list[int]]:
        """Each item's teacher-forced greedy next token at every scored position."""
        pad = getattr(model.config, "pad_token_id", None) or 0
        device = next(model.parameters()).device
        out: list[list[int]] = [[] for _ in items]
        order = sorted(range(len(items)), key=lambda i: len(items[i].input_ids))
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            batch = {k: v.to(device) for k, v in collate([items[i] for i in rows], pad).items()}
            logits, _ = scored_logits(model, batch)
            index, predicted = row_index(batch), logits.argmax(-1)
            for r, i in enumerate(rows):
                out[i] = predicted[index == r].tolist()
        return out

    def ma(self, model, items: Sequence[Encoded], predictions: Optional[list[list[int]]] = None) -> list[float]:
        """MA of each item's scored tokens under teacher forcing (from `predictions` if given)."""
        predictions = predictions if predictions is not None else self.predictions(model, items)
        return [memorization_accuracy(p, [t for t in e.labels[1:] if t != IGNORE])
                for p, e in zip(predictions, items)]

    @torch.no_grad()
    def el(self, model, items: Sequence[Encoded], eos_id: Optional[int],
           predictions: Optional[list[list[int]]] = None) -> list[float]:
        """EL_n of each item: greedy continuations from every stride-th prefix of its answer.

        Where the greedy next token is the true one, the continuation from x_<t is x_t
        followed by the continuation from x_<t+1; so a continuation is the true tokens up to
        the first position u >= t the model gets wrong, then a generation from x_<u. Only
        those generations run (one per distinct u): on a memorised answer, few do.
        """
        pad = getattr(model.config, "pad_token_id", None) or 0
        device = next(model.parameters()).device
        predictions = predictions if predictions is not None else self.predictions(model, items)
        plan, needed = [], {}  # (item, t, first miss u, suffix length); (item, u) -> tokens to generate
        for j, (e, pred) in enumerate(zip(items, predictions)):
            ids = e.input_ids
            start = len(ids) - len(pred)  # the scored tokens are the answer, at the end
            for t in range(start, len(ids) - self.n + 1, self.stride):
                length = len(ids[t:][:self.horizon])
                u = t
                while u < t + length and pred[u - start] == ids[u]:
                    u += 1
                plan.append((j, t, u, length))
                if u < t + length:
                    needed[(j, u)] = max(needed.get((j, u), 0), t + length - u)
        generated = {}
        jobs = sorted(needed, key=lambda job: job[1])
        for first in range(0, len(jobs), self.batch_size):
            chunk = jobs[first:first + self.batch_size]
            prefixes = [items[j].input_ids[:u] for j, u in chunk]
            width = max(len(p) for p in prefixes)
            ids = torch.tensor([[pad] * (width - len(p)) + p for p in prefixes], device=device)
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prefixes], device=device)
            new = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, pad_token_id=pad,
                                 eos_token_id=eos_id, max_new_tokens=max(needed[job] for job in chunk))
            for job, row in zip(chunk, new[:, width:].tolist()):
                generated[job] = row
        pairs: dict[int, list] = {j: [] for j in range(len(items))}
        for j, t, u, length in plan:
            ids = items[j].input_ids
            row = (ids[t:u] + generated.get((j, u), []))[:length]
            if eos_id is not None and eos_id in row:
                row = row[:row.index(eos_id) + 1]
            pairs[j].append((row, ids[t:t + length]))
        return [extraction_likelihood([c for c, _ in p], [s for _, s in p], self.n) if p else math.nan
                for _, p in sorted(pairs.items())]  # NaN: an answer shorter than n tokens

    def threshold(self, model, items: Sequence[Encoded], eos_id: Optional[int]) -> Threshold:
        predictions = self.predictions(model, items)
        return Threshold(ma=mean(self.ma(model, items, predictions)),
                         el=mean(self.el(model, items, eos_id, predictions)))

    def check(self, model, items: Sequence[Encoded], eos_id: Optional[int], threshold: Threshold,
              with_el: bool = True) -> dict:
        """The items' mean MA (and EL, once MA is below), and whether both are below.

        `with_el=False` checks MA alone (the per-sample updates-to-forget count).
        """
        predictions = self.predictions(model, items)
        ma = mean(self.ma(model, items, predictions))
        if not with_el:
            return {"ma": ma, "el": None, "below": ma < threshold.ma}
        el = mean(self.el(model, items, eos_id, predictions)) if ma < threshold.ma else None
        return {"ma": ma, "el": el, "below": el is not None and el < threshold.el}
