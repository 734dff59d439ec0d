"""Unlearning methods: per-sample losses only; `loop.py` is the one training loop."""
from mrd_bench.methods import cga, ga, graddiff, npo, po  # noqa: F401  (registers)
from mrd_bench.methods.base import METHODS, Batch

__all__ = ["METHODS", "Batch"]
