"""Per-sample difficulty scorers: MRD's three estimators and the baselines beside them."""
from __future__ import annotations

from mrd_bench.scorers import mrd  # noqa: F401  (registers the estimators)
from mrd_bench.scorers.base import ESTIMATORS
from mrd_bench.scorers.runner import ScoreConfig, score_items

__all__ = ["ESTIMATORS", "ScoreConfig", "score_items"]
