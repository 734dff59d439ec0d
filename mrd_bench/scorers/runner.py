"""Scoring a whole split: chunks, progress, streaming with resume, data-parallel shards.

Samples are sorted by length and cut into batches, and batches into chunks; the plan
depends only on the data and the settings, never on the number of processes. For each
chunk, every draw perturbs the weights once and serves all its batches. Finished chunks
are appended to `<out>.partial/rank-<r>.jsonl` and fsynced, so an interrupted run resumes
where it stopped; the final file is written (atomically) when every chunk is done.
Several processes (`accelerate launch` or `torchrun`) take every n-th chunk.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import torch
from tqdm.auto import tqdm

from mrd_bench.errors import ConfigError, DataError, ModelError, MrdBenchWarning
from mrd_bench.metrics.min_k import min_k_score
from mrd_bench.models import IGNORE, Encoded, collate
from mrd_bench.report.stratify import assign_bins, quantile_edges
from mrd_bench.scorers import baselines
from mrd_bench.scorers.base import ESTIMATORS, prepare
from mrd_bench.scorers.perturb import Perturber

NOISY_SE_RATIO = 0.5  # warn when the median se/|score| is above this: too noisy to rank


@dataclass(frozen=True)
class ScoreConfig:
    estimator: str = "definition"
    sigma: Optional[float] = None  # None: the estimator's default
    draws: Optional[int] = None  # K; None: the estimator's default
    seed: int = 0
    eps: float = 1e-3  # |log p| clamp: tokens with p > exp(-1e-3) ≈ 0.999 are clamped
    batch_size: int = 16
    chunk_batches: int = 4  # batches per chunk: the unit of resume and of sharding
    score_prompt: bool = False
    baselines: bool = True
    bins: int = 3

    def __post_init__(self) -> None:
        ESTIMATORS.get(self.estimator)
        if self.draws is not None and self.draws < 1:
            raise ConfigError(f"draws (K) must be at least 1; got {self.draws}.")
        if self.batch_size < 1 or self.chunk_batches < 1:
            raise ConfigError(f"batch_size and chunk_batches must be >= 1; got {self.batch_size}, "
                              f"{self.chunk_batches}.")
        if not (self.eps > 0 and math.isfinite(self.eps)):
            raise ConfigError(f"--eps must be a positive number; got {self.eps}.")
        if self.sigma is not None and not (self.sigma > 0 and math.isfinite(self.sigma)):
            raise ConfigError(f"--sigma must be a positive number (the noise scale σ); got {self.sigma}.")
        if self.bins < 1:
            raise ConfigError(f"--bins must be at least 1; got {self.bins}.")

    def build(self):
        cls = ESTIMATORS.get(self.estimator)
        return cls() if self.sigma is None else cls(sigma=self.sigma)

    @property
    def k(self) -> int:
        return self.draws or ESTIMATORS.get(self.estimator).default_draws

    def describe(self) -> dict:
        return {**asdict(self), "draws": self.k, "estimator_settings": asdict(self.build())}


def check_items(items: Sequence[Encoded], ids: Sequence[str]) -> None:
    if not items:
        raise DataError("there are no samples to score; check the split.")
    empty = [sid for sid, e in zip(ids, items) if all(label == IGNORE for label in e.labels[1:])]
    if empty:
        raise DataError(f"{len(empty)} sample(s) have no scorable tokens (e.g. {empty[:3]}); "
                        "their answers are empty or cut off by max_length.")


def plan_chunks(items: Sequence[Encoded], cfg: ScoreConfig) -> list[list[list[int]]]:
    """chunks -> batches -> item indices; sorted by length so batches carry little padding."""
    order = sorted(range(len(items)), key=lambda i: (len(items[i].input_ids), i))
    batches = [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
    return [batches[i:i + cfg.chunk_batches] for i in range(0, len(batches), cfg.chunk_batches)]


def score_chunk(model, chunk: list[list[int]], items, ids, targets, cfg: ScoreConfig, estimator,
                device, on_draw=None) -> tuple[list[dict], torch.Tensor]:
    """Rows for one chunk's samples, and their per-draw values [K, n] in chunk order."""
    pad = getattr(model.config, "pad_token_id", None) or 0
    batches = [prepare(model, {k: v.to(device) for k, v in collate([items[i] for i in rows], pad).items()},
                       cfg.eps) for rows in chunk]
    flat = [i for rows in chunk for i in rows]
    norms = (baselines.grad_norms(model, [items[i] for i in flat], device, progress=on_draw is not None)
             if cfg.baselines else None)
    values = torch.zeros(cfg.k, len(flat), dtype=torch.float64)
    with Perturber(model, cfg.seed, estimator.noise) as perturb:
        for k in range(cfg.k):
            values[k] = torch.cat(estimator.draw(model, perturb, batches, k)).cpu()
            if on_draw is not None:
                on_draw()
    score, se = estimator.summarize(values)
    rows, j = [], 0
    for b in batches:
        for r in range(b.size):
            logps = b.p0[b.rows == r].cpu()
            row = {"sample_id": ids[flat[j]], "estimator": cfg.estimator, "score": float(score[j]),
                   "se": None if math.isnan(se[j]) else float(se[j]), "draws": cfg.k,
                   "n_tokens": int(logps.numel()), "n_clamped": int((logps.abs() < cfg.eps).sum())}
            if cfg.baselines:
                nll = float(-logps.mean())
                row.update(nll=nll, prob=math.exp(-nll), min_k=min_k_score(logps.tolist(), baselines.MIN_K),
                           grad_norm=norms[j], rare_words=baselines.rare_word_count(targets[flat[j]]))
            rows.append(row)
            j += 1
    return rows, values


def score_items(model, items: Sequence[Encoded], ids: Sequence[str], targets: Sequence[str],
                cfg: ScoreConfig, *, progress: bool = True, device=None) -> tuple[list[dict], torch.Tensor]:
    """Score in memory (no files): rows in input order, and the per-draw values [K, n]."""
    check_items(items, ids)
    model, device = _ready(model, device)
    estimator, chunks = cfg.build(), plan_chunks(items, cfg)
    rows: list[Optional[dict]] = [None] * len(items)
    values = torch.zeros(cfg.k, len(items), dtype=torch.float64)
    with tqdm(total=len(chunks) * cfg.k, desc=f"MRD ({cfg.estimator})", unit="draw", disable=not progress) as bar:
        for chunk in chunks:
            chunk_rows, chunk_values = score_chunk(model, chunk, items, ids, targets, cfg, estimator,
                                                   device, None if bar.disable else bar.update)
            flat = [i for b in chunk for i in b]
            values[:, flat] = chunk_values
            for i, row in zip(flat, chunk_rows):
                rows[i] = row
    check_scores(rows, cfg)  # type: ignore[arg-type]
    return rows, values  # type: ignore[return-value]


def check_finite_weights(model) -> None:
    """Weights that are not finite numbers (a diverged run's checkpoint) have no difficulty to measure."""
    named = list(model.named_parameters())
    finite = torch.stack([torch.isfinite(p.detach()).all() for _, p in named]).cpu().tolist()  # one sync
    bad = [name for (name, _), ok in zip(named, finite) if not ok]
    if bad:
        raise ModelError(f"the model's weights are not finite: {len(bad)} of {len(named)} tensors hold NaN or Inf "
                         f"(e.g. {bad[0]!r}), as a diverged training run leaves them; score a model trained "
                         "with a lower --lr.")


def _ready(model, device):
    """Scoring runs in float32 or wider: a σ-sized step vanishes in bf16/fp16 weights; and only
    on finite weights."""
    import copy
    import warnings

    check_finite_weights(model)
    if any(p.dtype not in (torch.float32, torch.float64) for p in model.parameters()):
        warnings.warn("MRD perturbs a float32 copy of the model; its weights are not float32.", MrdBenchWarning, stacklevel=3)
        model = copy.deepcopy(model).float()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    return model.to(device).eval(), device


def check_scores(rows: Sequence[dict], cfg: ScoreConfig) -> None:
    """A score that is not a finite number is an error, never a bin."""
    bad = [r for r in rows if not math.isfinite(r["score"])]
    if bad:
        raise DataError(f"{len(bad)} of {len(rows)} MRD scores are not finite (e.g. {bad[0]['sample_id']}: "
                        f"{bad[0]['score']}), never a difficulty: the model's log-probabilities overflow, itself "
                        "(a checkpoint of a diverged run, e.g. one trained at too high a --lr) or under the noise "
                        f"(lower --sigma, now {cfg.build().sigma:g}).")


def clamp_warning(rows: Sequence[dict], cfg: ScoreConfig) -> Optional[str]:
    """Every scored token below --eps: each |log p| is the clamp, and the scores measure eps, not the model."""
    tokens = sum(r["n_tokens"] for r in rows)
    if tokens and sum(r["n_clamped"] for r in rows) == tokens:
        return (f"--eps {cfg.eps:g} clamps all {tokens} scored tokens (|log p| < eps for every one): the scores "
                "measure the clamp, not the model; lower --eps (default 1e-3).")
    return None


def bin_rows(rows: list[dict], n_bins: int) -> list[float]:
    edges = quantile_edges([r["score"] for r in rows], n_bins)
    for row, label in zip(rows, assign_bins([r["score"] for r in rows], edges)):
        row["bin"] = label
    return edges


def noisy_warning(rows: Sequence[dict]) -> Optional[str]:
    ratios = sorted(r["se"] / r["score"] for r in rows if r["se"] is not None and r["score"] > 0)
    if ratios and ratios[len(ratios) // 2] > NOISY_SE_RATIO:
        return (f"MRD estimates are noisy: median se/|score| = {ratios[len(ratios) // 2]:.2f} "
                f"(> {NOISY_SE_RATIO}); rankings are unreliable. Raise --k or --sigma.")
    return None


def cache_key(model_hash: str, items: Sequence[Encoded], ids: Sequence[str], cfg: ScoreConfig) -> str:
    digest = hashlib.sha256()
    digest.update(model_hash.encode())
    for sid, e in zip(ids, items):
        digest.update(json.dumps([sid, e.input_ids, e.labels]).encode())
    settings = {k: v for k, v in cfg.describe().items() if k != "bins"}  # bins do not change a score
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()
