"""The study's statistics: pure functions of arrays, each with its 95% CI.

Correlations bootstrap over samples and, where a score has seeds, over seeds too (each
resample draws one seed and one resample of the samples: a two-level bootstrap).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats

ALPHA = 0.05


def _ci(values: np.ndarray) -> list[float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return [math.nan, math.nan]
    return [float(np.quantile(values, ALPHA / 2)), float(np.quantile(values, 1 - ALPHA / 2))]


def _rank(x) -> np.ndarray:
    return stats.rankdata(np.asarray(x, dtype=float))


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(stats.spearmanr(x, y)[0])


def spearman_ci(x: Sequence[float], y: Sequence[float], *, n_boot: int = 1000, seed: int = 0) -> list[float]:
    """95% bootstrap CI (over samples) of Spearman(x, y)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, len(x), len(x))
        boot[b] = spearman(x[idx], y[idx])
    return _ci(boot)


def agreement(x: Sequence[float], y: Sequence[float]) -> dict:
    """Spearman of two rankings of the same samples, with its bootstrap CI."""
    return {"rho": spearman(x, y), "ci": spearman_ci(x, y)}


def partial_spearman(x, y, controls: Sequence[Sequence[float]]) -> float:
    """Spearman of x and y with the ranks of `controls` regressed out of both (rank partial correlation)."""
    rx, ry = _rank(x), _rank(y)
    design = np.column_stack([np.ones(len(rx))] + [_rank(c) for c in controls])
    resid = [r - design @ np.linalg.lstsq(design, r, rcond=None)[0] for r in (rx, ry)]
    if min(np.std(resid[0]), np.std(resid[1])) == 0:
        return math.nan
    return float(np.corrcoef(*resid)[0, 1])


def correlation(scores: Sequence[Sequence[float]], target: Sequence[float], *, controls=(), n_boot: int = 2000,
                seed: int = 0) -> dict:
    """Spearman (partial when `controls`) of each seed's scores with `target`: the mean over seeds,
    each seed's value, the p-value of seed 0 (the null of no rank association), and a two-level CI."""
    scores = [np.asarray(s, float) for s in scores]
    target = np.asarray(target, float)
    controls = [np.asarray(c, float) for c in controls]

    def rho(s, t, c):
        return partial_spearman(s, t, c) if len(c) else spearman(s, t)

    per_seed = [rho(s, target, controls) for s in scores]
    rng = np.random.default_rng(seed)
    n = len(target)
    boot = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        s = scores[rng.integers(len(scores))]
        boot[b] = rho(s[idx], target[idx], [c[idx] for c in controls])
    if controls:
        r = per_seed[0]
        dof = n - 2 - len(controls)
        t = r * math.sqrt(dof / max(1e-12, 1 - r * r)) if math.isfinite(r) else math.nan
        p = float(2 * stats.t.sf(abs(t), dof)) if math.isfinite(t) else math.nan
    else:
        p = float(stats.spearmanr(scores[0], target)[1]) if math.isfinite(per_seed[0]) else math.nan
    # a resample with no spread (all censored, say) has no correlation and is left out of the CI;
    # how many were is kept, for a reader and for rules that must not trust such a CI
    return {"rho": float(np.nanmean(per_seed)), "ci": _ci(boot), "per_seed": per_seed, "p": p, "n": n,
            "seeds": len(scores), "boot_dropped": int((~np.isfinite(boot)).sum()), "n_boot": n_boot}


def kendall_w(rankings: Sequence[Sequence[float]]) -> dict:
    """Kendall's W (coefficient of concordance, with the tie correction) of m raters over n items,
    its chi-square p-value, and a bootstrap CI over items."""
    data = np.asarray(rankings, float)  # [m, n]

    def w(d: np.ndarray) -> float:
        m, n = d.shape
        ranks = np.vstack([_rank(row) for row in d])
        s = ((ranks.sum(0) - m * (n + 1) / 2) ** 2).sum()
        ties = sum(((c ** 3 - c).sum() for c in (np.unique(row, return_counts=True)[1] for row in d)))
        denom = m * m * (n ** 3 - n) - m * ties
        return float(12 * s / denom) if denom > 0 else math.nan

    value = w(data)
    m, n = data.shape
    chi2 = m * (n - 1) * value
    rng = np.random.default_rng(0)
    boot = np.array([w(data[:, rng.integers(0, n, n)]) for _ in range(1000)])
    return {"w": value, "p": float(stats.chi2.sf(chi2, n - 1)), "ci": _ci(boot), "raters": m, "n": n}


def cliffs_delta(a: Sequence[float], b: Sequence[float]) -> float:
    """P(a > b) − P(a < b) over all pairs: −1..1, 0 = no difference."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not len(a) or not len(b):
        return math.nan
    diff = np.sign(a[:, None] - b[None, :])
    return float(diff.mean())


def group_difference(values: Sequence[float], high: Sequence[bool], *, n_boot: int = 2000, seed: int = 0) -> dict:
    """The values of the `high` group against the rest: medians, Cliff's δ with a bootstrap CI,
    and the two-sided Mann–Whitney p-value."""
    values, high = np.asarray(values, float), np.asarray(high, bool)
    a, b = values[high], values[~high]
    out = {"n_high": int(len(a)), "n_low": int(len(b)),
           "median_high": float(np.median(a)) if len(a) else math.nan,
           "median_low": float(np.median(b)) if len(b) else math.nan, "delta": cliffs_delta(a, b)}
    if len(a) < 2 or len(b) < 2:
        return {**out, "ci": [math.nan, math.nan], "p": math.nan}
    rng = np.random.default_rng(seed)
    boot = np.array([cliffs_delta(rng.choice(a, len(a)), rng.choice(b, len(b))) for _ in range(n_boot)])
    return {**out, "ci": _ci(boot), "p": float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)}


def mean_ci(values: Sequence[float], *, n_boot: int = 2000, seed: int = 0) -> dict:
    values = np.asarray(values, float)
    rng = np.random.default_rng(seed)
    boot = np.array([rng.choice(values, len(values)).mean() for _ in range(n_boot)])
    return {"mean": float(values.mean()), "ci": _ci(boot), "n": int(len(values))}


def verdict_negative(ci: Sequence[float], *, weak: float = -0.1) -> str:
    """For a claimed negative correlation: reproduced when the whole CI is below 0, not reproduced
    when the whole CI is above `weak` (at most a weak association), inconclusive otherwise."""
    lo, hi = ci
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "inconclusive"
    if hi < 0:
        return "reproduced"
    if lo > weak:
        return "not reproduced"
    return "inconclusive"


def ties(counts: Sequence[float]) -> dict:
    """How an integer ground truth ties: its distinct values and the share of samples in a tie."""
    values, freq = np.unique(np.asarray(counts), return_counts=True)
    return {"distinct": int(len(values)), "tied_share": float(freq[freq > 1].sum() / max(1, len(counts))),
            "largest_tie": int(freq.max()) if len(freq) else 0}


def spread_beyond_noise(between: Sequence[float], groups: Sequence[Sequence[float]]) -> dict:
    """Is the spread over subsets more than the seed alone makes? `between` holds one run per subset
    (each with its own seed); each of `groups` holds runs of one subset that differ only in their
    seed. A one-way random-effects F test: F = var(between) / pooled var(groups), one-sided p from
    F(n - 1, Σ (n_g - 1)); the subsets add variance when p is small."""
    between = np.asarray(between, float)
    within = [np.asarray(g, float) for g in groups if len(g) >= 2]
    df_within = sum(len(g) - 1 for g in within)
    if len(between) < 2 or not df_within:
        return {"sd_between": math.nan, "sd_seed": math.nan, "f": math.nan, "p": math.nan, "df": [0, 0]}
    var_seed = sum(((g - g.mean()) ** 2).sum() for g in within) / df_within
    var_between = between.var(ddof=1)
    f = var_between / var_seed if var_seed > 0 else math.inf
    return {"sd_between": float(math.sqrt(var_between)), "sd_seed": float(math.sqrt(var_seed)), "f": float(f),
            "p": float(stats.f.sf(f, len(between) - 1, df_within)), "df": [len(between) - 1, df_within]}


def reversals(differences: Sequence[float], sd_seed: float, *, z: float = 1.96) -> dict:
    """How often the order of two methods (the sign of their per-subset difference) goes against
    the order of their mean: all such subsets, and those whose difference also exceeds z times the
    seed's own SD of the difference (a reversal the seed alone would rarely make)."""
    d = np.asarray(differences, float)
    sign = np.sign(d.mean()) if d.mean() != 0 else 1.0
    against = np.sign(d) == -sign
    clear = against & (np.abs(d) > z * sd_seed) if np.isfinite(sd_seed) else np.zeros_like(against)
    return {"share": float(against.mean()), "beyond_noise_share": float(clear.mean()),
            "threshold": float(z * sd_seed) if np.isfinite(sd_seed) else math.nan}
