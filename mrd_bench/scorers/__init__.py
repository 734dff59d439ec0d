"""Per-sample difficulty scorers."""
from __future__ import annotations

from mrd_bench.scorers.base import SCORERS
from mrd_bench.scorers import mrd  # noqa: F401  (registers)

__all__ = ["SCORERS"]
