"""`mrd-bench audit CLAIM`: was a published claim's forget set unusually easy, what would its
metric be at the reference difficulty mix, and does its ranking of methods survive?

A claim is a JSON file (schema `claim-1.json`) naming the benchmark, the forget subset (a split
or a list of sample ids), the difficulty reference (an annotation file beside the claim, a
shipped annotation by name, or the original model to score over a pool split) and the
reported value; optionally an lm-eval `--log_samples` file
with the per-sample outputs, and a second claim to compare against. The claim is data: it is
read as JSON inside its folder, validated, and never executed.

The pool is every sample of the annotation. Difficulty is the annotation's signal (MRD, CUD,
NLL, ...), turned by its direction (`higher_is`) so that a high percentile means easy. The audit:
1. places the subset's mean ease percentile (each sample's percentile in the pool, averaged)
   among `permutations` random subsets of the same size (seeded), with a one-sided permutation p
   in each direction, and its effect: the shift of that mean from random subsets' (bootstrap CI)
   and Cliff's delta of the subset against the rest of the pool (bootstrap CI). "Unusually easy"
   (or hard) needs both p < 0.05 and a shift of at least MIN_SHIFT (rule fixed below). Also a
   two-sample KS test against the rest of the pool, and an exact binomial test per bin;
2. with per-sample outputs: per-bin means and the value reweighted to the pool's bin mix, with
   a bootstrap CI stratified by bin, beside the reported value;
3. with a second claim: both reweighted to the pool's mix, and the CI of their difference
   (paired when both cover the same samples, unpaired otherwise): does the order survive?
4. says it in plain words. Writes audit.json, audit.md, audit.html and difficulty.png.
"""
from __future__ import annotations

import html
import math
from collections import Counter
from pathlib import Path

import numpy as np

from mrd_bench.errors import ConfigError, DataError
from mrd_bench.io import write_json, write_text
from mrd_bench.leaderboard.submission import documents, value_of
from mrd_bench.leaderboard.untrusted import (Invalid, confined, finite, printable, read, schema_problems, sha256,
                                             short)
from mrd_bench.lmeval.aggregations import BINS
from mrd_bench.outputs import folder_target, replacing
from mrd_bench.signals.base import direction_sign
from mrd_bench.stats import bin_indices, points, resample_indices, stratified, stratified_indices
from mrd_bench.stats import interval as ci

ALPHA = 0.05
MIN_SHIFT = 0.05  # the smallest shift of the mean ease percentile (on a 0-1 scale) a verdict calls unusual
AUDIT = {"what": "an audit", "kind": "audit",  # the output policy (mrd_bench/outputs.py)
         "legacy": ("audit.json", "audit.md", "audit.html", "difficulty.png", "pool_scores.jsonl",
                    "pool_scores.meta.json", "pool_annotation.json")}
SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")  # what transformers loads, in its order
PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.pickle")  # torch.load would unpickle these
HUB_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken"]  # no pickle is ever fetched


def read_claim(path: str | Path) -> tuple[dict, Path]:
    """The claim, validated; every problem in one line each (raised as one DataError)."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        raise DataError(f"claim {str(path)!r}: no such file (a symlink is not read); give the claim's JSON file")
    try:
        claim = read(path, path.name)
    except Invalid as err:
        raise DataError(str(err)) from None
    problems = schema_problems(claim, "claim", path.name)
    if problems:
        raise DataError("; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""))
    return claim, path.parent


def annotation_of(claim: dict, folder: Path, out: Path | None = None) -> tuple[dict, Path]:
    from mrd_bench.annotate import read_annotation
    from mrd_bench.lmeval.stratified import shipped_dir

    ref = claim["difficulty"]
    try:
        if "model" in ref:
            if out is None:
                raise Invalid("difficulty/model: a compared claim must name an annotation, not a model to score")
            return read_annotation(score_pool(claim, folder, out)), out / "pool_annotation.json"
        if "annotation" in ref:
            path = confined(folder, ref["annotation"], "difficulty/annotation")
            read(path, "difficulty/annotation", finite=False)  # nesting and digit limits before read_annotation
        else:
            path = shipped_dir() / f"{ref['shipped']}.json"
            if not path.is_file():
                names = sorted(p.stem for p in shipped_dir().glob("*.json"))
                raise Invalid(f"difficulty/shipped: {short(ref['shipped'])}: no such shipped annotation; one of {names}")
    except Invalid as err:
        raise DataError(str(err)) from None
    return read_annotation(path), path


def score_pool(claim: dict, folder: Path, out: Path) -> Path:
    """Score MRD of the claim's original model over its pool split (definition estimator) and
    annotate the pool: out/pool_scores.jsonl and out/pool_annotation.json. A model folder must lie
    inside the claim's folder; it is loaded as safetensors weights only (no pickle, no remote code)."""
    from mrd_bench.annotate import annotate
    from mrd_bench.data import load
    from mrd_bench.models import load_model
    from mrd_bench.pipeline import encode_split, targets
    from mrd_bench.provenance import data_hash, record
    from mrd_bench.scorers.runner import ScoreConfig
    from mrd_bench.scorers.stream import score_to_file

    ref = claim["difficulty"]["model"]
    local = folder / ref["name"]
    try:
        name = str(local_model(folder, ref["name"]) if local.exists() or local.is_symlink() else hub_model(ref["name"]))
    except Invalid as err:
        raise DataError(str(err)) from None
    pool = load(claim["benchmark"], ref["pool_split"])
    model, tokenizer = load_model(name, trust_remote_code=False)
    cfg = ScoreConfig(estimator="definition", sigma=ref.get("sigma"), draws=ref.get("draws", 8), seed=0)
    scores = score_to_file(model, encode_split(tokenizer, pool), pool["sample_id"], targets(pool), cfg,
                           out / "pool_scores.jsonl", overwrite=True,
                           meta=record(benchmark=claim["benchmark"], split=ref["pool_split"], model=ref["name"],
                                       data_hash=data_hash(pool)))
    return annotate(scores, pool["sample_id"], out / "pool_annotation.json", overwrite=True,
                    source={"benchmark": claim["benchmark"], "split": ref["pool_split"]})


def local_model(folder: Path, name: str) -> Path:
    """The model folder `name` inside the claim's folder: its config, JSON files and weights are
    regular files inside it (no symlink, no hard link), and it passes `safe_model`."""
    field = "difficulty/model/name"
    local = confined(folder, name + "/config.json", field).parent
    for file in [p.name for p in local.glob("*.json")] + [w for w in SAFE_WEIGHTS if (local / w).exists()]:
        confined(folder, f"{name}/{file}", field)
    return safe_model(local, field, name)


def hub_model(name: str) -> Path:
    """A hub model's config, tokenizer and safetensors weights only (no pickle is fetched), as a
    local folder that passes `safe_model`."""
    from huggingface_hub import snapshot_download

    field = "difficulty/model/name"
    try:
        local = Path(snapshot_download(name, allow_patterns=HUB_FILES))
    except (OSError, ValueError) as err:
        raise Invalid(f"{field}: {short(name)}: could not fetch it from the hub "
                      f"({(str(err).splitlines() or [type(err).__name__])[0][:120]}); check the id, or that you "
                      "are online") from None
    return safe_model(local, field, name)


def safe_model(local: Path, field: str, name: str) -> Path:
    """A model folder checked before anything loads it: its JSON files (but the tokenizer's, which
    Rust parses) within the untrusted-input limits, and safetensors weights; pickle weights,
    which torch would unpickle, are refused."""
    for path in sorted(local.glob("*.json")):
        if path.name != "tokenizer.json":
            read(path.resolve(), field, finite=False)
    if any((local / w).is_file() for w in SAFE_WEIGHTS):
        return local
    pickles = sorted(p.name for pattern in PICKLE_WEIGHTS for p in local.glob(pattern))
    if pickles:
        raise Invalid(f"{field}: {short(name)} holds only pickle weights ({pickles[0]}); the audit loads "
                      "safetensors only: convert it with `AutoModelForCausalLM.from_pretrained(folder)"
                      ".save_pretrained(folder, safe_serialization=True)` where you trust the file")
    raise Invalid(f"{field}: {short(name)} holds no model.safetensors; save the model with save_pretrained")


def subset_ids(claim: dict, annotation: dict) -> list[str]:
    if "sample_ids" in claim["forget"]:
        ids = claim["forget"]["sample_ids"]
        dupes = sorted(s for s, n in Counter(ids).items() if n > 1)
        if dupes:
            raise DataError(f"forget/sample_ids: {short(dupes[0])}: duplicate sample id ({len(dupes)} repeated)")
    else:
        from mrd_bench.data import load

        ids = list(load(claim["benchmark"], claim["forget"]["split"])["sample_id"])
    outside = [s for s in ids if s not in annotation["samples"]]
    if outside:
        raise DataError(f"forget: {len(outside)} sample ids are not in the difficulty reference's pool "
                        f"(e.g. {short(outside[0])}); annotate a pool that holds the claim's forget set")
    if len(ids) >= len(annotation["samples"]):
        raise DataError(f"forget: the subset ({len(ids)} samples) is the whole pool; there is nothing to compare it with")
    return ids


# ----------------------------------------------------------------------------- statistics (pure)

def percentile_ranks(scores: np.ndarray) -> np.ndarray:
    """Each score's percentile in the pool (0 = the lowest, 1 = the highest), ties averaged; given
    ease (the signal times its direction), 0 = hardest and 1 = easiest."""
    from scipy.stats import rankdata

    return (rankdata(scores) - 1) / max(len(scores) - 1, 1)


def permutation(pool: np.ndarray, chosen: np.ndarray, permutations: int, seed: int) -> dict:
    """Where the chosen subset's mean lies among random subsets of its size from the pool."""
    rng = np.random.default_rng(seed)
    k = len(chosen)
    observed = float(pool[chosen].mean())
    means = np.array([pool[rng.choice(len(pool), size=k, replace=False)].mean() for _ in range(permutations)])
    return {"observed": observed, "random_mean": float(means.mean()),
            "random_95": [float(x) for x in np.percentile(means, [2.5, 97.5])],
            "share_below": float((means < observed).mean()),
            "share_above": float((means > observed).mean()),
            "p_easier": float((1 + (means >= observed).sum()) / (permutations + 1)),
            "p_harder": float((1 + (means <= observed).sum()) / (permutations + 1)),
            "permutations": permutations, "seed": seed}


def cliffs_delta(a: np.ndarray, b: np.ndarray) -> float:
    """P(a > b) − P(a < b) over all pairs (Cliff, 1993), from ranks: O(n log n)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([a, b]))
    u = ranks[:len(a)].sum() - len(a) * (len(a) + 1) / 2  # Mann-Whitney U of a, ties counted half
    return float(2 * u / (len(a) * len(b)) - 1)


MIN_REST = 20  # Cliff's delta against the rest of the pool is shown only when the rest holds this many


def effect(pct: np.ndarray, chosen: np.ndarray, B: int, seed: int) -> dict:
    """The subset's shift of the mean ease percentile from the pool's (the mean of every random
    subset of its size), with a 95% CI from resampling the subset, its spread shrunk by the finite
    population correction sqrt((N - k) / (N - 1)) (a subset of nearly the whole pool can hardly
    differ from it) and kept within the shifts a subset of its size can have; the largest shift a
    subset of its size could have; and Cliff's delta of its
    ease percentiles against the rest of the pool (bootstrap CI; `n_rest` says how many that
    rest holds: against a handful it means little, and readers are told so)."""
    rng = np.random.default_rng(seed)
    rest = np.setdiff1d(np.arange(len(pct)), chosen)
    a, b = pct[chosen], pct[rest]
    centre, k, n = float(pct.mean()), len(a), len(pct)
    shift = float(a.mean() - centre)
    fpc = math.sqrt((n - k) / (n - 1)) if n > 1 else 0.0
    shifts, deltas = np.empty(B), np.full(B, np.nan)
    for i in range(B):
        ra = a[rng.integers(k, size=k)]
        shifts[i] = shift + (ra.mean() - a.mean()) * fpc
        if len(b):
            deltas[i] = cliffs_delta(ra, b[rng.integers(len(b), size=len(b))])
    ordered = np.sort(pct)
    low, high = float(ordered[:k].mean() - centre), float(ordered[-k:].mean() - centre)  # what size k allows
    return {"shift": shift, "shift_ci": [float(np.clip(x, low, high)) for x in ci(shifts)], "max_shift": high,
            "cliffs_delta": cliffs_delta(a, b) if len(b) else float("nan"), "cliffs_delta_ci": ci(deltas),
            "n_rest": int(len(b)), "bootstrap": B, "min_shift": MIN_SHIFT}


def effect_text(eff: dict) -> str:
    """The effect sizes in words, with Cliff's delta left out where the rest of the pool is too small."""
    shift = (f"shift {eff['shift']:+.4f} [{eff['shift_ci'][0]:+.4f}, {eff['shift_ci'][1]:+.4f}] "
             f"(the most a subset of this size could shift is {eff.get('max_shift', float('nan')):+.4f})")
    rest = eff.get("n_rest")
    if rest is not None and rest < MIN_REST:
        return (shift + f", Cliff's delta against the rest of the pool not shown: the rest holds only {rest} "
                f"sample{'s' if rest != 1 else ''} (fewer than {MIN_REST})")
    return (shift + f", Cliff's delta against the rest of the pool {eff['cliffs_delta']:+.3f} "
            f"[{eff['cliffs_delta_ci'][0]:+.3f}, {eff['cliffs_delta_ci'][1]:+.3f}]")


def share_text(x: float) -> str:
    """A share as a percentage that never rounds to 0% or 100% unless it is exactly that."""
    if x in (0.0, 1.0):
        return f"{x:.0%}"
    for digits in range(0, 4):
        text = f"{x:.{digits}%}"
        if float(text[:-1]) not in (0.0, 100.0):
            return text
    return "< 0.001%" if x < 0.5 else "> 99.999%"


def bin_tests(pool_bins: list[str], subset_bins: list[str]) -> dict:
    from scipy.stats import binomtest

    out = {}
    for b in BINS:
        share = pool_bins.count(b) / len(pool_bins)
        count = subset_bins.count(b)
        out[b] = {"count": count, "expected": share * len(subset_bins), "pool_share": share,
                  "p": float(binomtest(count, len(subset_bins), share).pvalue) if 0 < share < 1 else math.nan}
    return out


def reweight(values: np.ndarray, bins: list[str], weights: dict[str, float], B: int, rng) -> dict:
    """Per-bin means and Σ w_b mean_b, with B stratified bootstrap draws of the latter (the boards'
    `stats.stratified`); where a bin with weight > 0 is empty, nothing is drawn from `rng`."""
    groups = bin_indices(bins)
    if any(weights.get(b, 0) > 0 and not len(g) for b, g in groups.items()):
        per_bin = {b: v for b, v in points(values, groups, weights).items() if b in BINS}
        return {"per_bin": per_bin, "value": math.nan, "draws": np.full(B, math.nan), "empty": True}
    got = stratified(values, groups, weights, stratified_indices(rng, groups, B))
    value, draws = got["reweighted"]
    return {"per_bin": {b: got[b][0] for b in BINS}, "value": value, "draws": draws, "empty": False}


# ----------------------------------------------------------------------------- the audit

def per_sample(claim: dict, folder: Path, ids: list[str]) -> np.ndarray:
    """The claim's per-sample metric values, aligned to `ids`, from its lm-eval samples file."""
    metric = claim["reported"]["metric"]
    try:
        rows = read(confined(folder, claim["samples"], "samples"), "samples", finite=False, lines=True)
        members, _, repeated = documents(rows, "samples")
    except Invalid as err:
        raise DataError(str(err)) from None
    if repeated:
        raise DataError(f"samples: doc/sample_id: {short(repeated[0])}: duplicate sample id")
    by_id = {sid: value_of(row, metric) for sid, row in members.items()}
    missing = [s for s in ids if s not in by_id]
    if missing:
        raise DataError(f"samples: {len(missing)} of the forget subset's samples are missing (e.g. {short(missing[0])})")
    bad = next((s for s in ids if not finite(by_id[s])), None)
    if bad is not None:
        raise DataError(f"samples: {bad}: {metric}: {short(by_id[bad])}: not a finite number")
    return np.asarray([float(by_id[s]) for s in ids])


def analyse(claim: dict, folder: Path, *, permutations: int, bootstrap: int, seed: int, depth: int = 0,
            out: Path | None = None) -> dict:
    annotation, ann_path = annotation_of(claim, folder, out if depth == 0 else None)
    if sorted(annotation.get("bins", [])) != sorted(BINS):
        raise DataError(f"difficulty: the annotation has bins {annotation.get('bins')}; the audit compares the three "
                        f"bins {list(BINS)}: annotate with 3 bins")
    pool_ids = list(annotation["samples"])
    ids = subset_ids(claim, annotation)
    scores = np.asarray([annotation["samples"][s]["score"] for s in pool_ids], dtype=float)
    position = {s: i for i, s in enumerate(pool_ids)}
    chosen = np.asarray([position[s] for s in ids])
    signal = {"label": annotation.get("signal_label") or str(annotation.get("metric", "mrd")).upper(),
              "higher_is": annotation.get("higher_is", "easier")}
    pct = percentile_ranks(direction_sign(signal["higher_is"]) * scores)  # 0 = hardest, 1 = easiest
    from scipy.stats import ks_2samp

    perm = permutation(pct, chosen, permutations, seed)
    rest = np.setdiff1d(np.arange(len(pool_ids)), chosen)
    ks = ks_2samp(scores[chosen], scores[rest])
    pool_bins = [annotation["samples"][s]["bin"] for s in pool_ids]
    subset_bins = [annotation["samples"][s]["bin"] for s in ids]
    pool_weights = {b: pool_bins.count(b) / len(pool_bins) for b in BINS}
    out = {
        "title": claim["title"], "source": claim.get("source", ""), "benchmark": claim["benchmark"],
        "method": claim["reported"]["method"], "n_subset": len(ids), "n_pool": len(pool_ids),
        "annotation": {"path": ann_path.name, "sha256": sha256(ann_path), "model_hash": annotation.get("model_hash"),
                       "bin_edges": annotation["bin_edges"], "signal": signal},
        "difficulty": {
            "statistic": f"mean ease percentile in the pool by {signal['label']} (higher = {signal['higher_is']}; "
                         "0 = hardest, 1 = easiest)",
            "permutation": perm,
            "effect": effect(pct, chosen, bootstrap, seed),
            "mean_score": {"subset": float(scores[chosen].mean()), "pool": float(scores.mean())},
            "median_score": {"subset": float(np.median(scores[chosen])), "pool": float(np.median(scores))},
            "ks": {"statistic": float(ks.statistic), "p": float(ks.pvalue), "against": "the rest of the pool"},
            "bins": bin_tests(pool_bins, subset_bins)},
        "reported": claim["reported"], "pool_weights": pool_weights,
        "_scores": scores, "_chosen": chosen, "_ids": ids, "_subset_bins": subset_bins,
    }
    if "samples" in claim:
        values = per_sample(claim, folder, ids)
        rng = np.random.default_rng(seed)
        rw = reweight(values, subset_bins, pool_weights, bootstrap, rng)
        draws = values[resample_indices(rng, len(values), bootstrap)].mean(axis=1)
        out["reweighting"] = {"measured": float(values.mean()), "measured_ci": ci(draws),
                              "per_bin": rw["per_bin"], "bin_counts": {b: subset_bins.count(b) for b in BINS},
                              "reweighted": rw["value"], "reweighted_ci": ci(rw["draws"]), "bootstrap": bootstrap,
                              "empty_bin": rw["empty"]}
        out["_values"], out["_draws"] = values, rw["draws"]
    if "compare" in claim and depth == 0:
        try:
            other_path = confined(folder, claim["compare"], "compare")
        except Invalid as err:
            raise DataError(str(err)) from None
        other_claim, other_folder = read_claim(other_path)
        other = analyse(other_claim, other_folder, permutations=permutations, bootstrap=bootstrap, seed=seed + 1,
                        depth=1)
        out["comparison"] = compare(out, other, claim["reported"], bootstrap, seed)
        out["_other"] = other
    return out


def compare(a: dict, b: dict, reported: dict, B: int, seed: int) -> dict:
    """Both methods at the pool's mix: the order before (reported) and after (reweighted), and the
    CI of the reweighted difference a − b (paired when they cover the same samples)."""
    if a["annotation"]["sha256"] != b["annotation"]["sha256"]:
        raise DataError("compare: the two claims use different difficulty references; audit them against the same pool")
    if b["reported"]["metric"] != reported["metric"] or b["reported"]["direction"] != reported["direction"]:
        raise DataError(f"compare: the claims report different metrics ({reported['metric']!r} vs "
                        f"{b['reported']['metric']!r}); compare like with like")
    sign = 1 if reported["direction"] == "higher" else -1
    result = {"a": a["method"], "b": b["method"], "metric": reported["metric"],
              "reported": {"a": reported["value"], "b": b["reported"]["value"]},
              "reported_ahead": a["method"] if sign * (reported["value"] - b["reported"]["value"]) > 0 else b["method"]}
    if "_values" not in a or "_values" not in b:
        result["note"] = "both claims need per-sample outputs (samples) to reweight"
        return result
    paired = sorted(a["_ids"]) == sorted(b["_ids"])
    rng = np.random.default_rng(seed)
    if paired:
        order = {s: i for i, s in enumerate(b["_ids"])}
        bv = b["_values"][[order[s] for s in a["_ids"]]]
        diff_draws = reweight(a["_values"] - bv, a["_subset_bins"], a["pool_weights"], B, rng)["draws"]
    else:
        diff_draws = a["_draws"] - b["_draws"]
    diff = a["reweighting"]["reweighted"] - b["reweighting"]["reweighted"]
    low, high = ci(diff_draws)
    ahead = None if math.isnan(diff) else a["method"] if sign * diff > 0 else b["method"]
    result.update({"reweighted": {"a": a["reweighting"]["reweighted"], "b": b["reweighting"]["reweighted"]},
                   "difference": diff, "difference_ci": [low, high], "paired": paired,
                   "reweighted_ahead": ahead, "separated": bool(low > 0 or high < 0),
                   "order_survives": ahead == result["reported_ahead"] and bool(low > 0 or high < 0)})
    return result


def difficulty_verdict(r: dict) -> str:
    """"easy", "hard" or "typical": the rule fixed before any audit ran: a one-sided permutation
    p < ALPHA and a shift of the mean ease percentile of at least MIN_SHIFT in that direction."""
    perm, eff = r["difficulty"]["permutation"], r["difficulty"]["effect"]
    if perm["p_easier"] < ALPHA and eff["shift"] >= MIN_SHIFT:
        return "easy"
    if perm["p_harder"] < ALPHA and eff["shift"] <= -MIN_SHIFT:
        return "hard"
    return "typical"


def verdict(r: dict) -> list[str]:
    d = r["difficulty"]
    perm, eff = d["permutation"], d["effect"]
    kind = difficulty_verdict(r)
    size = (f"mean ease percentile {perm['observed']:.3f} vs {perm['random_mean']:.3f} for random subsets: "
            f"{effect_text(eff)}")
    rule = (f"Rule: unusually easy or hard needs a one-sided permutation p < {ALPHA} and a shift of at least "
            f"{MIN_SHIFT} in that direction; difficulty is {r['annotation']['signal']['label']} (higher = "
            f"{r['annotation']['signal']['higher_is']}).")
    if kind == "easy":
        lines = [f"This subset is easier than {share_text(perm['share_below'])} of {perm['permutations']:,} random "
                 f"subsets of its size (permutation p = {perm['p_easier']:.3g}, "
                 f"KS p = {d['ks']['p']:.3g}; {size}): its forget set was "
                 "unusually easy, so its numbers describe easier samples than the pool holds."]
    elif kind == "hard":
        lines = [f"This subset is harder than {share_text(perm['share_above'])} of {perm['permutations']:,} random "
                 f"subsets of its size (permutation p = {perm['p_harder']:.3g}, "
                 f"KS p = {d['ks']['p']:.3g}; {size}): its forget set was "
                 "unusually hard, so its numbers describe harder samples than the pool holds."]
    else:
        small = min(perm["p_easier"], perm["p_harder"]) < ALPHA
        lines = [f"This subset's difficulty is typical: it is easier than {share_text(perm['share_below'])} of "
                 f"{perm['permutations']:,} random subsets of its size "
                 f"(permutation p = {min(perm['p_easier'], perm['p_harder']):.3g} one-sided, "
                 f"KS p = {d['ks']['p']:.3g}; {size})"
                 + ("; the difference is detectable but smaller than the rule's shift, so nothing to correct."
                    if small else "; nothing to correct.")]
    lines.append(rule)
    rw = r.get("reweighting")
    if rw and rw["empty_bin"]:
        rep = r["reported"]
        empty = [b for b, n in rw["bin_counts"].items() if n == 0 and r["pool_weights"].get(b, 0) > 0]
        held = ", ".join(f"{b} {v:.4g}" for b, v in rw["per_bin"].items() if rw["bin_counts"][b])
        lines.append(f"The claimed {rep.get('label') or rep['metric']} of {rep['value']:.4g} cannot be reweighted to "
                     f"the pool's difficulty mix: the subset holds no {' or '.join(empty)} samples, so it says nothing "
                     f"about them (per bin it holds: {held}).")
    elif rw:
        rep = r["reported"]
        lines.append(f"Reweighted to the pool's difficulty mix, the claimed {rep.get('label') or rep['metric']} of "
                     f"{rep['value']:.4g} (measured from the samples: {rw['measured']:.4g}) becomes "
                     f"{rw['reweighted']:.4g} [{rw['reweighted_ci'][0]:.4g}, {rw['reweighted_ci'][1]:.4g}].")
    c = r.get("comparison")
    if c and "difference" in c and math.isnan(c["difference"]):
        lines.append(f"{c['a']} vs {c['b']}: reported, {c['reported_ahead']} is ahead; the two cannot be compared at "
                     "the pool's mix, because a subset lacks a difficulty bin the pool has: the claimed ranking is not "
                     "supported by a like-for-like comparison.")
    elif c and "difference" in c:
        lines.append(f"{c['a']} vs {c['b']}: reported, {c['reported_ahead']} is ahead; at the pool's mix the "
                     f"difference {c['a']} − {c['b']} is {c['difference']:.4g} [{c['difference_ci'][0]:.4g}, "
                     f"{c['difference_ci'][1]:.4g}] ({'paired' if c['paired'] else 'unpaired'}): "
                     + ("the ranking survives." if c["order_survives"] else
                        "the ranking does not survive." if c["separated"] else
                        "the two are not separated, so the claimed ranking is not supported."))
    return lines


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from matplotlib.ticker import NullFormatter

    from mrd_bench.leaderboard.page import mpl_text
    from mrd_bench.report.plots import mrd_scale

    scores, chosen = r["_scores"], r["_chosen"]
    signal = r["annotation"]["signal"]
    log = mrd_scale(scores) == "log"  # the reports' rule: MRD spans decades; CUD, Min-K% do not
    if log:
        low, high = np.log10(scores.min()), np.log10(scores.max())
        edges = np.logspace(low, high, 31)
    else:
        edges = np.linspace(scores.min(), scores.max(), 31)
    fig, ax = plt.subplots(figsize=(8.5, 4.4), layout="constrained")
    ax.hist(scores, bins=edges, weights=np.full(len(scores), 1 / len(scores)), alpha=0.45,
            label=f"pool (n = {len(scores)})", color="grey")
    ax.hist(scores[chosen], bins=edges, weights=np.full(len(chosen), 1 / len(chosen)), alpha=0.6,
            label=f"claim's subset (n = {len(chosen)})", color="C3")
    for i, e in enumerate(r["annotation"]["bin_edges"]):
        ax.axvline(e, color="k", ls=":", lw=1, label="bin edges" if i == 0 else None)
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ticks = [m * 10.0 ** k for k in range(int(np.floor(low)), int(np.ceil(high)) + 1) for m in (1, 2, 5)
                 if edges[0] <= m * 10.0 ** k <= edges[-1]]
        ax.set_xticks(ticks, [f"{t:.0e}" for t in ticks])
    right = "easier" if signal["higher_is"] == "easier" else "harder"
    ax.set_xlabel(mpl_text(f"{signal['label']} under the original model ({'log scale; ' if log else ''}higher = "
                           f"{signal['higher_is']}: right = {right} to forget)"))
    ax.set_ylabel("share of samples per bar")
    perm = r["difficulty"]["permutation"]
    ax.set_title(f"Difficulty of the claim's subset over the pool\n(mean ease percentile {perm['observed']:.2f}; "
                 f"easier than {share_text(perm['share_below'])} of {perm['permutations']:,} random subsets of its size)",
                 fontsize="medium")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def public(r: dict) -> dict:
    out = {k: v for k, v in r.items() if not k.startswith("_")}
    if "_other" in r:
        out["compared_claim"] = public(r["_other"])
    return out


def audit(claim_path: str | Path, out: str | Path | None = None, *, permutations: int = 10000, bootstrap: int = 2000,
          seed: int = 0, overwrite: bool = False) -> Path:
    from mrd_bench.provenance import record

    if permutations < 100 or bootstrap < 100:
        raise ConfigError("--permutations and --bootstrap must be at least 100 each.")
    claim, folder = read_claim(claim_path)
    out = Path(out) if out else Path(claim_path).with_name(Path(claim_path).stem + "_audit")
    out = folder_target(out, overwrite, inputs={"CLAIM": claim_path}, **AUDIT)
    with replacing(out, **AUDIT) as tmp:
        r = analyse(claim, folder, permutations=permutations, bootstrap=bootstrap, seed=seed, out=tmp)
        r["verdict"] = verdict(r)
        r["difficulty"]["verdict"] = difficulty_verdict(r)
        plot(r, tmp / "difficulty.png")
        write_json(tmp / "audit.json", record(claim=Path(claim_path).name, claim_sha256=sha256(claim_path),
                                              seed=seed, **public(r)))
        write_text(tmp / "audit.md", markdown(r))
        write_text(tmp / "audit.html", page(r))
    for line in r["verdict"]:
        print(printable(line))
    print(printable(f"Audit: {out / 'audit.html'}"))
    return out


def _rows(r: dict) -> list[tuple[str, str]]:
    d, perm, eff = r["difficulty"], r["difficulty"]["permutation"], r["difficulty"]["effect"]
    rows = [("forget subset", f"{r['n_subset']} of a pool of {r['n_pool']} ({r['benchmark']})"),
            ("difficulty reference", f"{r['annotation']['path']} (sha256 {r['annotation']['sha256'][:12]}…)"),
            ("difficulty signal", f"{r['annotation']['signal']['label']} (higher = {r['annotation']['signal']['higher_is']})"),
            ("mean ease percentile", f"{perm['observed']:.3f} (random subsets: {perm['random_mean']:.3f}, 95% range "
                                     f"[{perm['random_95'][0]:.3f}, {perm['random_95'][1]:.3f}])"),
            ("permutation test", f"easier than {share_text(perm['share_below'])} of {perm['permutations']:,} random "
                                 f"subsets (seed {perm['seed']}); p(easier) = {perm['p_easier']:.3g}, "
                                 f"p(harder) = {perm['p_harder']:.3g}"),
            ("effect size", f"mean ease percentile {effect_text(eff)} ({eff['bootstrap']} bootstrap resamples)"),
            ("verdict rule", f"unusual needs p < {ALPHA} and |shift| >= {MIN_SHIFT}: {difficulty_verdict(r)}"),
            ("KS test vs the rest of the pool", f"D = {d['ks']['statistic']:.3f}, p = {d['ks']['p']:.3g}"),
            ("median score", f"subset {d['median_score']['subset']:.4g}, pool {d['median_score']['pool']:.4g}")]
    rows += [(f"bin {b} (exact binomial)", f"{t['count']} samples, {t['expected']:.1f} expected at the pool's share "
              f"{t['pool_share']:.3f}; p = {t['p']:.3g}") for b, t in d["bins"].items()]
    rep = r["reported"]
    rows.append(("reported", f"{rep['method']}: {rep.get('label') or rep['metric']} = {rep['value']:.4g} "
                             f"({rep['direction']} is better)"))
    rw = r.get("reweighting")
    if rw:
        rows += [("measured from the samples", f"{rw['measured']:.4g} [{rw['measured_ci'][0]:.4g}, {rw['measured_ci'][1]:.4g}]"),
                 ("per bin", ", ".join(f"{b} {rw['per_bin'][b]:.4g} (n = {rw['bin_counts'][b]})" for b in BINS)),
                 ("reweighted to the pool's mix", f"{rw['reweighted']:.4g} [{rw['reweighted_ci'][0]:.4g}, "
                                                  f"{rw['reweighted_ci'][1]:.4g}] ({rw['bootstrap']} stratified resamples)")]
    c = r.get("comparison")
    if c:
        rows.append(("compared with",
                     f"{c['b']}: reported {c['reported']['b']:.4g}; reported order: {c['reported_ahead']} ahead"))
        if "difference" in c:
            rows.append(("reweighted difference", f"{c['difference']:.4g} [{c['difference_ci'][0]:.4g}, "
                                                  f"{c['difference_ci'][1]:.4g}], {'paired' if c['paired'] else 'unpaired'}; "
                                                  f"{c['reweighted_ahead']} ahead"))
    return rows


def markdown(r: dict) -> str:
    from mrd_bench.leaderboard.page import md_escape

    lines = [f"# Audit: {md_escape(r['title'])}", ""] + [f"**{md_escape(v)}**" for v in r["verdict"]] + \
        ["", "| | |", "|---|---|"] + [f"| {md_escape(k)} | {md_escape(v)} |" for k, v in _rows(r)] + \
        ["", "![difficulty of the subset over the pool](difficulty.png)", ""]
    return "\n".join(lines)


def page(r: dict) -> str:
    esc = lambda s: html.escape(str(s), quote=True)  # noqa: E731
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _rows(r))
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src 'self' file:; "
            "style-src 'unsafe-inline'\">"
            f"<title>Audit: {esc(r['title'])}</title><style>body{{font-family:sans-serif;margin:1.5em;max-width:1000px}}"
            "th{text-align:left;padding:.3em 1em .3em 0;vertical-align:top}td{padding:.3em 0}"
            ".verdict{background:#f6f6f0;border-left:4px solid #c33;padding:.5em 1em}</style></head><body>"
            f"<h1>Audit: {esc(r['title'])}</h1>"
            + (f"<p>Source: {esc(r['source'])}</p>" if r.get("source") else "")
            + "".join(f"<p class=\"verdict\">{esc(v)}</p>" for v in r["verdict"])
            + f"<table>{rows}</table><img src=\"difficulty.png\" alt=\"difficulty of the subset over the pool\">"
            "</body></html>\n")
