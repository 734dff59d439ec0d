"""Plots people look at instead of reading tables."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: files only
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mrd_bench.signals.base import MRD_SIGNAL, direction_text, short_label  # noqa: E402

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
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _grid(n: int, width: float = 3.8, height: float = 3.3):
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows + 0.9), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


BIN_ORDER = ("easy", "medium", "hard")  # as in the tables: high MRD (easy) first


def _arrow(higher) -> str:
    return {True: " (↑ better)", False: " (↓ better)"}.get(higher, "")


def plot_bins(table: dict, counts: dict, intervals: dict, higher: dict, path: str | os.PathLike,
              signal: Optional[dict] = None) -> Path:
    """One panel per stratified metric: a bar per bin (easy → hard) with its bootstrap 95% interval
    and document count; lines for overall and reweighted; a 0.5 line on AUC panels. The membership
    attacks' AUCs and privleak are drawn together by `plot_attacks` instead."""
    from matplotlib.lines import Line2D

    panels = [(task, metric, values) for task in sorted(table) for metric, values in sorted(table[task].items())
              if any(b in values for b in BIN_ORDER) and not is_attack(metric)]
    fig, axes = _grid(len(panels))
    for ax, (task, metric, values) in zip(axes, panels):
        heights = np.array([values.get(b, np.nan) for b in BIN_ORDER], dtype=float)
        ci = intervals.get(task, {}).get(metric, {})
        low = np.array([ci.get(b, (np.nan, np.nan))[0] for b in BIN_ORDER])
        high = np.array([ci.get(b, (np.nan, np.nan))[1] for b in BIN_ORDER])
        err = np.vstack([heights - low, high - heights]).clip(min=0)  # NaN: no interval, no bar drawn
        ax.bar(range(3), np.nan_to_num(heights), color=[BIN_COLOURS[b] for b in BIN_ORDER],
               yerr=err, capsize=3, ecolor="#333333")
        n = counts.get(task, {})
        ax.set_xticks(range(3), [f"{b}\nn={n[b]}" if b in n else b for b in BIN_ORDER], fontsize=7)
        for i in np.flatnonzero(np.isnan(heights)):
            ax.text(i, 0.02, "NaN", ha="center", va="bottom", fontsize=7, color="#666666",
                    transform=ax.get_xaxis_transform())
        for key, style in (("overall", "-"), ("reweighted", "--")):
            if key in values and not np.isnan(values[key]):
                ax.axhline(values[key], color="#333333", linestyle=style, linewidth=1)
        if metric.endswith("auc"):
            ax.axhline(0.5, color="#c0392b", linestyle=":", linewidth=1)
        top = np.nanmax(np.concatenate([heights, high, [values.get("overall", np.nan), 0.5 if "auc" in metric else 0]]))
        ax.set_ylim(0, 1.05 if np.isnan(top) or top <= 1 else top * 1.1)
        ax.set_title(f"{task}\n{metric}", fontsize=8)
        ax.set_ylabel(metric + _arrow(higher.get(task, {}).get(metric)), fontsize=7)
        ax.set_xlabel(f"{short_label(signal)} bin (original model)", fontsize=7)
        ax.tick_params(labelsize=7)
    handles = [Line2D([], [], color="#333333", linestyle="-", label="overall"),
               Line2D([], [], color="#333333", linestyle="--", label="reweighted"),
               Line2D([], [], color="#c0392b", linestyle=":", label="AUC 0.5 (chance)"),
               Line2D([], [], color="#333333", marker="|", linestyle="", markersize=10,
                      label="bootstrap 95% interval")]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8)
    fig.suptitle(f"Each metric per {short_label(signal)} bin ({direction_text(signal)})", fontsize=10)
    return _save(fig, path)


def mrd_scale(values) -> str:
    """One difficulty scale for every figure of a report: log where every value is positive and
    they span more than a decade (MRD), linear otherwise (CUD, Min-K%, NLL, length)."""
    v = np.asarray(values, dtype=float)
    return "log" if len(v) and (v > 0).all() and v.max() / v.min() > 10 else "linear"


def _mrd_axis(ax, scale: str, signal: Optional[dict] = None) -> None:
    """The one difficulty axis of every figure: `scale`, easy on the left (high MRD, low CUD), as the
    tables order bins; the label names the signal and its direction."""
    signal = signal or MRD_SIGNAL
    ax.set_xscale(scale)
    if scale == "log":  # labelled ticks at 1, 2 and 5 of each decade
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.0e}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    if signal.get("higher_is", "easier") == "easier":
        ax.invert_xaxis()
    ax.set_xlabel(f"{signal['label']} (higher = {signal.get('higher_is', 'easier')}), original model "
                  "(← easy · hard →)", fontsize=7)


def plot_vs_mrd(points: dict, path: str | os.PathLike, signal: Optional[dict] = None) -> Path:
    """One panel per (task, metric): each sample's value against its MRD, coloured by bin;
    the MRD axis runs from easy (high MRD) on the left to hard on the right, as the tables do."""
    panels = [(task, metric, pts) for task in sorted(points) for metric, pts in sorted(points[task].items())
              if metric != "ua"]  # UA = 1 − FA (or 1 − accuracy): its panel would repeat one
    scale = mrd_scale([p[0] for _, _, pts in panels for p in pts])
    fig, axes = _grid(len(panels))
    for ax, (task, metric, pts) in zip(axes, panels):
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], c=[BIN_COLOURS.get(p[2], "#888888") for p in pts],
                   s=10, edgecolors="#333333", linewidths=0.2)
        _mrd_axis(ax, scale, signal)
        ax.set_ylabel(metric, fontsize=7)
        ax.set_title(f"{task}\n{metric}", fontsize=8)
        ax.tick_params(labelsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=BIN_COLOURS[b]) for b in BIN_ORDER]
    fig.legend(handles, list(BIN_ORDER), title="bin", fontsize=8, loc="outside lower center", ncol=3)
    fig.suptitle(f"Each sample's metric against its {short_label(signal)}", fontsize=10)
    return _save(fig, path)


def plot_mrd_histograms(annotations: dict, path: str | os.PathLike, signal: Optional[dict] = None) -> Path:
    """Per annotation used: the histogram of its samples' MRD with the bin edges, on the same MRD
    axis as the per-sample figure (easy on the left)."""
    seen: dict = {}
    for task, ann in sorted(annotations.items()):  # tasks of one split share an annotation
        key = (ann.get("benchmark"), ann.get("split"), tuple(ann["bin_edges"]))
        seen.setdefault(key, (task, ann))
    scale = mrd_scale([s["score"] for _, ann in seen.values() for s in ann["samples"].values()])
    fig, axes = _grid(len(seen), width=4.2)
    for ax, ((bench, split, edges), (_task, ann)) in zip(axes, seen.items()):
        scores = np.array([s["score"] for s in ann["samples"].values()])
        bins = np.geomspace(scores.min(), scores.max(), 31) if scale == "log" else 30
        ax.hist(scores, bins=bins, color="#8ab6d6", edgecolor="#333333", linewidth=0.3)
        for edge in edges:
            ax.axvline(edge, color="#c0392b", linestyle="--")
        _mrd_axis(ax, scale, signal)
        ax.set_ylabel("samples", fontsize=7)
        ax.set_title(f"{bench}/{split} ({len(scores)} samples)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"{short_label(signal)} under the original model\ndashed: bin edges", fontsize=10)
    return _save(fig, path)


ATTACK_LABELS = {"min_k": "Min-K%", "loss": "LOSS", "zlib": "ZLib", "min_k_pp": "Min-K%++",
                 "reference": "reference", "gradnorm": "GradNorm"}


def is_attack(metric: str) -> bool:
    """A membership attack's AUC or privleak (drawn by plot_attacks)."""
    return (metric.endswith("_auc") and metric[:-len("_auc")] in ATTACK_LABELS) or metric == "privleak" or \
        metric.removeprefix("privleak_") in ATTACK_LABELS


def attack_metrics(table: dict) -> list[tuple[str, str]]:
    """(task, attack) for each membership attack whose AUC the run reports per bin."""
    return [(task, metric[:-len("_auc")]) for task in sorted(table) for metric in table[task]
            if metric.endswith("_auc") and metric[:-len("_auc")] in ATTACK_LABELS
            and any(b in table[task][metric] for b in BIN_ORDER)]


def plot_attacks(table: dict, intervals: dict, path: str | os.PathLike, signal: Optional[dict] = None,
                 fallback: bool = True) -> Path:
    """The membership attacks side by side: AUC (0.5 = chance) and privleak (0 = like the retain
    model) overall, per bin and reweighted, a bar per attack with its bootstrap 95% interval."""
    attacks = attack_metrics(table)
    columns = ["overall", *BIN_ORDER, "reweighted"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    width = 0.8 / max(len(attacks), 1)
    colours = plt.get_cmap("tab10").colors
    for ax, kind in zip(axes, ("auc", "privleak")):
        for k, (task, attack) in enumerate(attacks):
            metric = f"{attack}_auc" if kind == "auc" else ("privleak" if attack == "min_k" else f"privleak_{attack}")
            values = table[task].get(metric, {})
            ci = intervals.get(task, {}).get(metric, {})
            heights = np.array([values.get(c, np.nan) for c in columns], dtype=float)
            low = np.array([ci.get(c, (np.nan, np.nan))[0] for c in columns])
            high = np.array([ci.get(c, (np.nan, np.nan))[1] for c in columns])
            err = np.vstack([heights - low, high - heights]).clip(min=0)  # NaN: no interval, no bar drawn
            x = np.arange(len(columns)) - 0.4 + width * (k + 0.5)
            ax.bar(x, np.nan_to_num(heights), width, yerr=err, capsize=2, ecolor="#333333", color=colours[k % 10],
                   label=ATTACK_LABELS[attack])
            for i in np.flatnonzero(np.isnan(heights)):
                ax.text(x[i], 0.01, "NaN", ha="center", va="bottom", fontsize=6, color="#666666", rotation=90,
                        transform=ax.get_xaxis_transform())
        ax.axhline(0.5 if kind == "auc" else 0.0, color="#c0392b", linestyle=":", linewidth=1)
        ax.set_xticks(range(len(columns)), columns, fontsize=8)
        ax.set_xlabel(f"{short_label(signal)} bin (original model)", fontsize=8)
        if kind == "auc":
            ax.set_ylim(0, 1.05)
            ax.set_title("membership AUC, forget vs holdout (0.5 = chance; ↓ toward 0.5)", fontsize=9)
        else:
            ax.set_title("privleak = (AUC_ref − AUC) / (1 − AUC_ref) · 100 (0 = like the retain model)"
                         + ("\nagainst open-unlearning's fallback AUC_ref = 0.5: no retain model given" if fallback
                            else ""), fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle(f"Membership attacks per {short_label(signal)} bin ({direction_text(signal)})", fontsize=10)
    return _save(fig, path)
