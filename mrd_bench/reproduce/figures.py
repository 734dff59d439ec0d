"""The report's two kinds of figure: estimates with their intervals (a forest), and agreement
against the number of draws K."""
from __future__ import annotations

from pathlib import Path
from typing import Optional


def k_plot(plt, curves: dict, xlabel: str, ylabel: str, path: Path, *, intervals: bool = False) -> None:
    """Spearman against the number of draws K, one line per curve (label -> {K: spearman_test}), with the
    ρ = 0.9 bar; with `intervals`, each point's 95% CI."""
    from mrd_bench.report.plots import _save

    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for label, curve in curves.items():
        ks = [int(k) for k in curve]
        rho = [curve[k]["rho"] for k in curve]
        if intervals:
            ax.errorbar(ks, rho, yerr=[[r - curve[k]["ci"][0] for r, k in zip(rho, curve)],
                                       [curve[k]["ci"][1] - r for r, k in zip(rho, curve)]], fmt="o-", capsize=2,
                        label=label or None)
        else:
            ax.plot(ks, rho, "o-", label=label)
    ax.axhline(0.9, color="#888888", linestyle=":", label="ρ = 0.9")
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    _save(fig, path)


def forest(plt, rows: list, key: str, xlabel: str, path: Path, *, zero: Optional[float] = 0.0) -> None:
    """Estimates with their CIs, one row each (rows: (label, {key, ci}))."""
    import numpy as np

    from mrd_bench.report.plots import _save

    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    values = np.asarray([r[key] for _, r in rows], float)
    lo = np.asarray([r["ci"][0] for _, r in rows], float)
    hi = np.asarray([r["ci"][1] for _, r in rows], float)
    ok = np.isfinite(lo) & np.isfinite(hi)
    ax.errorbar(values[ok], y[ok], xerr=[values[ok] - lo[ok], hi[ok] - values[ok]], fmt="o", color="#333333",
                ecolor="#888888", capsize=2, markersize=4)
    ax.plot(values[~ok], y[~ok], "o", color="#333333", markersize=4)  # no interval: the point alone
    if zero is not None:
        ax.axvline(zero, color="#bbbbbb", linewidth=1)
    ax.set_yticks(y, [label for label, _ in rows], fontsize=7)
    ax.set_xlabel(xlabel)
    _save(fig, path)
