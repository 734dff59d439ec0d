"""`mrd-bench compare-difficulty A.jsonl B.jsonl`: how two difficulty scorings of the same samples agree.

Rank agreement (Spearman, Kendall) with bootstrap 95% intervals over samples, bin agreement
(Cohen's κ of the easy/medium/hard bins), and a scatter plot. MRD is high for easy samples and
CUD high for hard ones: the correlations are reported on the raw scores and *oriented* (each score
turned so that higher = easier, from its file's `higher_is`), where positive means the two metrics
agree about which samples are easy.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from mrd_bench.annotate import read_scores_file
from mrd_bench.errors import ConfigError, DataError
from mrd_bench.io import write_json
from mrd_bench.outputs import folder_target, replacing
from mrd_bench.provenance import record
from mrd_bench.stats import interval, resample_indices

COMPARISON = {"what": "a comparison", "kind": "compare-difficulty",  # the output policy (mrd_bench/outputs.py)
              "legacy": ("compare.json", "compare.png")}


def _rows(path: Path) -> tuple[dict[str, dict], dict]:
    scores, meta = read_scores_file(path)  # validates every line and the meta
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows[row["sample_id"]] = row
    return {sid: rows[sid] for sid in scores}, meta


def _name(meta: dict, path: Path) -> str:
    metric = str(meta.get("metric", "mrd")).upper()
    return f"{metric} ({path.name})"


def compare(a: str | os.PathLike, b: str | os.PathLike, out: str | os.PathLike, *, overwrite: bool = False,
            resamples: int = 1000, seed: int = 0) -> Path:
    from scipy.stats import kendalltau, spearmanr
    from sklearn.metrics import cohen_kappa_score

    if resamples < 1:
        raise ConfigError(f"--resamples must be at least 1 (the bootstrap's resamples for the 95% intervals); "
                          f"got {resamples}.")
    a, b = Path(a), Path(b)
    out = folder_target(out, overwrite, inputs={"A": a, "B": b}, **COMPARISON)
    rows_a, meta_a = _rows(a)
    rows_b, meta_b = _rows(b)
    common = [sid for sid in rows_a if sid in rows_b]
    if len(common) < 3:
        raise DataError(f"{a.name} and {b.name} share {len(common)} sample ids; score the same split with both "
                        "metrics (at least 3 samples).")
    x = np.array([rows_a[s]["score"] for s in common], dtype=float)
    y = np.array([rows_b[s]["score"] for s in common], dtype=float)
    sign = (1 if meta_a.get("higher_is", "easier") == "easier" else -1) * \
           (1 if meta_b.get("higher_is", "easier") == "easier" else -1)
    rng = np.random.default_rng(seed)
    draws = resample_indices(rng, len(common), resamples)

    def with_ci(fn) -> dict:
        value = float(fn(x, y))
        boot = np.array([fn(x[i], y[i]) for i in draws], dtype=float)
        lo, hi = interval(boot, omit_nan=True)
        return {"value": value, "ci95": [float(lo), float(hi)], "oriented": sign * value,
                "oriented_ci95": sorted([float(sign * lo), float(sign * hi)])}

    bins_a = [rows_a[s].get("bin") for s in common]
    bins_b = [rows_b[s].get("bin") for s in common]
    if None in bins_a or None in bins_b:
        raise DataError("a scores file has rows without a bin; use files written by `mrd-bench score`.")
    labels = sorted(set(bins_a) | set(bins_b))
    result = record(a=str(a), b=str(b), metric_a=meta_a.get("metric", "mrd"), metric_b=meta_b.get("metric", "mrd"),
                    higher_is_a=meta_a.get("higher_is", "easier"), higher_is_b=meta_b.get("higher_is", "easier"),
                    n=len(common), n_only_a=len(rows_a) - len(common), n_only_b=len(rows_b) - len(common),
                    spearman=with_ci(lambda u, v: spearmanr(u, v).statistic),
                    kendall=with_ci(lambda u, v: kendalltau(u, v).statistic),
                    cohen_kappa_bins=float(cohen_kappa_score(bins_a, bins_b, labels=labels)),
                    bin_agreement=float(np.mean([p == q for p, q in zip(bins_a, bins_b)])),
                    bin_table={f"{p}|{q}": int(sum(1 for u, v in zip(bins_a, bins_b) if (u, v) == (p, q)))
                               for p in labels for q in labels},
                    bootstrap={"resamples": resamples, "seed": seed, "interval": "percentile"})
    with replacing(out, **COMPARISON) as tmp:
        _scatter(x, y, bins_a, bins_b, _name(meta_a, a), _name(meta_b, b), result, tmp / "compare.png")
        write_json(tmp / "compare.json", result)
    return out


def _scatter(x, y, bins_a, bins_b, name_a, name_b, result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agree = np.array([p == q for p, q in zip(bins_a, bins_b)])
    fig, ax = plt.subplots(figsize=(6.2, 5.2), layout="constrained")
    ax.scatter(x[agree], y[agree], s=14, color="#2e86c1", edgecolors="#333333", linewidths=0.2, label="same bin")
    ax.scatter(x[~agree], y[~agree], s=14, color="#e67e22", edgecolors="#333333", linewidths=0.2,
               label="different bins")
    for values, setter in ((x, ax.set_xscale), (y, ax.set_yscale)):
        if (values > 0).all() and values.max() / values.min() > 50:
            setter("log")  # a score that spans decades (MRD); one in [0, 1] (CUD) stays linear
    ax.set_xlabel(f"{name_a}, {'higher = easier' if result['higher_is_a'] == 'easier' else 'higher = harder'}")
    ax.set_ylabel(f"{name_b}, {'higher = easier' if result['higher_is_b'] == 'easier' else 'higher = harder'}")
    s, k = result["spearman"], result["kendall"]
    ax.set_title(f"n = {result['n']}: Spearman {s['value']:+.2f} [{s['ci95'][0]:+.2f}, {s['ci95'][1]:+.2f}], "
                 f"Kendall {k['value']:+.2f}\nagreement on easiness (oriented Spearman) {s['oriented']:+.2f}; "
                 f"bins: Cohen's κ {result['cohen_kappa_bins']:.2f}", fontsize=9)
    ax.legend(fontsize=8)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
