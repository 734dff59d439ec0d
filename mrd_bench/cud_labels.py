"""`mrd-bench cud-labels`: easy and hard samples for CUD's anchors, from the reference unlearners.

Each method (GA, GradDiff, NPO, PO and CGA by default) unlearns the whole forget set from the
original model for the same number of updates; then every sample's answer loss (mean NLL of its
answer tokens) is measured. A sample is *easy* when it is among the q highest losses (forgotten
most) for at least `min_votes` methods, *hard* when among the q lowest for as many. The file
records each method's losses, the per-method top/bottom/middle calls, their agreement (Fleiss'
κ over the methods as raters, and the pairwise Spearman of the losses), and the original
model's weights hash, which `score --metric cud` checks against the model it attributes.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from mrd_bench.config import opt
from mrd_bench.errors import ConfigError
from mrd_bench.methods import METHODS
from mrd_bench.models import Encoded, collate

CALLS = ("easy", "middle", "hard")


@dataclass(frozen=True)
class LabelConfig:
    methods: str = opt("ga,graddiff,npo,po,cga", "the unlearners whose losses vote")
    steps: int = opt(10, "updates of each unlearner (of --batch-size forget samples)")
    lr: float = opt(2e-5, "AdamW learning rate of every unlearner")
    batch_size: int = opt(8, "forget samples per update")
    q: float = opt(0.25, "the share of samples called easy (highest losses) and hard (lowest) per method")
    min_votes: int = opt(3, "methods that must agree for a label")
    seed: int = opt(0, "seed of the unlearners' sampling")

    def __post_init__(self) -> None:
        for m in self.method_list:
            METHODS.get(m)
        if len(self.method_list) < 1:
            raise ConfigError("--methods names no unlearner; give e.g. ga,graddiff,npo,po,cga.")
        if not 0 < self.q < 0.5:
            raise ConfigError(f"--q must lie in (0, 0.5): the share called easy and the share called hard; got {self.q}.")
        if not 1 <= self.min_votes <= len(self.method_list):
            raise ConfigError(f"--min-votes must lie between 1 and the {len(self.method_list)} methods; "
                              f"got {self.min_votes}.")
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError(f"--steps and --batch-size must be at least 1; got {self.steps}, {self.batch_size}.")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"--lr must be a positive number; got {self.lr}.")

    @property
    def method_list(self) -> list[str]:
        return [m.strip() for m in self.methods.split(",") if m.strip()]


def answer_losses(model, items: Sequence[Encoded], batch_size: int = 16) -> list[float]:
    """Each sample's mean answer-token NLL."""
    from mrd_bench.scorers.base import row_index, scored_logprobs

    device = next(model.parameters()).device
    pad = getattr(model.config, "pad_token_id", None) or 0
    out = []
    with torch.no_grad():
        for start in range(0, len(items), batch_size):
            batch = {k: v.to(device) for k, v in collate(items[start:start + batch_size], pad).items()}
            logp, rows = scored_logprobs(model, batch).double(), row_index(batch)
            total = torch.zeros(len(batch["input_ids"]), dtype=torch.float64, device=device).index_add_(0, rows, logp)
            count = torch.bincount(rows, minlength=len(batch["input_ids"])).double()
            out += (-total / count).tolist()
    return out


def calls(losses: Sequence[float], q: float) -> list[str]:
    """easy for the ceil(q·n) highest losses, hard for the ceil(q·n) lowest (ties by index)."""
    n, k = len(losses), max(1, math.ceil(q * len(losses)))
    order = sorted(range(n), key=lambda i: (losses[i], i))
    out = ["middle"] * n
    for i in order[:k]:
        out[i] = "hard"
    for i in order[n - k:]:
        out[i] = "easy"
    return out


def vote(per_method: dict[str, list[str]], min_votes: int) -> list[Optional[str]]:
    n = len(next(iter(per_method.values())))
    labels: list[Optional[str]] = []
    for i in range(n):
        easy = sum(c[i] == "easy" for c in per_method.values())
        hard = sum(c[i] == "hard" for c in per_method.values())
        labels.append("easy" if easy >= min_votes and easy > hard else
                      "hard" if hard >= min_votes and hard > easy else None)
    return labels


def tally(losses: dict[str, Sequence[float]], q: float, min_votes: int) -> tuple[list[Optional[str]], np.ndarray,
                                                                             Optional[float]]:
    """Each rater's `calls` on its losses, then the vote: (labels, the samples × CALLS table of rater
    counts, Fleiss' κ of that table, None with one rater)."""
    per_rater = {r: calls(v, q) for r, v in losses.items()}
    labels = vote(per_rater, min_votes)
    table = np.array([[sum(c[i] == call for c in per_rater.values()) for call in CALLS] for i in range(len(labels))])
    return labels, table, fleiss_kappa(table) if len(per_rater) >= 2 else None


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' κ of a subjects × categories table of rater counts (every row sums to the raters)."""
    counts = np.asarray(counts, dtype=float)
    raters = counts.sum(1)
    if not np.allclose(raters, raters[0]) or raters[0] < 2:
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of raters for every subject")
    r = raters[0]
    p_j = counts.sum(0) / counts.sum()
    p_i = ((counts ** 2).sum(1) - r) / (r * (r - 1))
    p_bar, p_e = p_i.mean(), (p_j ** 2).sum()
    return float("nan") if p_e == 1 else float((p_bar - p_e) / (1 - p_e))


def make_labels(model, items: Sequence[Encoded], ids: Sequence[str], cfg: LabelConfig, *,
                retain: Optional[Sequence[Encoded]] = None, refusals=None, scores: Optional[Sequence[float]] = None,
                progress: bool = True, done: Optional[dict[str, list[float]]] = None, on_method=None) -> dict:
    """Run every unlearner from `model`'s weights (restored after) and vote. `done` holds the losses of
    methods already run (they are not run again); `on_method(method, losses)` is called after each."""
    from scipy.stats import spearmanr

    from mrd_bench.methods.loop import LoopConfig, train
    from mrd_bench.unlearn import Settings

    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    losses: dict[str, list[float]] = {}
    for method in tqdm(cfg.method_list, desc="unlearners for CUD labels", unit="method", disable=not progress):
        if done and method in done:
            losses[method] = list(done[method])
            continue
        settings = Settings(method=method)
        built = settings.build_method()
        if built.retain != "none" and retain is None:
            raise ConfigError(f"{method} needs a retain split; pass --retain (e.g. retain90 for forget10).")
        if settings.sampler_name == "mrd" and scores is None:
            raise ConfigError(f"{method} samples by MRD; pass --scores (MRD scores of this split from "
                              "`mrd-bench score`), or leave it out of --methods.")
        model.load_state_dict(original)
        model, _ = train(model, list(items), built, settings.build_sampler(len(items), scores),
                         LoopConfig(lr=cfg.lr, max_steps=cfg.steps, batch_size=cfg.batch_size, seed=cfg.seed,
                                    save_every=0),
                         retain=retain if built.retain != "none" else None,
                         refusals=refusals if method == "po" else None, progress=False)
        model.eval()
        losses[method] = answer_losses(model, items)
        if on_method is not None:
            on_method(method, losses[method])
    model.load_state_dict(original)
    labels, table, kappa = tally(losses, cfg.q, cfg.min_votes)
    methods = list(losses)
    spearman = {f"{a}~{b}": float(spearmanr(losses[a], losses[b]).statistic)
                for i, a in enumerate(methods) for b in methods[i + 1:]}
    return {"labels": {sid: lab for sid, lab in zip(ids, labels) if lab is not None},
            "agreement": {"fleiss_kappa": kappa, "loss_spearman": spearman,
                          "votes": {sid: dict(zip(CALLS, map(int, row))) for sid, row in zip(ids, table)}},
            "n_easy": labels.count("easy"), "n_hard": labels.count("hard"), "n": len(ids),
            "losses": {m: dict(zip(ids, v)) for m, v in losses.items()},
            "label_config": asdict(cfg)}
