"""Claim 1, MRD paper, Figure 2: over random forget sets of equal size, retain, real-author and
world-fact utility after GradDiff and NPO spread widely, and the methods' order changes.

Stage `subsets`: random forget subsets, each unlearned by GradDiff and by NPO with several training
seeds until the MA threshold (protocol.py, at the calibrated rates), then utility through the
lm-eval tasks; the seeds give the seed's own spread within every subset. Primary test: the
random-effects F test of the subset on retain answer probability.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mrd_bench.io import append_jsonl
from mrd_bench.reproduce import common, stats
from mrd_bench.reproduce.claims.common import SESOI_THETA, ci, pending, reach_by
from mrd_bench.reproduce.data import Data
from mrd_bench.reproduce.decide import RULES, Primary, decide, secondary
from mrd_bench.reproduce.original import threshold
from mrd_bench.reproduce.protocol import CALIBRATE, calibrated_lr, inputs, until_threshold
from mrd_bench.reproduce.study import Context, Stage, settings_of

ID = "variance"  # results.json's key of the claim

# ----------------------------------------------------------------------------- stage

UTILITY_TASKS = ["tofu_retain_qa_prob", "tofu_real_authors_prob", "tofu_world_facts_prob"]


@dataclass(frozen=True)
class Subsets:
    variance_subsets: int
    variance_seeds: int


def subset_seed(subset: int, r: int) -> int:
    return 100 * subset + r


def run_subsets(ctx: Context, folder: Path, s: Subsets) -> dict:
    from mrd_bench.reproduce.study import RETAIN
    from mrd_bench.reproduce.unlearning import evaluate_model

    protocol = CALIBRATE.settings(ctx.study)
    limit = threshold(ctx)
    forget = ctx.splits["forget"]
    model, tok, original, items, retain, _ = inputs(ctx, forget)
    path, done = common.keyed_runs(folder, SUBSETS.key(ctx.study))
    metadata = {"retain_split": RETAIN[ctx.study.forget_authors], "subset_authors": ctx.study.authors}
    todo = [(method, k, subset_seed(k, r)) for k in range(s.variance_subsets) for r in range(s.variance_seeds)
            for method in ("graddiff", "npo")]
    for method, k, seed in tqdm(todo, desc="forget subsets x seeds x methods", unit="run", disable=not ctx.progress):
        name = f"{method}/subset-{k}/seed-{seed}"
        if name in done:
            continue
        started = time.perf_counter()
        pick = common.subset(k, len(items), protocol.variance_size)
        lr = calibrated_lr(ctx, method)
        model, out = until_threshold(model, original, [items[i] for i in pick], method, "uniform", lr=lr, seed=seed,
                                     threshold=limit, protocol=protocol, eos_id=tok.eos_token_id, retain=retain)
        results = evaluate_model(model, tok, folder / ".model", folder / "eval" / name.replace("/", "_"),
                                 UTILITY_TASKS, metadata, device=ctx.study.torch_device)
        append_jsonl(path, {"run": name, "method": method, "subset": k, "seed": seed, "lr": lr,
                       "sample_id": [forget["sample_id"][i] for i in pick], **out,
                       "retain_prob": common.value(results, "tofu_retain_qa_prob", "prob"),
                       "real_authors_prob": common.value(results, "tofu_real_authors_prob", "prob"),
                       "world_facts_prob": common.value(results, "tofu_world_facts_prob", "prob"),
                       "wall_s": time.perf_counter() - started})
    return {"runs": len(todo), "threshold_ma": limit}


SUBSETS = Stage("subsets", "random forget subsets unlearned by GradDiff and NPO until the threshold, several seeds each; "
                "utility of each (claim 1)", settings_of(Subsets), run_subsets, upstream=(CALIBRATE,))
STAGES = (SUBSETS,)

# ----------------------------------------------------------------------------- analysis

UTILITIES = {"retain_prob": "retain answer probability", "real_authors_prob": "real-author answer probability",
             "world_facts_prob": "world-fact answer probability"}
PRIMARY = Primary(
    test="random-effects F test of the forget subset on retain answer probability after unlearning to the MA "
         "threshold: per subset and seed index, the mean of the GradDiff and the NPO run; subsets against the spread "
         "of each subset's seeds, F(S − 1, S(R − 1)); estimate θ = σ²_subset/σ²_seed with its exact 90% CI (the "
         "one-sided test's), one-sided p of F", statistic="θ", expected="above", null=0.0, sesoi=SESOI_THETA,
    paper_effect_note="the paper shows the spread in a figure and states no variance ratio")


def _subset_f(runs: list[dict], value) -> dict:
    """One-way random-effects F of subsets, each group the runs of one subset (one value per seed)."""
    groups: dict = {}
    for r in runs:
        groups.setdefault(r["subset"], []).append(value(r))
    gs = [v for _, v in sorted(groups.items()) if len(v) >= 1]
    f = stats.random_effects_f(gs)
    df1, df2 = f["df"]
    r = sum(len(g) for g in gs) / max(1, len(gs))
    lo, hi = stats.theta_ci(f["f"], df1, df2, r)  # θ is a variance ratio: its interval stops at 0, as its estimate
    return {"estimate": f["theta"], "ci": [max(0.0, lo), max(0.0, hi)] if math.isfinite(lo) else [lo, hi],
            "p": f["p"], "ci_level": 1 - 2 * stats.ALPHA,
            "n": sum(len(g) for g in gs), "f": f["f"], "df": [df1, df2], "mde": stats.mde_f(df1, df2, r),
            "sd_seed": f["sd_seed"], "sd_subset": f["sd_subset"]}


def _averaged(runs: list[dict], keep=lambda r: True) -> list[dict]:
    """Per (subset, seed index): the mean of the two methods' runs, and their difference."""
    by = {(r["method"], r["subset"], r["seed"]): r for r in runs if keep(r)}
    out = []
    for (m, k, seed), r in sorted(by.items()):
        other = by.get(("npo", k, seed))
        if m == "graddiff" and other is not None:
            out.append({"subset": k, "seed": seed, **{u: (r[u] + other[u]) / 2 for u in UTILITIES},
                        **{f"gap_{u}": r[u] - other[u] for u in UTILITIES}})
    return out


def analyse(data: Data) -> dict:
    claim = {"id": ID, "title": "Utility varies with the forget set's samples",
             "paper": "MRD paper, Figure 2: over random forget sets of equal size, retain, real-author and world-fact "
                      "utility after GradDiff and NPO spread widely, and the methods' order changes."}
    runs = data.runs("claim1_subsets.csv")
    if not runs:
        return pending(claim, ["calibrate", "subsets"])
    pairs = _averaged(runs)
    tests = {u: _subset_f(pairs, lambda r, u=u: r[u]) for u in UTILITIES}
    reached = float(np.mean([not r["censored"] for r in runs]))
    by = reach_by(runs, lambda r: r["method"])
    judged = decide(PRIMARY, tests["retain_prob"], mde=tests["retain_prob"]["mde"],
                    protocol={"reached": min(by.values()), "by": by,
                              "required": data.study.get("calibrate_reach", 0.8)})
    gap = {u: _subset_f(pairs, lambda r, u=u: r[f"gap_{u}"]) for u in UTILITIES}
    uncensored = _averaged(runs, keep=lambda r: not r["censored"])
    named = {**{f"{u}: subset effect": tests[u] for u in UTILITIES if u != "retain_prob"},
             **{f"{u}: the GradDiff − NPO gap varies with the subset": gap[u] for u in UTILITIES},
             "retain_prob: subset effect, uncensored runs only": _subset_f(uncensored, lambda r: r["retain_prob"])}
    subs = secondary({k: (PRIMARY, v) for k, v in named.items()}, mdes={k: v["mde"] for k, v in named.items()})
    reversals = {}
    for u in UTILITIES:
        per: dict = {}
        for d in pairs:
            per.setdefault(d["subset"], []).append(d[f"gap_{u}"])
        means = np.asarray([np.mean(v) for v in per.values()])
        overall = np.sign(means.mean()) or 1.0
        reversals[u] = float(np.mean(np.sign(means) == -overall)) if len(means) else math.nan
    t = tests["retain_prob"]
    finding = (f"Over random forget subsets unlearned to the MA threshold, the subset moves retain utility by SD "
               f"{t['sd_subset']:.4f} against the seed's {t['sd_seed']:.4f} (θ = {ci(t, 'estimate', '.2f')}, 90% "
               f"CI); {reached:.0%} of the runs reached the threshold.")
    return {**claim, **judged, "secondary": subs, "summary": finding[:-1], "finding": finding, "rule": RULES,
            "tests": tests, "gap": gap, "reversal_share": reversals, "reached_share": reached,
            "forget_ma": [float(np.min([r["forget_ma"] for r in runs])), float(np.max([r["forget_ma"] for r in runs]))],
            "calibration": data.json("calibration.json")}


# ----------------------------------------------------------------------------- report


def figures(plt, data: Data, c: dict, out: Path) -> list[str]:
    """Utility after unlearning each random subset, one dot per seed, one y-span in every panel."""
    from mrd_bench.report.plots import _save

    runs = data.runs("claim1_subsets.csv")
    # one y-span for every panel (at least 0.05), each centred on its own runs: a spread of 0.006
    # looks as small beside 0.05 as it is, and the panels compare at a glance
    span = max(0.05, 1.2 * max(np.ptp([r[m] for r in runs]) for m in UTILITIES))
    fig, axes = plt.subplots(1, len(UTILITIES), figsize=(4.2 * len(UTILITIES), 3.6), squeeze=False)
    for ax, (metric, text) in zip(axes[0], UTILITIES.items()):
        for offset, (method, color) in enumerate((("graddiff", "#1f77b4"), ("npo", "#ff7f0e"))):
            mine = [r for r in runs if r["method"] == method]
            x = np.asarray([r["subset"] for r in mine]) + (offset - 0.5) * 0.25
            ax.scatter(x, [r[metric] for r in mine], s=14, color=color, label=method)
        mid = (max(r[metric] for r in runs) + min(r[metric] for r in runs)) / 2
        low = min(max(0.0, mid - span / 2), 1.0 - span)  # a probability's window stays within [0, 1]
        ax.set_ylim(low, low + span)
        ax.set_xticks(sorted({r["subset"] for r in runs}))
        ax.set_xlabel("forget subset (each dot: one training seed)")
        ax.set_ylabel(f"probability (y-span {span:.3g} in every panel)", fontsize=8)
        ax.set_title(text, fontsize=9)
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.legend(fontsize=7)
    _save(fig, out / "variance.png")
    return ["variance.png"]


def tables(c: dict) -> list[str]:
    cal = c.get("calibration") or {}
    return ["", "![Utility after unlearning random forget subsets](variance.png)", "",
            "Calibrated learning rates: " + ", ".join(f"{m} {v:g}" for m, v in cal.get("lr", {}).items())
            + f"; {c['reached_share']:.0%} of the runs reached the threshold; forget MA at the stop "
            f"{c['forget_ma'][0]:.3f}–{c['forget_ma'][1]:.3f}. Order reversals (share of subsets whose mean "
            "GradDiff−NPO gap has the other sign): " + ", ".join(f"{u} {v:.0%}" for u, v in
                                                                 c["reversal_share"].items()) + "."]
