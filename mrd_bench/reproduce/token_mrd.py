"""The `definition` estimator kept token by token, so that one set of passes answers many questions.

For draw k (an antithetic pair ±σδ_k) and scored token t of a sample, d_kt = P_t(θ) −
(P_t(θ+σδ_k) + P_t(θ−σδ_k))/2, with P_t the token's log-prob. The engine's score is
MRD = |mean_k Σ_t d_kt / min(P_t, −eps)|. Keeping d_kt gives, with no further pass:
- MRD at any eps, and with the clamped tokens (|P_t| < eps) left out;
- a per-token MRD (the sum divided by the number of scored tokens);
- MRD from any subset of the draws (K curves; "seeds" as disjoint groups of draws, each
  group from its own seeded generator).
`check_batching` scores the same samples at two batch sizes, the float32 rounding check.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from tqdm.auto import tqdm

from mrd_bench.models import Encoded, collate
from mrd_bench.scorers.base import row_index, scored_logprobs
from mrd_bench.scorers.perturb import Perturber


@dataclass
class TokenDraws:
    """One sample's token log-probs and per-draw curvature terms."""

    p0: list[float]  # [T] log p at θ
    d: list[list[float]]  # [K][T] d_kt

    def mrd(self, eps: float = 1e-3, draws: slice | Sequence[int] = slice(None), drop_clamped: bool = False,
            per_token: bool = False) -> float:
        p0 = torch.tensor(self.p0, dtype=torch.float64)
        d = torch.tensor(self.d, dtype=torch.float64)[draws]
        denom = p0.clamp(max=-eps)
        keep = p0.abs() >= eps if drop_clamped else torch.ones_like(p0, dtype=torch.bool)
        total = (d[:, keep] / denom[keep]).sum(1).mean(0).abs()
        return float(total / max(int(keep.sum()), 1)) if per_token else float(total)

    def n_clamped(self, eps: float = 1e-3) -> int:
        return sum(abs(p) < eps for p in self.p0)


def token_draws(model, items: Sequence[Encoded], *, sigma: float, seed: int, pairs: int, batch_size: int = 16,
                device=None, progress: bool = True, desc: str = "MRD per token") -> list[TokenDraws]:
    """Per-token antithetic draws for every item (in input order); the weights come back bit-exact."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    pad = getattr(model.config, "pad_token_id", None) or 0
    order = sorted(range(len(items)), key=lambda i: (len(items[i].input_ids), i))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    tensors = [{k: v.to(device) for k, v in collate([items[i] for i in rows], pad).items()} for rows in batches]
    model.eval()
    with torch.no_grad():
        p0 = [scored_logprobs(model, t).double().cpu() for t in tensors]
        d = [torch.zeros(pairs, len(p), dtype=torch.float64) for p in p0]
        with Perturber(model, seed) as perturb, tqdm(total=pairs * 2 * len(tensors), desc=desc, unit="pass",
                                                      disable=not progress) as bar:
            for k in range(pairs):
                for sign in (1.0, -1.0):
                    perturb.apply(k, sign * sigma)
                    for j, t in enumerate(tensors):
                        d[j][k] += (p0[j] - scored_logprobs(model, t).double().cpu()) / 2
                        bar.update()
    out: list[TokenDraws | None] = [None] * len(items)
    for rows, t, p, dd in zip(batches, tensors, p0, d):
        where = row_index(t).cpu()
        for r, i in enumerate(rows):
            mask = where == r
            out[i] = TokenDraws(p0=p[mask].tolist(), d=dd[:, mask].tolist())
    return out  # type: ignore[return-value]


def merge(groups: Sequence[Sequence[TokenDraws]]) -> list[TokenDraws]:
    """The draws of several runs (seeds) of the same samples, stacked: one TokenDraws per sample."""
    return [TokenDraws(p0=parts[0].p0, d=[row for part in parts for row in part.d]) for parts in zip(*groups)]


def relative_change(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """|a − b| / |a| per sample (NaN where a is 0)."""
    return [abs(x - y) / abs(x) if x else math.nan for x, y in zip(a, b)]
