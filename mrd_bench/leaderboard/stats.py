"""The leaderboard's statistics, as pure functions on arrays (no files, no models).

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

import numpy as np

from mrd_bench.metrics.privleak import privleak

BINS = ("easy", "medium", "hard")
LEVEL = 0.975  # a pair is separated when one side wins at least this share of resamples
COPY_R = 0.999  # Pearson r above which two per-sample vectors count as an affine copy


def bin_indices(bins: list[str]) -> dict[str, np.ndarray]:
    return {b: np.flatnonzero(np.asarray(bins) == b) for b in BINS}


def draws(groups: dict[str, np.ndarray], sizes: dict[str, int], B: int, seed: int
          ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The shared resamples: for each bin of the forget split, B × n_b indices into that split
    (drawn within the bin); for each other split, B × n indices. Every entry uses the same draws
    (paired)."""
    rng = np.random.default_rng(seed)
    by_bin = {b: idx[rng.integers(len(idx), size=(B, len(idx)))] for b, idx in groups.items() if len(idx)}
    by_split = {split: rng.integers(n, size=(B, n)) for split, n in sizes.items()}
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


def interval(sampled: np.ndarray) -> list[float]:
    if np.isnan(sampled).any():
        return [math.nan, math.nan]
    low, high = np.percentile(sampled, [2.5, 97.5])
    return [float(low), float(high)]


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
