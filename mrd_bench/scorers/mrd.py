"""MRD, Memory Removal Difficulty (the MRD paper, Definition 3.1), antithetic estimator.

With P_t(θ) = log p(x_t | x_<t; θ) over a sample's scored tokens and δ ~ N(0, σ²I) over
all parameters, r(δ) = Σ_t (P_t(θ) − P_t(θ+δ)) / P_t(θ) and MRD = |E r(δ)|. Each draw
averages r(δ) and r(−δ), which cancels the first-order (gradient) term exactly and
leaves the curvature term (σ²/2)·Σ_t Tr(H_t)/P_t of the paper's Theorem 3.2. Large MRD
means a fragile memory: easy to unlearn.

Numerics: perturbed passes run in float32 (bf16/fp16 weights round a σ=1e-4 step
away); |P_t| is clamped up to `eps` so that tokens with p ≈ 1 do not blow up 1/P_t,
and the clamped tokens are counted; the weights are restored from a kept copy, so
they are bit-identical after scoring.
"""
from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import torch
from tqdm.auto import tqdm

from mrd_bench.errors import ConfigError, DataError
from mrd_bench.models import Encoded, collate
from mrd_bench.scorers.base import SCORERS, SampleScore, row_index, scored_logprobs

NOISY_SE_RATIO = 0.5  # warn when the median se/|score| is above this: too noisy to rank


@SCORERS.register("mrd")
@dataclass(frozen=True)
class MRD:
    """Antithetic Monte-Carlo estimate of the MRD paper's Definition 3.1."""

    sigma: float = 1e-4  # noise scale; at 1e-5 the curvature term drowns in float32 noise
    draws: int = 16  # antithetic pairs (two perturbed passes each)
    eps: float = 1e-3  # |log p| clamp: tokens with p > exp(-eps) ≈ 0.999 are clamped
    batch_size: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.sigma > 0 or not math.isfinite(self.sigma):
            raise ConfigError(f"sigma must be a positive number; got {self.sigma}.")
        if self.draws < 1:
            raise ConfigError(f"draws (K) must be at least 1; got {self.draws}.")
        if self.batch_size < 1 or not self.eps > 0:
            raise ConfigError(f"batch_size must be >= 1 and eps > 0; got {self.batch_size}, {self.eps}.")

    def score(self, model: torch.nn.Module, items: Sequence[Encoded], ids: Sequence[str],
              *, progress: bool = True) -> list[SampleScore]:
        if not items:
            raise DataError("there are no samples to score; check the split.")
        counts = [sum(label != -100 for label in e.labels[1:]) for e in items]
        if min(counts) == 0:
            bad = [sid for sid, c in zip(ids, counts) if c == 0]
            raise DataError(f"{len(bad)} sample(s) have no scorable tokens (e.g. {bad[:3]}); "
                            "their answers are empty or cut off by max_length.")
        model = _float32(model)
        pad = getattr(model.config, "pad_token_id", None) or 0
        order = sorted(range(len(items)), key=lambda i: len(items[i].input_ids))  # less padding
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        tensors = [collate([items[i] for i in rows], pad) for rows in batches]
        with torch.no_grad():
            base = [scored_logprobs(model, t).double() for t in tensors]  # [N] per batch
            sums = [torch.zeros(self.draws, len(rows), dtype=torch.float64) for rows in batches]
            bar = tqdm(total=self.draws * 2 * len(batches), desc="MRD draws", unit="pass",
                       disable=not progress)
            with _Perturber(model, self.sigma, self.seed) as perturb:
                for k in range(self.draws):
                    for sign in (1.0, -1.0):
                        perturb.apply(k, sign)
                        for b, batch in enumerate(tensors):
                            r = self._ratio(base[b], scored_logprobs(model, batch).double(), batch)
                            sums[b][k] += r / 2  # (r(δ) + r(−δ)) / 2
                            bar.update()
            bar.close()
        out: list[SampleScore] = [None] * len(items)  # type: ignore[list-item]
        for rows, t, p0, m in zip(batches, tensors, base, sums):
            n_tok = torch.bincount(row_index(t), minlength=len(rows))
            clamped = torch.bincount(row_index(t), weights=(p0.abs() < self.eps).double(),
                                     minlength=len(rows))
            nll = -torch.bincount(row_index(t), weights=p0, minlength=len(rows)) / n_tok
            for j, i in enumerate(rows):
                out[i] = _record(ids[i], m[:, j], int(n_tok[j]), int(clamped[j]), float(nll[j]))
        _warn_if_noisy(out)
        return out

    def _ratio(self, p0: torch.Tensor, p: torch.Tensor, batch) -> torch.Tensor:
        """r(δ) per row: Σ_t (P_t(θ) − P_t(θ+δ)) / P_t(θ), with |P_t(θ)| clamped up to eps."""
        denom = p0.clamp(max=-self.eps)
        rows = row_index(batch)
        return torch.zeros(int(batch["labels"].shape[0]), dtype=torch.float64).index_add_(
            0, rows, (p0 - p) / denom)


def _record(sample_id: str, pairs: torch.Tensor, n_tokens: int, n_clamped: int, nll: float) -> SampleScore:
    k = pairs.numel()
    se = float(pairs.std(unbiased=True) / math.sqrt(k)) if k > 1 else None
    return SampleScore(sample_id=sample_id, score=abs(float(pairs.mean())), se=se, draws=k,
                       n_tokens=n_tokens, n_clamped=n_clamped, nll=nll)


def _warn_if_noisy(scores: list[SampleScore]) -> None:
    ratios = sorted(s.se / s.score for s in scores if s.se is not None and s.score > 0)
    if ratios and ratios[len(ratios) // 2] > NOISY_SE_RATIO:
        warnings.warn(f"MRD estimates are noisy: median se/|score| = {ratios[len(ratios) // 2]:.2f} "
                      f"(> {NOISY_SE_RATIO}); rankings are unreliable. Raise --draws or --sigma.",
                      stacklevel=3)


def _float32(model: torch.nn.Module) -> torch.nn.Module:
    """A float32 copy when weights are bf16/fp16, in which σ-sized steps round away."""
    if all(p.dtype in (torch.float32, torch.float64) for p in model.parameters()):
        return model
    warnings.warn("MRD perturbs a float32 copy of the model; its weights are not float32.", stacklevel=3)
    return copy.deepcopy(model).float()


class _Perturber:
    """Sets θ ± σ·δ_k in place and restores θ bit-exactly from a kept copy on exit.

    δ_k is drawn per parameter tensor from a generator seeded by (seed, k), so draw k is
    the same noise for every batch and every run, and no full-size noise is held at once.
    """

    def __init__(self, model: torch.nn.Module, sigma: float, seed: int) -> None:
        self.params = [p for _, p in model.named_parameters()]  # tied weights appear once
        self.sigma, self.seed = sigma, seed

    def __enter__(self) -> "_Perturber":
        self.kept = [p.detach().clone() for p in self.params]
        return self

    def apply(self, k: int, sign: float) -> None:
        gen = torch.Generator(device=self.params[0].device).manual_seed(self.seed * 1_000_003 + k)
        for p, p0 in zip(self.params, self.kept):
            noise = torch.randn(p.shape, generator=gen, device=p.device, dtype=p.dtype)
            p.data.copy_(p0).add_(noise, alpha=sign * self.sigma)

    def __exit__(self, *exc) -> None:
        for p, p0 in zip(self.params, self.kept):
            p.data.copy_(p0)
        del self.kept
