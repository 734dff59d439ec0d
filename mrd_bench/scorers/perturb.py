"""Seeded weight perturbations with a bit-exact restore.

Draw k's noise is generated per parameter tensor, in `named_parameters` order, from a
generator seeded by (seed, k): the same noise for every batch, chunk, process and run,
and no full-size noise vector is ever held. The weights are restored from a kept copy,
not by subtracting the noise again (add-then-subtract drifts in floating point).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

SEED_STRIDE = 1_000_003


def generator(device: torch.device, seed: int, k: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed((seed * SEED_STRIDE + k) % 2 ** 64)  # torch's seed range


def noise_like(p: torch.Tensor, gen: torch.Generator, kind: str) -> torch.Tensor:
    if kind == "gaussian":
        return torch.randn(p.shape, generator=gen, device=p.device, dtype=p.dtype)
    if kind == "rademacher":
        return torch.randint(0, 2, p.shape, generator=gen, device=p.device).to(p.dtype).mul_(2).sub_(1)
    raise ValueError(f"unknown noise kind {kind!r}")


class Perturber:
    """Sets θ + scale·δ_k in place; `restore()` and exit put θ back bit-exactly."""

    def __init__(self, model: torch.nn.Module, seed: int, kind: str = "gaussian") -> None:
        self.params = [p for _, p in model.named_parameters()]  # tied weights appear once
        self.seed, self.kind = seed, kind

    def __enter__(self) -> "Perturber":
        self.kept = [p.detach().clone() for p in self.params]
        return self

    def apply(self, k: int, scale: float) -> None:
        gen = generator(self.params[0].device, self.seed, k)
        for p, p0 in zip(self.params, self.kept):
            p.data.copy_(p0).add_(noise_like(p, gen, self.kind), alpha=scale)

    def direction(self, k: int) -> list[torch.Tensor]:
        """δ_k itself, all tensors at once (the tangent of a forward-mode derivative)."""
        gen = generator(self.params[0].device, self.seed, k)
        return [noise_like(p, gen, self.kind) for p in self.params]

    def restore(self) -> None:
        for p, p0 in zip(self.params, self.kept):
            p.data.copy_(p0)

    def __exit__(self, *exc) -> None:
        self.restore()
        del self.kept


@contextmanager
def eager_attention(model: torch.nn.Module) -> Iterator[None]:
    """Forward-mode AD has no rule for fused SDPA kernels; eager attention has plain ops."""
    config = model.config
    before = getattr(config, "_attn_implementation", None)
    config._attn_implementation = "eager"
    try:
        yield
    finally:
        config._attn_implementation = before
