"""Difficulty bins over a scored set: quantile edges, saved so other runs bin the same way.

Following the MRD paper's analogy, a large MRD is a fragile memory, so the highest-MRD
bin is "easy" and the lowest "hard".
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from mrd_bench.errors import ConfigError


def bin_labels(n_bins: int, higher: str = "easier") -> list[str]:
    """From the lowest score to the highest: hard ... easy for MRD (higher = easier), easy ... hard
    for a metric where higher = harder (CUD)."""
    if higher not in ("easier", "harder"):
        raise ConfigError(f"a difficulty score's direction is 'easier' or 'harder'; got {higher!r}.")
    if n_bins == 3:
        labels = ["hard", "medium", "easy"]
    elif n_bins == 2:
        labels = ["hard", "easy"]
    else:
        return [f"q{i + 1}" for i in range(n_bins)] if higher == "easier" else [f"q{n_bins - i}" for i in range(n_bins)]
    return labels if higher == "easier" else labels[::-1]


def quantile_edges(scores: Sequence[float], n_bins: int = 3) -> list[float]:
    """The n_bins − 1 inner edges at equal quantiles of `scores`."""
    if n_bins < 1:
        raise ConfigError(f"the number of bins must be at least 1; got {n_bins}.")
    if len(scores) < n_bins:
        raise ConfigError(f"{len(scores)} scores cannot fill {n_bins} bins; use fewer bins.")
    return np.quantile(np.asarray(scores, dtype=float), np.linspace(0, 1, n_bins + 1)[1:-1]).tolist()


def assign_bins(scores: Sequence[float], edges: Sequence[float], higher: str = "easier") -> list[str]:
    """Label each score with its bin; a score equal to an edge goes to the higher bin."""
    labels = bin_labels(len(edges) + 1, higher)
    return [labels[int(i)] for i in np.searchsorted(np.asarray(edges), np.asarray(scores), side="right")]


def reference_weights(bins: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """The share of each bin in the reference (annotated) set."""
    return {label: sum(b == label for b in bins) / len(bins) for label in labels}
