"""The statistics layer: seeded resamples, stratified and paired, the statistics they resample,
and percentile intervals, as pure functions on arrays (no files, no models). The boards, the
audit, the lm-eval report and compare-difficulty all draw from here; each keeps its own seed,
so its numbers do not depend on what else ran.

- Resamples: `resample_indices` (B × n, with replacement), `stratified_indices` (drawn within
  each difficulty bin, bin by bin in BINS order, from one generator), `bootstrap_interval`
  (one statistic of two samples, members and others, resampled each in turn: the report's).
- Statistics by name (`STATISTICS`): `mean`, `auc` (members against non-members), `privleak`
  (that AUC against a retain model's), `fq` (forget quality, the KS p against a retain model's
  truth ratios). A board metric and a report column name theirs.
- Means overall, per difficulty bin and reweighted to the annotation's mix (Σ_b w_b · mean_b),
  with B resamples drawn within each bin (the utility split is resampled as one group).
- Paired ranks: every entry is scored on the same resamples, and
  rank(a) = 1 + #{b : b beats a in at least `level` of the resamples} (Chatbot Arena's
  "1 + number of models statistically better", paired). The pairwise shares are computed one
  entry at a time (entries × B at once), never as an entries × entries × B array; the shares
  matrix itself is entries × entries (the board's cap bounds it).
- Utility rules: a floor relative to the original model (an entry whose utility is below the
  floor in at least `level` of the paired resamples is shown, marked and not ranked), or ranks
  along the forget–utility Pareto front (b dominates a when it is at least as good on both and
  better on one, in at least `level` of the paired resamples).
- Membership attacks (`statistic: auc`): the AUC of the members' scores (the forget split)
  against the non-members' (the task's `nonmember_split`), per bin (that bin's members against
  every non-member), overall (all members) and reweighted (Σ_b w_b · AUC_b), with the members
  resampled within bins and the non-members as one group; `privleak` is open-unlearning's
  transform of that AUC, (AUC_ref − AUC) / (1 − AUC_ref) · 100, at its fallback AUC_ref = 0.5
  (what lm-eval states without a retain reference).
- Near-copies: two entries whose per-sample vectors are, metric by metric, identical or an
  affine transform of each other (Pearson r > 0.999).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from mrd_bench.metrics.privleak import privleak

BINS = ("easy", "medium", "hard")
LEVEL = 0.975  # a pair is separated when one side wins at least this share of resamples
COPY_R = 0.999  # Pearson r above which two per-sample vectors count as an affine copy


def bin_indices(bins: list[str]) -> dict[str, np.ndarray]:
    return {b: np.flatnonzero(np.asarray(bins) == b) for b in BINS}


def resample_indices(rng: np.random.Generator, n: int, B: int) -> np.ndarray:
    """B resamples of n indices, with replacement: B × n."""
    return rng.integers(n, size=(B, n))


def stratified_indices(rng: np.random.Generator, groups: dict[str, np.ndarray], B: int) -> dict[str, np.ndarray]:
    """For each non-empty group (in its order), B × n_g of its indices, drawn within the group."""
    return {b: idx[resample_indices(rng, len(idx), B)] for b, idx in groups.items() if len(idx)}


def draws(groups: dict[str, np.ndarray], sizes: dict[str, int], B: int, seed: int
          ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The shared resamples: for each bin of the forget split, B × n_b indices into that split
    (drawn within the bin); for each other split, B × n indices. Every entry uses the same draws
    (paired)."""
    rng = np.random.default_rng(seed)
    by_bin = stratified_indices(rng, groups, B)
    by_split = {split: resample_indices(rng, n, B) for split, n in sizes.items()}
    return by_bin, by_split


def points(values: np.ndarray, groups: dict[str, np.ndarray], weights: dict[str, float]) -> dict[str, float]:
    """The mean overall, per bin and reweighted (NaN for an empty bin, and for the reweighted
    value when a bin with weight > 0 is empty)."""
    out = {b: float(values[idx].mean()) if len(idx) else math.nan for b, idx in groups.items()}
    out["overall"] = float(values.mean())
    empty = any(weights.get(b, 0) > 0 and not len(idx) for b, idx in groups.items())
    out["reweighted"] = math.nan if empty else float(sum(weights.get(b, 0.0) * out[b]
                                                         for b, idx in groups.items() if len(idx)))
    return out


def stratified(values: np.ndarray, groups: dict[str, np.ndarray], weights: dict[str, float],
               resamples: dict[str, np.ndarray]) -> dict[str, tuple[float, np.ndarray]]:
    """Point value and B resampled values of the mean overall, per bin and reweighted."""
    B = next(iter(resamples.values())).shape[0]  # per bin, B × n_b
    point = points(values, groups, weights)
    total = sum(len(idx) for idx in groups.values())
    out, overall, reweighted = {}, np.zeros(B), np.zeros(B)
    for b in BINS:
        idx = groups[b]
        if not len(idx):
            out[b] = (math.nan, np.full(B, math.nan))
            continue
        sampled = values[resamples[b]].mean(axis=1)
        out[b] = (point[b], sampled)
        overall += sampled * len(idx) / total
        reweighted += weights.get(b, 0.0) * sampled
    out["overall"] = (point["overall"], overall)
    out["reweighted"] = (point["reweighted"], np.full(B, math.nan) if math.isnan(point["reweighted"]) else reweighted)
    return out


def resampled_auc(members: np.ndarray, nonmembers: np.ndarray) -> np.ndarray:
    """Row-wise ROC AUC (members above non-members, ties half): members B × m, non-members B × k,
    one row per paired resample; a rank count per row (memory B × (m + k))."""
    members, nonmembers = np.atleast_2d(members), np.atleast_2d(nonmembers)
    ordered = np.sort(nonmembers, axis=1)
    below = np.stack([np.searchsorted(ordered[r], members[r], side="left") for r in range(len(members))])
    upto = np.stack([np.searchsorted(ordered[r], members[r], side="right") for r in range(len(members))])
    return (below + 0.5 * (upto - below)).sum(axis=1) / (members.shape[1] * nonmembers.shape[1])


def transform_of(metric: dict):
    """The map from AUC (a number or an array of them) to a board metric's statistic: None for
    `auc`; for `privleak`, mrd_bench.metrics.privleak at the metric's AUC_ref, element-wise."""
    if metric.get("statistic") == "privleak":
        return lambda auc: np.vectorize(privleak, otypes=[float])(auc, metric["auc_ref"])
    return None


def auc_stratified(members: np.ndarray, nonmembers: np.ndarray, groups: dict[str, np.ndarray],
                   weights: dict[str, float], resamples: dict[str, np.ndarray], nonmember_resample: np.ndarray,
                   transform=None) -> dict[str, tuple[float, np.ndarray]]:
    """Point value and B resampled values of a membership attack's AUC overall, per bin and
    reweighted (the `stratified` of an AUC); `transform` maps AUCs (e.g. to privleak)."""
    transform = transform or (lambda a: a)
    B = nonmember_resample.shape[0]
    others = nonmembers[nonmember_resample]
    out, reweighted, point_rw = {}, np.zeros(B), 0.0
    empty = False
    for b in BINS:
        idx = groups[b]
        if not len(idx):
            out[b] = (math.nan, np.full(B, math.nan))
            empty = empty or weights.get(b, 0) > 0
            continue
        point = float(resampled_auc(members[idx][None, :], nonmembers[None, :])[0])
        sampled = resampled_auc(members[resamples[b]], others)
        out[b] = (float(transform(point)), transform(sampled))
        reweighted += weights.get(b, 0.0) * sampled
        point_rw += weights.get(b, 0.0) * point
    present = [b for b in BINS if len(groups[b])]
    everyone = np.concatenate([groups[b] for b in present])
    overall_sampled = resampled_auc(np.concatenate([members[resamples[b]] for b in present], axis=1), others)
    out["overall"] = (float(transform(resampled_auc(members[everyone][None, :], nonmembers[None, :])[0])),
                      transform(overall_sampled))
    out["reweighted"] = (math.nan, np.full(B, math.nan)) if empty else (float(transform(point_rw)),
                                                                         transform(reweighted))
    return out


def auc_points(members: np.ndarray, nonmembers: np.ndarray, groups: dict[str, np.ndarray],
               weights: dict[str, float], transform=None) -> dict[str, float]:
    """The point values of `auc_stratified` (overall, per bin, reweighted), without resampling."""
    stats = auc_stratified(members, nonmembers, groups, weights, {b: idx[None, :] for b, idx in groups.items()},
                           np.arange(len(nonmembers))[None, :], transform)
    return {k: v for k, (v, _) in stats.items()}


def plain(values: np.ndarray, resample: np.ndarray) -> dict[str, tuple[float, np.ndarray]]:
    return {"overall": (float(values.mean()), values[resample].mean(axis=1))}


def interval(sampled: np.ndarray, *, omit_nan: bool = False) -> list[float]:
    """The 95% percentile interval of resampled values: NaN where one is NaN, or (`omit_nan`) over
    the finite ones."""
    if omit_nan:
        low, high = np.nanpercentile(sampled, [2.5, 97.5])
        return [float(low), float(high)]
    if np.isnan(sampled).any():
        return [math.nan, math.nan]
    low, high = np.percentile(sampled, [2.5, 97.5])
    return [float(low), float(high)]


# ----------------------------------------------------------------------------- one statistic, by name

ITERATIONS = 1000  # the report's resamples
SEED = 0


def _mean(members: np.ndarray, _others: np.ndarray) -> float:
    return float(members.mean())


def _auc(members: np.ndarray, others: np.ndarray) -> float:
    from mrd_bench.metrics.membership_auc import membership_auc  # scikit-learn: loaded where it is used

    return membership_auc(members, others) if len(others) else math.nan


STATISTICS = ("mean", "auc", "privleak", "fq")


def statistic(kind: str, reference: Sequence[float] = ()) -> Callable[[np.ndarray, np.ndarray], float]:
    """The per-group statistic `kind` (one of STATISTICS): the mean, a membership AUC (members vs
    non-members), privleak (that AUC against the retain model's AUC `reference[0]`) or forget
    quality (KS p against the retain model's truth ratios of the same samples, `reference`)."""
    if kind == "fq":
        from mrd_bench.metrics.forget_quality import forget_quality  # scipy: loaded where it is used

        ref = np.asarray(reference, dtype=float)
        return lambda members, _others: forget_quality(members[:, 0], ref[members[:, 1].astype(int)])
    if kind == "privleak":  # the AUC's privleak against the retain model's AUC, reference[0], held fixed
        return lambda members, others: privleak(_auc(members, others), reference[0])
    return {"mean": _mean, "auc": _auc}[kind]


def bootstrap_interval(members: Sequence, others: Sequence, stat: Callable, *, iterations: int = ITERATIONS,
                       seed: int = SEED) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of `stat` over resamples of the members and (each time
    after them) the others; NaN where it cannot be formed (fewer than 2 members, a NaN input,
    or more than half the resamples without a value)."""
    members, others = np.asarray(members, dtype=float), np.asarray(others, dtype=float)
    if len(members) < 2 or np.isnan(members).any() or np.isnan(others).any():
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(iterations):
        m = members[rng.integers(len(members), size=len(members))]
        o = others[rng.integers(len(others), size=len(others))] if len(others) else others
        value = stat(m, o)
        if not math.isnan(value):
            values.append(value)
    if len(values) < iterations // 2:
        return math.nan, math.nan
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def oriented(sampled: np.ndarray, direction: str) -> np.ndarray:
    """Values turned so that higher is better."""
    return sampled if direction == "higher" else -sampled


def win_shares(sampled: np.ndarray, direction: str) -> np.ndarray:
    """shares[a, b]: the share of resamples in which entry b is strictly better than entry a
    (sampled: entries × B, every row on the same resamples). One row at a time: memory E × B."""
    good = oriented(sampled, direction)
    return np.stack([(good > good[a]).mean(axis=1) for a in range(len(good))]) if len(good) else np.zeros((0, 0))


def dominance_shares(forget: np.ndarray, utility: np.ndarray, forget_dir: str, utility_dir: str) -> np.ndarray:
    """shares[a, b]: the share of paired resamples in which b is at least as good as a on both the
    forget and the utility metric and strictly better on one (Pareto dominance)."""
    f, u = oriented(forget, forget_dir), oriented(utility, utility_dir)
    rows = []
    for a in range(len(f)):
        geq = (f >= f[a]) & (u >= u[a])
        rows.append((geq & ((f > f[a]) | (u > u[a]))).mean(axis=1))
    return np.stack(rows) if rows else np.zeros((0, 0))


def ranks(shares: np.ndarray, level: float = LEVEL, ranked: np.ndarray | None = None) -> list[int | None]:
    """1 + the number of ranked entries that beat each entry in at least `level` of the resamples;
    None for an entry outside `ranked` (a boolean mask; default: every entry)."""
    n = shares.shape[0]
    ranked = np.ones(n, dtype=bool) if ranked is None else np.asarray(ranked, dtype=bool)
    return [1 + int((shares[a][ranked] >= level).sum()) if ranked[a] else None for a in range(n)]


def below_floor(utility: np.ndarray, reference: np.ndarray, relative: float, level: float = LEVEL) -> np.ndarray:
    """Per entry: is its utility below `relative` × the original model's in at least `level` of
    the paired resamples? (utility: entries × B; reference: B; higher is better)."""
    if not len(utility):
        return np.zeros(0, dtype=bool)
    return (utility < relative * reference[None, :]).mean(axis=1) >= level


def affine_r(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson r of two vectors; None when either is constant (no affine map to speak of)."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def near_copy(a: dict[str, np.ndarray], b: dict[str, np.ndarray], threshold: float = COPY_R) -> str | None:
    """Why entry b looks like a copy of entry a (every metric's per-sample vector identical, or an
    affine transform with r > threshold), or None when some metric tells them apart."""
    kinds = []
    for mid in sorted(a):
        if np.array_equal(a[mid], b[mid]):
            kinds.append(f"{mid} identical")
            continue
        r = affine_r(a[mid], b[mid])
        if r is None or not r > threshold:
            return None
        kinds.append(f"{mid} affine (r = {r:.5f})")
    return "; ".join(kinds) if kinds else None


def near_copies(values: list[dict[str, np.ndarray]], threshold: float = COPY_R) -> list[tuple[int, int, str]]:
    """Every pair (i, j), i < j, of entries that are near-copies, with the reason."""
    out = []
    for i in range(len(values)):
        for j in range(i + 1, len(values)):
            why = near_copy(values[i], values[j], threshold)
            if why:
                out.append((i, j, why))
    return out
