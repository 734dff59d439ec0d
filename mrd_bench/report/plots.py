"""Plots people look at instead of reading tables."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

BIN_COLOURS = {"easy": "#2a9d8f", "medium": "#e9c46a", "hard": "#e76f51"}


def plot_mrd(rows: Sequence[dict], edges: Sequence[float], path: str | os.PathLike,
             title: str = "") -> Path:
    """Left: per-sample MRD (± 1 se), sorted, coloured by bin. Right: MRD against answer NLL."""
    rows = sorted(rows, key=lambda r: r["score"])
    mrd = np.array([r["score"] for r in rows])
    se = np.array([r["se"] if r["se"] is not None else 0.0 for r in rows])
    colours = [BIN_COLOURS.get(r["bin"], "#888888") for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    x = np.arange(len(rows))
    left.bar(x, mrd, color=colours, yerr=se, capsize=2, ecolor="#444444")
    for edge in edges:
        left.axhline(edge, color="#444444", linestyle="--", linewidth=0.8)
    left.set_xticks(x, [r["sample_id"].split(":")[-1][:6] for r in rows], rotation=90, fontsize=6)
    left.set_xlabel("sample (sorted by MRD)")
    left.set_ylabel("MRD  (higher = easier to unlearn)")
    left.set_title("Per-sample MRD with standard error; dashed: bin edges")
    right.scatter([r["nll"] for r in rows], mrd, c=colours, edgecolors="#333333", linewidths=0.4)
    right.set_xlabel("answer NLL per token (original model)")
    right.set_ylabel("MRD")
    right.set_title("Does MRD say more than perplexity?")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in BIN_COLOURS.values()]
    right.legend(handles, list(BIN_COLOURS), title="bin", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return path
