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








def ties(counts: Sequence[float]) -> dict:
    """How an integer ground truth ties: its distinct values and the share of samples in a tie."""
    values, freq = np.unique(np.asarray(counts), return_counts=True)
    return {"distinct": int(len(values)), "tied_share": float(freq[freq > 1].sum() / max(1, len(counts))),
            "largest_tie": int(freq.max()) if len(freq) else 0}






# ----------------------------------------------------------------------------- the second pass's tests
# Each primary test gives its estimate, a 95% CI and a two-sided p from the same statistic, so
# that "p < 0.05" and "the CI excludes 0" never disagree; the verdicts (decide.py) read them.

def spearman_test(x: Sequence[float], y: Sequence[float], *, controls=(), null: float = 0.0) -> dict:
    """Spearman's ρ (partial, given `controls`), with its 95% CI and two-sided p against ρ = `null`,
    both from one Fisher z with Bonett & Wright's (2000) variance (1 + ρ²/2) / (n − 3 − k), k the
    number of controls: p < 0.05 exactly when the CI excludes `null`."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    controls = [np.asarray(c, float) for c in controls]
    r = partial_spearman(x, y, controls) if controls else spearman(x, y)
    n, k = len(x), len(controls)
    if not math.isfinite(r) or n - 3 - k < 1:
        return {"rho": r, "ci": [math.nan, math.nan], "p": math.nan, "n": n, "controls": k}
    se = math.sqrt((1 + r * r / 2) / (n - 3 - k))
    z = math.atanh(max(-0.999999, min(0.999999, r)))
    crit = stats.norm.ppf(1 - ALPHA / 2)
    return {"rho": r, "ci": [math.tanh(z - crit * se), math.tanh(z + crit * se)],
            "p": float(2 * stats.norm.sf(abs(z - math.atanh(null)) / se)), "n": n, "controls": k}


def delta_test(values: Sequence[float], high: Sequence[bool]) -> dict:
    """Cliff's δ of the `high` group against the rest (δ = 2·AUC − 1), with its 95% CI and two-sided
    p from one Hanley–McNeil standard error (auc_test): p < 0.05 exactly when the CI excludes 0."""
    values, high = np.asarray(values, float), np.asarray(high, bool)
    a = auc_test(values, high)
    out = {"delta": 2 * a["auc"] - 1, "ci": [2 * a["ci"][0] - 1, 2 * a["ci"][1] - 1], "p": a["p"],
           "n_high": a["n_pos"], "n_low": a["n_neg"], "n": a["n"]}
    out["median_high"] = float(np.median(values[high])) if high.any() else math.nan
    out["median_low"] = float(np.median(values[~high])) if (~high).any() else math.nan
    return out


def holm(pvalues: dict) -> dict:
    """Holm's step-down adjustment of a family of p-values. A NaN p-value (a test that could not be
    computed) stays NaN but still counts in the family's size, so it cannot make the others' correction
    smaller than the family declared."""
    finite = sorted((p, name) for name, p in pvalues.items() if math.isfinite(p))
    out = {name: math.nan for name in pvalues}
    running = 0.0
    for i, (p, name) in enumerate(finite):
        running = max(running, min(1.0, (len(pvalues) - i) * p))
        out[name] = running
    return out


def t_interval(values: Sequence[float]) -> dict:
    """Mean with its t-based 95% CI and the one-sample t test's two-sided p (H0: mean 0)."""
    v = np.asarray(values, float)
    n = len(v)
    mean = float(v.mean()) if n else math.nan
    if n < 2:
        return {"mean": mean, "ci": [math.nan, math.nan], "p": math.nan, "n": n, "sd": math.nan}
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(1 - ALPHA / 2, n - 1)) * sd / math.sqrt(n)
    p = float(2 * stats.t.sf(abs(mean) / (sd / math.sqrt(n)), n - 1)) if sd > 0 else (1.0 if mean == 0 else 0.0)
    return {"mean": mean, "ci": [mean - half, mean + half], "p": p, "n": n, "sd": sd}


def sign_flip(differences: Sequence[float], *, draws: int = 20000, seed: int = 0) -> float:
    """Two-sided permutation p of paired differences (H0: symmetric about 0): every sign flip when
    there are at most 16 pairs, else `draws` random ones (the observed one counted)."""
    d = np.asarray(differences, float)
    n = len(d)
    if n == 0 or not np.any(d):
        return 1.0 if n else math.nan
    observed = abs(d.sum())
    if n <= 16:
        signs = 1 - 2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)
        return float(np.mean(np.abs(signs @ d) >= observed - 1e-12))
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(draws, n))
    return float((1 + np.sum(np.abs(signs @ d) >= observed - 1e-12)) / (draws + 1))


def random_effects_f(groups: Sequence[Sequence[float]]) -> dict:
    """One-way random-effects ANOVA of runs grouped by forget subset (each group: one subset's
    runs, differing only in their training seed): F = MS_between / MS_within, one-sided p, and
    θ = σ²_subset / σ²_seed estimated as (F − 1) / r̄ (r̄ the mean group size)."""
    gs = [np.asarray(g, float) for g in groups if len(g)]
    k, n = len(gs), sum(len(g) for g in gs)
    df1, df2 = k - 1, n - k
    if df1 < 1 or df2 < 1:
        return {"f": math.nan, "p": math.nan, "df": [df1, df2], "theta": math.nan, "sd_subset": math.nan,
                "sd_seed": math.nan}
    grand = np.concatenate(gs).mean()
    ms_between = sum(len(g) * (g.mean() - grand) ** 2 for g in gs) / df1
    ms_within = sum(((g - g.mean()) ** 2).sum() for g in gs) / df2
    f = ms_between / ms_within if ms_within > 0 else math.inf
    r = n / k
    var_subset = max(0.0, (ms_between - ms_within) / r)
    return {"f": float(f), "p": float(stats.f.sf(f, df1, df2)), "df": [df1, df2],
            "theta": float(var_subset / ms_within) if ms_within > 0 else math.inf,
            "sd_subset": math.sqrt(var_subset), "sd_seed": math.sqrt(ms_within)}


# ----------------------------------------------------------------------------- power: the smallest effects a test detects
POWER = 0.8


def mde_spearman(n: int, *, controls: int = 0) -> float:
    """The smallest |ρ| that spearman_test (two-sided α = 0.05) finds with 80% power at n: the root
    of atanh(ρ) = (z_α/2 + z_power)·sqrt((1 + ρ²/2) / (n − 3 − k))."""
    return _mde_rho(n - controls, 0.0)


def mde_spearman_above(n: int, null: float) -> float:
    """The smallest distance ρ − `null` (ρ above `null`) that spearman_test(null=`null`) finds with
    80% power at n: the root of atanh(ρ) − atanh(null) = (z_α/2 + z_power)·sqrt((1 + ρ²/2) / (n − 3))."""
    return _mde_rho(n, null)


def _mde_rho(n: int, null: float) -> float:
    """ρ − null at the root of atanh(ρ) − atanh(null) = (z_α/2 + z_power)·sqrt((1 + ρ²/2) / (n − 3)), by
    bisection on (null, 1); NaN where n − 3 < 1 or no ρ below 1 reaches that power."""
    if n - 3 < 1 or not -1 < null < 1:
        return math.nan
    c = stats.norm.ppf(1 - ALPHA / 2) + stats.norm.ppf(POWER)

    def short(rho: float) -> bool:
        return math.atanh(rho) - math.atanh(null) < c * math.sqrt((1 + rho * rho / 2) / (n - 3))

    lo, hi = null, 0.999999
    if short(hi):
        return math.nan
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if short(mid) else (lo, mid)
    return hi - null


def mde_auc(n_pos: int, n_neg: int) -> float:
    """The smallest |AUC − 0.5| a two-sided Mann–Whitney test finds with 80% power (normal
    approximation, null variance (n₁ + n₂ + 1) / (12 n₁ n₂)); Cliff's δ = 2·(AUC − 0.5)."""
    if n_pos < 1 or n_neg < 1:
        return math.nan
    se = math.sqrt((n_pos + n_neg + 1) / (12 * n_pos * n_neg))
    return (stats.norm.ppf(1 - ALPHA / 2) + stats.norm.ppf(POWER)) * se


def mde_paired(n: int) -> float:
    """The smallest standardised mean difference d = mean / sd that a two-sided paired t test
    (α = 0.05) finds with 80% power over n pairs (noncentral t)."""
    if n < 2:
        return math.nan
    crit = stats.t.ppf(1 - ALPHA / 2, n - 1)

    def power(d: float) -> float:
        nc = d * math.sqrt(n)
        return float(stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc))

    lo, hi = 0.0, 20.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if power(mid) < POWER else (lo, mid)
    return hi


def mde_f(df1: int, df2: int, runs_per_group: float) -> float:
    """The smallest θ = σ²_group / σ²_within that an F(df1, df2) random-effects test (α = 0.05) finds
    with 80% power, groups of `runs_per_group` runs: F / (1 + r θ) ~ F(df1, df2)."""
    if df1 < 1 or df2 < 1:
        return math.nan
    return float((stats.f.ppf(1 - ALPHA, df1, df2) / stats.f.ppf(1 - POWER, df1, df2) - 1) / runs_per_group)


def theta_ci(f: float, df1: int, df2: int, runs_per_group: float, *, level: float = 1 - 2 * ALPHA) -> list[float]:
    """The exact CI of θ = σ²_group / σ²_within from an observed F (balanced one-way design); the
    default 90% two-sided interval matches the one-sided F test at α = 0.05 (p < 0.05 exactly when
    its lower end is above 0)."""
    if not math.isfinite(f) or df1 < 1 or df2 < 1:
        return [math.nan, math.nan]
    tail = (1 - level) / 2
    return [float((f / stats.f.ppf(1 - tail, df1, df2) - 1) / runs_per_group),
            float((f / stats.f.ppf(tail, df1, df2) - 1) / runs_per_group)]


def auc_test(scores: Sequence[float], positive: Sequence[bool]) -> dict:
    """ROC AUC of `scores` for `positive`, with the Hanley–McNeil (1982) standard error, its 95% CI
    and the two-sided z test of AUC = 0.5 from the same standard error."""
    from sklearn.metrics import roc_auc_score

    scores, positive = np.asarray(scores, float), np.asarray(positive, bool)
    n1, n0 = int(positive.sum()), int((~positive).sum())
    if n1 < 1 or n0 < 1:
        return {"auc": math.nan, "ci": [math.nan, math.nan], "p": math.nan, "n_pos": n1, "n_neg": n0, "n": n1 + n0}
    a = float(roc_auc_score(positive.astype(int), scores))
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = math.sqrt(max(1e-12, (a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n1 * n0)))
    crit = stats.norm.ppf(1 - ALPHA / 2)
    return {"auc": a, "ci": [float(max(0.0, a - crit * se)), float(min(1.0, a + crit * se))],
            "p": float(2 * stats.norm.sf(abs(a - 0.5) / se)),
            "se": se, "n_pos": n1, "n_neg": n0, "n": n1 + n0}


def mde_random_effects(subsets: int, runs_per_subset: int) -> float:
    """The smallest θ = σ²_subset / σ²_seed that the random-effects F test (α = 0.05) finds with 80%
    power with `subsets` groups of `runs_per_subset` runs: F / (1 + r θ) ~ F(k − 1, k(r − 1))."""
    df1, df2 = subsets - 1, subsets * (runs_per_subset - 1)
    if df1 < 1 or df2 < 1:
        return math.nan
    crit = stats.f.ppf(1 - ALPHA, df1, df2)
    return float((crit / stats.f.ppf(1 - POWER, df1, df2) - 1) / runs_per_subset)




def n_for_auc(effect: float, *, ratio: float = 1.0, most: int = 100000) -> int:
    """Labelled samples (both classes, n_pos = ratio·n_neg) a two-sided test needs to find
    |AUC − 0.5| = `effect` with 80% power."""
    for n_neg in range(2, most):
        n_pos = max(1, round(ratio * n_neg))
        if mde_auc(n_pos, n_neg) <= effect:
            return n_pos + n_neg
    return most
