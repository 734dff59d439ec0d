"""Samplers: which forget samples each unlearning step trains on (uniform, mrd, curriculum)."""
from mrd_bench.samplers import curriculum, mrd, uniform  # noqa: F401  (registers)
from mrd_bench.samplers.base import SAMPLERS, mrd_probabilities

__all__ = ["SAMPLERS", "mrd_probabilities"]
