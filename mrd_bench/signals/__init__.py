"""Difficulty signals: one file per signal, one registry (mrd_bench/signals/base.py)."""
from mrd_bench.signals import cud, length, min_k, mrd, mrd_per_token, nll, updates  # noqa: F401  (registers)
from mrd_bench.signals.base import SIGNALS, Signal, direction_sign

__all__ = ["SIGNALS", "Signal", "direction_sign"]
