"""Claim 2, MRD paper, Figure 4: a sample's MRD tracks the updates its unlearning needs (high MRD,
few updates), for GA, GradDiff and NPO alike.

Stages: MRD of every forget sample by the three estimators (every seed), and the updates that
unlearning each sample alone takes, per method. Primary test: Spearman ρ of MRD and GA's updates
(negative: high MRD = easy), judged beyond the baselines (NLL, Min-K%, gradient norm, length).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mrd_bench.io import append_jsonl, read_json, write_json
from mrd_bench.reproduce import common, stats
from mrd_bench.reproduce.claims.common import BASELINES, SESOI_RHO, ci, pending, result, rho
from mrd_bench.reproduce.data import EPS_GRID, ESTIMATORS, METHODS, Data
from mrd_bench.reproduce.decide import RULES, Primary, decide, secondary
from mrd_bench.reproduce.original import threshold
from mrd_bench.reproduce.study import Context, Stage, settings_of

ID = "predicts"  # results.json's key of the claim

# ----------------------------------------------------------------------------- stages


@dataclass(frozen=True)
class Definition:
    sigma: float
    pairs: int
    seeds: int
    batch_size: int


def run_definition(ctx: Context, folder: Path, s: Definition) -> dict:
    """`definition` per token: `pairs` antithetic pairs for each of `seeds` seeds (token_mrd.py)."""
    from mrd_bench.reproduce.token_mrd import token_draws

    model, tok = ctx.load_original()
    forget = ctx.splits["forget"]
    items = ctx.encode(tok, forget)
    for seed in range(s.seeds):
        path = folder / f"seed-{seed}.json"
        key = {"sigma": s.sigma, "pairs": s.pairs, "seed": seed, "batch_size": s.batch_size}
        if path.is_file() and read_json(path)["key"] == key:
            continue
        draws = token_draws(model, items, sigma=s.sigma, seed=seed, pairs=s.pairs, batch_size=s.batch_size,
                            progress=ctx.progress, desc=f"MRD definition, seed {seed}")
        write_json(path, {"key": key, "rows": [{"sample_id": sid, **asdict(d)}
                                                for sid, d in zip(forget["sample_id"], draws)]})
    return {"seeds": s.seeds, "pairs": s.pairs, "sigma": s.sigma}


@dataclass(frozen=True)
class Estimator:
    estimator: str
    sigma: float
    draws: int
    seeds: int
    eps: float
    batch_size: int


def estimator_settings(name: str):
    def settings(study) -> Estimator:
        sigma, draws = (study.alg1_sigma, study.alg1_draws) if name == "alg1" else (study.sigma,
                                                                                    study.hutchinson_draws)
        return Estimator(estimator=name, sigma=sigma, draws=draws, seeds=study.seeds, eps=study.eps,
                         batch_size=study.batch_size)

    return settings


def run_estimator(ctx: Context, folder: Path, s: Estimator) -> dict:
    """MRD by `s.estimator` (alg1 or hutchinson), every seed (scorers/runner.py)."""
    from mrd_bench.scorers.runner import ScoreConfig, score_items

    model, tok = ctx.load_original()
    forget = ctx.splits["forget"]
    items = ctx.encode(tok, forget)
    for seed in range(s.seeds):
        path = folder / f"seed-{seed}.json"
        cfg = ScoreConfig(estimator=s.estimator, sigma=s.sigma, draws=s.draws, seed=seed, eps=s.eps,
                          batch_size=s.batch_size, baselines=False)
        if path.is_file() and read_json(path)["key"] == cfg.describe():
            continue
        rows, values = score_items(model, items, list(forget["sample_id"]), [""] * len(items), cfg,
                                   progress=ctx.progress)
        write_json(path, {"key": cfg.describe(), "scores": [r["score"] for r in rows],
                          "sample_id": list(forget["sample_id"]), "values": values.tolist()})
    return {"seeds": s.seeds, "draws": s.draws, "sigma": s.sigma}


@dataclass(frozen=True)
class Updates:
    method: str
    lr: float
    max: int  # --max-updates (the names of the keys the study's first runs were made under)
    horizon: int


def updates_settings(method: str):
    return lambda study: Updates(method=method, lr=study.updates_lr_for(method), max=study.max_updates,
                                 horizon=study.horizon)


def budget_of(s: Updates, threshold_ma: float):
    from mrd_bench.updates import Budget

    return Budget(lr=s.lr, max_updates=s.max, horizon=s.horizon, threshold_ma=threshold_ma)


def run_updates(ctx: Context, folder: Path, s: Updates) -> dict:
    """Updates to forget each sample alone, from the original weights each time (updates.trajectory)."""
    from mrd_bench.unlearn import Settings
    from mrd_bench.updates import trajectory

    limit = threshold(ctx)
    budget = budget_of(s, limit)
    model, tok = ctx.load_original()
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    method = Settings(method=s.method).build_method()
    forget = ctx.splits["forget"]
    items = ctx.encode(tok, forget)
    retain = ctx.encode(tok, ctx.splits["retain"]) if method.retain == "required" else None
    sink_path, done = common.keyed_runs(folder, {**asdict(budget), "method": s.method}, "rows", "sample_id")
    ids = forget["sample_id"]
    for j in tqdm(range(len(items)), desc=f"updates to forget ({s.method})", unit="sample",
                  disable=not ctx.progress, initial=0):
        if ids[j] in done:
            continue
        done[ids[j]] = {"sample_id": ids[j], **trajectory(model, original, items[j], method, budget, retain=retain)}
        append_jsonl(sink_path, done[ids[j]])
    censored = sum(done[i]["censored"] for i in ids)
    return {"samples": len(ids), "censored": censored, "threshold_ma": limit, "lr": budget.lr}


MRD_DEFINITION = Stage("mrd_definition", "MRD, definition estimator, per token, every seed", settings_of(Definition),
                       run_definition)
UPDATES = {m: Stage(f"updates_{m}", f"updates to forget each sample alone with {m} (and the loss/MA curves)",
                    updates_settings(m), run_updates) for m in METHODS}
ESTIMATOR = {name: Stage(f"mrd_{name}", f"MRD, {name} estimator, every seed", estimator_settings(name), run_estimator)
             for name in ESTIMATORS[1:]}
STAGES = (MRD_DEFINITION, *UPDATES.values(), *ESTIMATOR.values())

# ----------------------------------------------------------------------------- analysis

PRIMARY = Primary(
    test="Spearman ρ between MRD (definition estimator, pooled over every draw of its seeds) and GA's updates to forget each "
         "sample alone, over the n forget samples; Fisher-z 95% CI and two-sided p of that one estimate",
    statistic="Spearman ρ", expected="below", null=0.0, sesoi=SESOI_RHO,
    paper_effect_note="the paper shows the relation in a figure and states no coefficient")


def analyse(data: Data) -> dict:
    claim = {"id": ID, "title": "MRD predicts unlearning difficulty",
             "paper": "MRD paper, Figure 4: a sample's MRD tracks the updates its unlearning needs (high MRD, "
                      "few updates), for GA, GradDiff and NPO alike."}
    needs = [n for n, col in (("mrd_definition", "mrd_definition"), ("updates_ga", "updates_ga")) if not data.has(col)]
    if needs:
        return pending(claim, needs)
    mrd = data.column("mrd_definition")
    controls = [data.column(c) for c in BASELINES]
    table = []
    for method in METHODS:
        if not data.has(f"updates_{method}"):
            continue
        truth = data.column(f"updates_{method}")
        entry = {"method": method, "ties": stats.ties(truth), "censored": int(data.column(f"censored_{method}").sum()),
                 "mrd": stats.spearman_test(mrd, truth),
                 "per_seed": [stats.spearman(s, truth) for s in data.seeds("definition")],
                 "beyond_baselines": stats.spearman_test(mrd, truth, controls=controls),
                 "given_length": stats.spearman_test(mrd, truth, controls=[data.column("n_tokens")]),
                 "per_token": stats.spearman_test(data.column("mrd_definition_per_token"), truth),
                 "loss_increase": stats.spearman_test(mrd, -data.column(f"loss_increase_{method}")),
                 "ma_auc": stats.spearman_test(mrd, data.column(f"ma_auc_{method}"))}
        for name in BASELINES:
            entry[f"baseline/{name}"] = stats.spearman_test(data.column(name), truth)
        for est in ESTIMATORS[1:]:
            if data.has(f"mrd_{est}"):
                entry[f"estimator/{est}"] = stats.spearman_test(data.column(f"mrd_{est}"), truth)
        table.append(entry)
    ga = table[0]
    partials = [{**ga["beyond_baselines"], "label": "the partial Spearman ρ of MRD and GA's updates given NLL, "
                                                    "Min-K%, gradient norm and answer length"},
                {**ga["given_length"], "label": "the partial Spearman ρ of MRD and GA's updates given answer length"}]
    # the weaker of the two (its CI's end nearest the paper's side: the paper expects ρ below 0) decides
    judged = decide(PRIMARY, result(ga["mrd"]), mde=stats.mde_spearman(ga["mrd"]["n"]),
                    beyond=max(partials, key=lambda b: b["ci"][1] if math.isfinite(b["ci"][1]) else math.inf))
    judged["partials"] = partials
    tests, mdes = {}, {}
    for e in table:
        for key in ("mrd", "beyond_baselines", "given_length", "per_token") + tuple(f"estimator/{x}" for x in ESTIMATORS[1:]):
            if key in e and not (e["method"] == "ga" and key == "mrd"):
                name = f"{e['method']}: {key}"
                tests[name] = (PRIMARY, result(e[key]))
                mdes[name] = stats.mde_spearman(e[key]["n"], controls=e[key]["controls"])
    subs = secondary(tests, mdes=mdes)
    nll = ga["baseline/nll"]
    side = "the paper's direction" if ga["mrd"]["rho"] < 0 else "against the paper's direction"
    finding = (f"MRD ranks GA's updates to forget at ρ = {ci(ga['mrd'])} ({side}), the answer's NLL "
               f"alone at ρ = {ci(nll)}; given NLL, Min-K%, gradient norm and length, MRD adds ρ = "
               f"{ci(ga['beyond_baselines'])}.")
    summary = "; ".join(f"{e['method'].upper()} ρ(MRD, updates) = {ci(e['mrd'])}, given the baselines "
                        f"{ci(e['beyond_baselines'])} (NLL alone {e['baseline/nll']['rho']:+.2f})" for e in table)
    rankings = [data.column(f"updates_{e['method']}") for e in table]
    length = data.column("n_tokens")
    confounds = {"length": {"mrd": stats.spearman_test(mrd, length),
                            "per_token": stats.spearman_test(data.column("mrd_definition_per_token"), length)},
                 "clamp": {"eps": data.study.get("eps"), "max_clamped": int(data.column("n_clamped").max()),
                           "median_clamped_share": float(np.median(data.column("n_clamped") / length)),
                           "samples_with_clamped": int((data.column("n_clamped") > 0).sum()),
                           "by_eps": {f"{e:g}": stats.spearman_test(data.column("mrd_definition"),
                                                                    data.column(f"mrd_definition_eps_{e:g}"))
                                      for e in EPS_GRID},
                           "drop_clamped": stats.spearman_test(data.column("mrd_definition"),
                                                               data.column("mrd_definition_drop_clamped"))}}
    return {**claim, **judged, "secondary": subs, "summary": summary, "finding": finding, "table": table,
            "agreement": stats.kendall_w(rankings) if len(rankings) > 1 else None, "confounds": confounds,
            "rule": RULES, "missing": [f"updates_{m}" for m in METHODS if not data.has(f"updates_{m}")]}


# ----------------------------------------------------------------------------- report


def figures(plt, data: Data, c: dict, out: Path) -> list[str]:
    """MRD against updates to forget per method; every Spearman with its CI."""
    from mrd_bench.report.plots import _save
    from mrd_bench.reproduce.figures import forest

    fig, axes = plt.subplots(1, len(c["table"]), figsize=(4.2 * len(c["table"]), 3.6), squeeze=False)
    mrd = data.column("mrd_definition")
    for ax, entry in zip(axes[0], c["table"]):
        truth = data.column(f"updates_{entry['method']}")
        censored = data.column(f"censored_{entry['method']}").astype(bool)
        jitter = np.random.default_rng(0).uniform(-0.25, 0.25, len(truth))
        ax.scatter(mrd[~censored], truth[~censored] + jitter[~censored], s=12, alpha=0.7, color="#1f77b4",
                   edgecolors="none", label="reached the threshold")
        if censored.any():
            ax.scatter(mrd[censored], truth[censored] + jitter[censored], s=16, marker="^", color="#d62728",
                       label="censored at the cap")
        ax.set_xscale("log")
        ax.set_xlabel("MRD (definition, all draws)")
        ax.set_ylabel("updates to forget")
        ax.set_title(f"{entry['method'].upper()}: Spearman {rho(entry['mrd'])}", fontsize=9)
        ax.legend(fontsize=7)
    _save(fig, out / "predicts_scatter.png")
    rows = [(f"{e['method'].upper()}  {label}", e[key]) for e in c["table"] for key, label in (
        ("mrd", "MRD"), ("per_token", "per-token MRD"), ("beyond_baselines", "MRD given the baselines"),
        ("given_length", "MRD given length"), ("estimator/alg1", "MRD (alg1)"),
        ("estimator/hutchinson", "MRD (hutchinson)"), ("baseline/nll", "answer NLL"),
        ("baseline/min_k", "Min-K% Prob"), ("baseline/grad_norm", "gradient norm"),
        ("baseline/n_tokens", "answer length")) if key in e]
    forest(plt, rows, "rho", "Spearman with updates to forget (95% CI)", out / "predicts_spearman.png")
    return ["predicts_scatter.png", "predicts_spearman.png"]


def tables(c: dict) -> list[str]:
    lines = ["", "![MRD against updates to forget](predicts_scatter.png)", "",
             "![Spearman correlations with their 95% CIs](predicts_spearman.png)", "",
             "| method | ρ(MRD, updates) | per seed | given the baselines | given length | per-token MRD | NLL | "
             "Min-K% | grad norm | length | censored |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in c["table"]:
        lines.append(f"| {e['method'].upper()} | {rho(e['mrd'])} | "
                     + ", ".join(f"{r:+.2f}" for r in e["per_seed"]) + f" | {rho(e['beyond_baselines'])} | "
                     f"{rho(e['given_length'])} | {rho(e['per_token'])} | {rho(e['baseline/nll'])} | "
                     f"{rho(e['baseline/min_k'])} | {rho(e['baseline/grad_norm'])} | "
                     f"{rho(e['baseline/n_tokens'])} | {e['censored']} |")
    length = c["confounds"]["length"]
    lines += ["", f"Length: Spearman(MRD, answer tokens) = {rho(length['mrd'])}; per-token MRD "
                  f"{rho(length['per_token'])}."]
    return lines
