"""Per-sample unlearning trajectories: the ground truth MRD is checked against.

Each forget sample is unlearned alone, from the original weights, one AdamW update at a
time, with a reference method's loss (GA, GradDiff, NPO). Before every update the same
forward pass gives the sample's answer NLL and its Memorization Accuracy (MA: the share
of answer tokens that are the greedy next token), so measuring costs nothing extra. Kept:
- `updates`: the first n at which MA < threshold (the mean MA of TOFU's holdout on the
  original model); censored at `max_updates`;
- `nll`, `ma`: the whole curves up to max(updates, horizon), from which the continuous
  measures that do not tie are read: the loss increase after `horizon` updates and the
  area under the MA curve over the first `horizon` updates.
GradDiff's retain sample for update n comes from a generator seeded by (seed, sample
index), so a row does not depend on which samples ran before it (resume-safe).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from mrd_bench.methods.base import Batch
from mrd_bench.models import IGNORE, Encoded, collate, gather_logprobs


@dataclass(frozen=True)
class Budget:
    lr: float
    max_updates: int
    horizon: int
    threshold_ma: float
    weight_decay: float = 0.01
    seed: int = 0


def _forward(model, tensors: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Summed answer log-prob (with grad), answer tokens, and MA, from one forward pass."""
    labels = tensors["labels"][:, 1:]
    scored = labels != IGNORE
    cols = scored.any(0).nonzero().squeeze(1)
    logits = model(input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"],
                   logits_to_keep=cols).logits  # [1, C, V]
    targets, mask = labels[:, cols], scored[:, cols]
    logp = gather_logprobs(logits, targets.clamp(min=0))
    hits = (logits.argmax(-1) == targets) & mask
    return (logp * mask).sum(1), mask.sum(1), float(hits.sum() / mask.sum())


def trajectory(model, original: dict, item: Encoded, method, budget: Budget, *, index: int,
               retain: Optional[Sequence[Encoded]] = None) -> dict:
    """Unlearn one sample from `original`; the curves and the update count (see the module doc)."""
    device = next(model.parameters()).device
    pad = getattr(model.config, "pad_token_id", None) or 0
    model.load_state_dict(original)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=budget.lr, weight_decay=budget.weight_decay)
    forget = {k: v.to(device) for k, v in collate([item], pad).items()}
    draw = torch.Generator().manual_seed(budget.seed * 1_000_003 + index)
    nll, ma, updates, reference = [], [], None, None
    for n in range(budget.max_updates + 1):
        logp, count, accuracy = _forward(model, forget)
        nll.append(float(-logp.detach() / count))
        ma.append(accuracy)
        if reference is None:
            reference = logp.detach()
        if updates is None and accuracy < budget.threshold_ma:
            updates = n
        if n == budget.max_updates or (updates is not None and n >= budget.horizon):
            break
        batch = Batch(model, forget)
        # the loss terms this forward already computed (Batch would run it again)
        batch.__dict__.update(forget_logp=logp, forget_nll=-logp / count, reference_logp=reference)
        if method.retain == "required" or (method.retain == "optional" and retain):
            pick = int(torch.randint(len(retain), (1,), generator=draw))
            batch.retain = {k: v.to(device) for k, v in collate([retain[pick]], pad).items()}
        loss = method.per_sample_loss(batch).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    model.eval()
    h = min(budget.horizon, len(nll) - 1)
    return {"updates": budget.max_updates if updates is None else updates, "censored": updates is None,
            "loss_increase": nll[h] - nll[0], "ma_auc": sum(ma[:h + 1]) / (h + 1), "horizon": h,
            "nll": nll, "ma": ma}
