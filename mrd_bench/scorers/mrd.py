"""MRD, Memory Removal Difficulty (the MRD paper), and its three estimators.

With P_t(θ) = log p(x_t | x_<t; θ) over a sample's scored tokens and δ ~ N(0, σ²I) over
all weights, r(δ) = Σ_t (P_t(θ) − P_t(θ+δ)) / P_t(θ). Large MRD = fragile memory = easy
to unlearn.

- `definition`: MRD = |E r(δ)| (Definition 3.1). Each draw averages r(δ) and r(−δ),
  which cancels the first-order term exactly and leaves the curvature term.
- `alg1`: Algorithm 1 as written, the mean over draws of |r(δ)|, i.e. E|r|. At small σ
  the first-order term δᵀ∇F dominates |r|, so this measures a gradient-norm quantity
  (≈ σ‖∇F‖·√(2/π)), not curvature. Kept so that the paper can be reproduced.
- `hutchinson`: Theorem 3.2, MRD ≈ (σ²/2)·|Σ_t Tr(H_t)/P_t| = (σ²/2)·|Tr ∇²F| with
  F(θ) = Σ_t P_t(θ)/P_t(θ₀), denominators held at θ₀. Each draw is a Rademacher probe v
  and vᵀ∇²F v, from a central difference of exact forward-mode directional derivatives:
  (∇F(θ+hv)·v − ∇F(θ−hv)·v) / 2h (error O(h²); full reverse-over-forward Hessian-vector
  products give the same value within 1% here but cost ~10× more on a CPU).

Numerics: passes run in float32 or wider (σ-sized steps vanish in bf16/fp16); |P_t(θ₀)|
is clamped up to `eps` so tokens with p ≈ 1 do not blow up 1/P_t; weights are restored
bit-exactly (see perturb.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Sequence

import torch
from torch.func import functional_call, jvp

from mrd_bench.errors import ConfigError
from mrd_bench.scorers.base import ESTIMATORS, Prepared, scored_logprobs
from mrd_bench.scorers.perturb import Perturber, eager_attention


def _check(sigma: float) -> None:
    if not (isinstance(sigma, (int, float)) and sigma > 0 and math.isfinite(sigma)):
        raise ConfigError(f"sigma must be a positive number; got {sigma}.")


def _mean_se(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over draws and its standard error (NaN with a single draw): [K, B] -> [B], [B]."""
    k = values.shape[0]
    se = values.std(dim=0, unbiased=True) / math.sqrt(k) if k > 1 else torch.full_like(values[0], float("nan"))
    return values.mean(dim=0), se


@ESTIMATORS.register("definition")
@dataclass(frozen=True)
class Definition:
    """|E r(δ)| from antithetic pairs (r(δ) + r(−δ))/2 (Definition 3.1)."""

    sigma: float = 1e-4  # measured: at 1e-5 the curvature term is float32 noise (benchmarks/)
    noise: ClassVar[str] = "gaussian"
    default_draws: ClassVar[int] = 16

    def __post_init__(self) -> None:
        _check(self.sigma)

    def draw(self, model, perturb: Perturber, batches: Sequence[Prepared], k: int) -> list[torch.Tensor]:
        out = [torch.zeros(b.size, dtype=torch.float64, device=b.p0.device) for b in batches]
        with torch.no_grad():
            for sign in (1.0, -1.0):
                perturb.apply(k, sign * self.sigma)
                for acc, b in zip(out, batches):
                    acc += b.ratio(scored_logprobs(model, b.tensors)) / 2
        return out

    def summarize(self, values: torch.Tensor):
        mean, se = _mean_se(values)
        return mean.abs(), se


@ESTIMATORS.register("alg1")
@dataclass(frozen=True)
class Alg1:
    """E|r(δ)|, one perturbed pass per draw (Algorithm 1 as written; the paper: σ=1e-5, K=200)."""

    sigma: float = 1e-5
    noise: ClassVar[str] = "gaussian"
    default_draws: ClassVar[int] = 32

    def __post_init__(self) -> None:
        _check(self.sigma)

    def draw(self, model, perturb: Perturber, batches: Sequence[Prepared], k: int) -> list[torch.Tensor]:
        with torch.no_grad():
            perturb.apply(k, self.sigma)
            return [b.ratio(scored_logprobs(model, b.tensors)).abs() for b in batches]

    def summarize(self, values: torch.Tensor):
        return _mean_se(values)


@ESTIMATORS.register("hutchinson")
@dataclass(frozen=True)
class Hutchinson:
    """(σ²/2)·|Tr ∇²F| from Rademacher probes (Theorem 3.2, Hutchinson's trace estimator)."""

    sigma: float = 1e-4  # only scales the score, to the same units as `definition`
    fd_step: float = 1e-3  # h of the central difference of directional derivatives
    noise: ClassVar[str] = "rademacher"
    default_draws: ClassVar[int] = 8

    def __post_init__(self) -> None:
        _check(self.sigma)
        if not self.fd_step > 0:
            raise ConfigError(f"fd_step must be positive; got {self.fd_step}.")

    def draw(self, model, perturb: Perturber, batches: Sequence[Prepared], k: int) -> list[torch.Tensor]:
        names = [n for n, _ in model.named_parameters()]
        tangent = dict(zip(names, perturb.direction(k)))
        derivs = []
        with torch.no_grad(), eager_attention(model):
            for sign in (1.0, -1.0):
                perturb.apply(k, sign * self.fd_step)
                params = {n: p.detach() for n, p in model.named_parameters()}
                derivs.append([_directional(model, params, tangent, b) for b in batches])
        return [(plus - minus) / (2 * self.fd_step) for plus, minus in zip(*derivs)]  # vᵀ∇²F v: [B]

    def summarize(self, values: torch.Tensor):
        mean, se = _mean_se(values)
        scale = self.sigma ** 2 / 2
        return scale * mean.abs(), scale * se


def _directional(model, params: dict, tangent: dict, b: Prepared) -> torch.Tensor:
    """∇F·v per row, F = Σ_t P_t(θ)/P_t(θ₀), by forward-mode AD: [B]."""

    def f(p: dict) -> torch.Tensor:
        return b.per_row(_scored(model, p, b).double() / b.denom)

    return jvp(f, (params,), (tangent,))[1]


class _Scored(torch.nn.Module):
    """Lets functional_call run `scored_logprobs` (not the model's own forward)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        return scored_logprobs(self.model, tensors)


def _scored(model, params: dict, b: Prepared) -> torch.Tensor:
    wrapper = _Scored(model)
    return functional_call(wrapper, {f"model.{n}": p for n, p in params.items()}, (b.tensors,))
