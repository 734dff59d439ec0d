"""Plots people look at instead of reading tables."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: files only
import matplotlib.ticker  # noqa: E402
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
    return _save(fig, path)


def _save(fig, path: str | os.PathLike) -> Path:
    """Atomically: a temporary file beside `path`, then a rename."""
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _grid(n: int, width: float = 3.6, height: float = 3.0):
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def plot_bins(table: dict, path: str | os.PathLike) -> Path:
    """One panel per stratified metric: bars for hard / medium / easy, lines for overall and reweighted."""
    panels = [(task, metric, values) for task in sorted(table) for metric, values in sorted(table[task].items())
              if any(b in values for b in ("easy", "medium", "hard"))]
    fig, axes = _grid(len(panels))
    for ax, (task, metric, values) in zip(axes, panels):
        bins = ["hard", "medium", "easy"]
        heights = np.array([values.get(b, np.nan) for b in bins], dtype=float)
        ax.bar(range(3), np.nan_to_num(heights), color=[BIN_COLOURS[b] for b in bins])
        ax.set_xticks(range(3), bins)
        for i in np.flatnonzero(np.isnan(heights)):
            ax.text(i, 0, "n/a", ha="center", va="bottom", fontsize=7, color="#666666")
        drawn = False
        for key, style in (("overall", "-"), ("reweighted", "--")):
            if key in values and not np.isnan(values[key]):
                ax.axhline(values[key], color="#333333", linestyle=style, linewidth=1, label=key)
                drawn = True
        ax.set_title(f"{task}\n{metric}", fontsize=8)
        ax.tick_params(labelsize=7)
        if drawn:
            ax.legend(fontsize=6)
        elif np.isnan(heights).all():
            ax.text(1, 0.5, "unavailable (NaN)", ha="center", fontsize=8, color="#666666")
            ax.set_ylim(0, 1)
    fig.suptitle("Each metric per MRD bin (hard = low MRD, easy = high MRD); "
                 "solid: overall, dashed: reweighted", fontsize=9)
    return _save(fig, path)


def plot_vs_mrd(points: dict, path: str | os.PathLike) -> Path:
    """One panel per (task, metric): each sample's value against its MRD, coloured by bin."""
    panels = [(task, metric, pts) for task in sorted(points) for metric, pts in sorted(points[task].items())
              if metric != "ua"]  # UA = 1 − FA (or 1 − accuracy): its panel would repeat one
    fig, axes = _grid(len(panels))
    for ax, (task, metric, pts) in zip(axes, panels):
        mrd = np.array([p[0] for p in pts])
        ax.scatter(mrd, [p[1] for p in pts], c=[BIN_COLOURS.get(p[2], "#888888") for p in pts], s=10,
                   edgecolors="#333333", linewidths=0.2)
        if (mrd > 0).all():
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("MRD (original model)", fontsize=7)
        ax.set_ylabel(metric, fontsize=7)
        ax.set_title(task, fontsize=8)
        ax.tick_params(labelsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in BIN_COLOURS.values()]
    fig.legend(handles, list(BIN_COLOURS), title="bin", fontsize=7, loc="upper right")
    return _save(fig, path)


def plot_mrd_histograms(annotations: dict, path: str | os.PathLike) -> Path:
    """Per annotation used: the histogram of its samples' MRD, with the bin edges."""
    seen: dict = {}
    for task, ann in sorted(annotations.items()):  # tasks of one split share an annotation
        key = (ann.get("benchmark"), ann.get("split"), tuple(ann["bin_edges"]))
        seen.setdefault(key, (task, ann))
    fig, axes = _grid(len(seen), width=4.2)
    for ax, ((bench, split, edges), (task, ann)) in zip(axes, seen.items()):
        scores = np.array([s["score"] for s in ann["samples"].values()])
        log = (scores > 0).all()
        values = np.log10(scores) if log else scores
        ax.hist(values, bins=30, color="#8ab6d6", edgecolor="#333333", linewidth=0.3)
        for edge in edges:
            ax.axvline(np.log10(edge) if log and edge > 0 else edge, color="#c0392b", linestyle="--")
        ax.set_xlabel("log10 MRD" if log else "MRD", fontsize=7)
        ax.set_ylabel("samples", fontsize=7)
        ax.set_title(f"{bench}/{split} ({len(scores)} samples)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("MRD under the original model; dashed: bin edges (hard | medium | easy)", fontsize=9)
    return _save(fig, path)
