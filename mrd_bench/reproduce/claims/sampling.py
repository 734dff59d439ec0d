"""Claim 4, MRD paper, Table 1: GA→CGA, GradDiff, NPO and PO with MRD-weighted sampling reach
higher unlearning completeness and utility, in fewer updates.

Stage `samplers`: TOFU's forget01 unlearned by every method with the uniform sampler and with
samplers weighted by MRD, by answer length and by answer NLL (the same weighting, p ∝ score with a
uniform floor; GA with the MRD weights is CGA), every seed, until the MA threshold (protocol.py, at
the calibrated rates); then forget and retain metrics through the lm-eval tasks. Primary test: the
mean log ratio of updates, MRD-weighted against uniform, paired by method and seed.
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
from mrd_bench.reproduce.claims.common import SESOI_LOG_RATIO, SESOI_PROB, pending, reach_by
from mrd_bench.reproduce.claims.predicts import MRD_DEFINITION
from mrd_bench.reproduce.data import Data
from mrd_bench.reproduce.decide import RULES, Primary, decide, secondary
from mrd_bench.reproduce.original import BASELINES, threshold
from mrd_bench.reproduce.protocol import CALIBRATE, calibrated_lr, inputs, until_threshold
from mrd_bench.reproduce.study import Context, Stage, names, settings_of

ID = "sampling"  # results.json's key of the claim

# ----------------------------------------------------------------------------- stage

ARMS = {"uniform": "uniform sampling", "mrd": "p ∝ MRD (the paper's; CGA for GA)",
        "length": "p ∝ answer tokens", "nll": "p ∝ answer NLL"}
SAMPLER_TASKS = ["tofu_forget_mrd_mia", "tofu_retain_qa_prob"]


@dataclass(frozen=True)
class Samplers:
    sampling_forget_authors: int
    sampling_seeds: int
    sampling_arms: str
    eps: float  # the MRD weights' clamp (the MRD draws come from mrd_definition, an upstream stage)


def arm_run(method: str, arm: str) -> tuple[str, str]:
    """(method, sampler) of an arm: GA weighted by MRD is CGA; every weighted arm uses the mrd sampler."""
    if arm == "uniform":
        return method, "uniform"
    return ("cga" if method == "ga" and arm == "mrd" else method), "mrd"


def run_samplers(ctx: Context, folder: Path, s: Samplers) -> dict:
    from mrd_bench.annotate import annotate
    from mrd_bench.data.tofu import AUTHOR_SIZE
    from mrd_bench.pipeline import write_scores
    from mrd_bench.report.stratify import quantile_edges
    import tempfile

    from mrd_bench.reproduce.data import Data, export
    from mrd_bench.reproduce.study import FORGET, RETAIN
    from mrd_bench.reproduce.unlearning import evaluate_model

    protocol = CALIBRATE.settings(ctx.study)
    pool = ctx.splits["forget"]
    n = s.sampling_forget_authors * AUTHOR_SIZE
    forget = pool.select(range(len(pool) - n, len(pool)))  # the last authors: TOFU's own forget split
    model, tok, original, items, retain, refusals = inputs(ctx, forget)
    with tempfile.TemporaryDirectory() as tmp:  # the signals as the study's data files hold them
        export(ctx.work, ctx.study, Path(tmp))
        data = Data(Path(tmp))
        row_of = {sid: j for j, sid in enumerate(data.ids)}
        index = [row_of[sid] for sid in forget["sample_id"]]
        signals = {name: [float(data.column(col)[j]) for j in index]
                   for name, col in (("mrd", "mrd_definition"), ("length", "n_tokens"), ("nll", "nll"))}
    rows = [{"sample_id": i, "score": v} for i, v in zip(forget["sample_id"], signals["mrd"])]
    write_scores(folder / "scores.jsonl", rows, quantile_edges(signals["mrd"], 3),
                 {"estimator": "definition", "source": "reproduce/mrd_definition (every draw of every seed)"})
    annotation = annotate(folder / "scores.jsonl", list(forget["sample_id"]), folder / "annotation.json",
                          overwrite=True, source={"benchmark": "tofu", "split": FORGET[s.sampling_forget_authors]})
    limit = threshold(ctx)  # the study's (holdout of the whole forget set): the one calibrated at
    metadata = {"split": FORGET[s.sampling_forget_authors], "difficulty": str(annotation),
                "retain_split": RETAIN[ctx.study.forget_authors],
                "subset_authors": ctx.study.authors}
    path, done = common.keyed_runs(folder, SAMPLERS.key(ctx.study))
    todo = [(seed, method, arm) for seed in range(s.sampling_seeds) for method in names(protocol.sampling_methods)
            for arm in names(s.sampling_arms)]
    for seed, method, arm in tqdm(todo, desc="methods x samplers x seeds", unit="run", disable=not ctx.progress):
        name = f"{method}+{arm}/seed-{seed}"
        if name in done:
            continue
        started = time.perf_counter()
        run_method, sampler = arm_run(method, arm)
        lr = calibrated_lr(ctx, method)
        model, out = until_threshold(model, original, items, run_method, sampler, lr=lr, seed=seed,
                                     threshold=limit, protocol=protocol, eos_id=tok.eos_token_id, retain=retain,
                                     refusals=refusals, scores=signals.get(arm))
        results = evaluate_model(model, tok, folder / ".model", folder / "eval" / name.replace("/", "_"),
                                 SAMPLER_TASKS, metadata, device=ctx.study.torch_device)
        row = {"run": name, "method": method, "arm": arm, "run_method": run_method, "sampler": sampler, "seed": seed,
               "lr": lr, **out, "wall_s": time.perf_counter() - started}
        for metric in ("ua", "prob", "min_k_auc"):
            row[f"forget_{metric}"] = common.value(results, "tofu_forget_mrd_mia", metric)
        row["retain_prob"] = common.value(results, "tofu_retain_qa_prob", "prob")
        append_jsonl(path, row)
    return {"runs": len(todo), "threshold_ma": limit, "forget": FORGET[s.sampling_forget_authors]}


SAMPLERS = Stage("samplers", "each method with the uniform, MRD, length and NLL samplers, every seed, until the "
                 "threshold (claim 4)", settings_of(Samplers), run_samplers,
                 upstream=(CALIBRATE, BASELINES, MRD_DEFINITION))
STAGES = (SAMPLERS,)

# ----------------------------------------------------------------------------- analysis

PRIMARY = Primary(
    test="mean over (method, seed) pairs of log(updates to the MA threshold with MRD-weighted sampling / with "
         "uniform sampling), GA (CGA), GradDiff, NPO and PO, the same seed in both arms; a run that never reached "
         "the threshold counts the whole budget (worse than any run that did); t-based 95% CI and two-sided paired "
         "t test", statistic="mean log ratio of updates", expected="below", null=0.0,
    sesoi=SESOI_LOG_RATIO, paper_effect_note="the paper's Table 1 update counts are not available to the study")


def _paired(runs: list[dict], metric: str, a: str, b: str, transform=None) -> dict:
    by = {(r["method"], r["arm"], r["seed"]): r for r in runs}
    diffs, censored = [], 0
    for (m, arm, seed), r in sorted(by.items()):
        if arm == a and (m, b, seed) in by:
            x, y = r[metric], by[(m, b, seed)][metric]
            diffs.append(transform(x, y) if transform else x - y)
            censored += bool(r["censored"] or by[(m, b, seed)]["censored"])
    t = stats.t_interval(diffs)
    return {"estimate": t["mean"], "ci": t["ci"], "p": t["p"], "n": t["n"], "sd": t["sd"], "censored_pairs": censored,
            "sign_flip_p": stats.sign_flip(diffs) if diffs else math.nan, "values": diffs,
            "mde": stats.mde_paired(t["n"]) * t["sd"] if t["n"] >= 2 else math.nan}


def analyse(data: Data) -> dict:
    claim = {"id": ID, "title": "MRD-weighted sampling helps",
             "paper": "MRD paper, Table 1: GA→CGA, GradDiff, NPO and PO with MRD-weighted sampling reach higher "
                      "unlearning completeness and utility, in fewer updates."}
    runs = data.runs("claim4_samplers.csv")
    if not runs:
        return pending(claim, ["calibrate", "samplers"])
    budget = data.study.get("protocol_max_updates", max(r["trained"] for r in runs))
    for r in runs:  # a censored run is worse than any that reached the threshold: it counts the whole budget
        r["updates_imputed"] = budget if r["censored"] else r["updates"]

    def log_ratio(x, y):
        return math.log(max(x, 1) / max(y, 1))

    main = _paired(runs, "updates_imputed", "mrd", "uniform", log_ratio)
    versus = [_paired(runs, "updates_imputed", "mrd", other, log_ratio) for other in ("length", "nll")
              if any(r["arm"] == other for r in runs)]
    beyond = max(versus, key=lambda v: v["ci"][1]) if versus else None  # the weaker of the two
    reached = float(np.mean([not r["censored"] for r in runs]))
    by = reach_by(runs, lambda r: f"{r['method']}/{r['arm']}")
    judged = decide(PRIMARY, main, mde=main["mde"], allow_exclusion=main["censored_pairs"] == 0,
                    beyond={"rho": beyond["estimate"], "ci": beyond["ci"], "p": beyond["p"],
                            "label": "MRD-weighted against the weaker of the length- and NLL-weighted samplers, mean "
                                     "log ratio of updates"} if beyond else None,
                    protocol={"reached": min(by.values()), "by": by,
                              "required": data.study.get("calibrate_reach", 0.8)})
    arms = sorted({r["arm"] for r in runs})
    tests, mdes = {}, {}
    for other in ("length", "nll"):
        if other in arms:
            tests[f"updates: MRD against {other}"] = (PRIMARY, _paired(runs, "updates_imputed", "mrd", other,
                                                                        log_ratio))
            tests[f"updates: {other} against uniform"] = (PRIMARY, _paired(runs, "updates_imputed", other, "uniform",
                                                                             log_ratio))
    for metric, text in (("retain_prob", "retain answer probability"), ("forget_ua", "forget UA")):
        primary = Primary(test=f"paired difference of {text}, MRD − uniform", statistic="mean difference",
                          expected="above", null=0.0, sesoi=SESOI_PROB)
        tests[f"{text}: MRD − uniform"] = (primary, _paired(runs, metric, "mrd", "uniform"))
    for name, (_, res) in tests.items():
        mdes[name] = res["mde"]
    subs = secondary(tests, mdes=mdes)
    table = []
    for method in sorted({r["method"] for r in runs}, key=["ga", "graddiff", "npo", "po"].index):
        row = {"method": method}
        for arm in arms:
            mine = [r for r in runs if r["method"] == method and r["arm"] == arm]
            row[arm] = {"updates": stats.t_interval([r["updates"] for r in mine]),
                        "censored": int(sum(r["censored"] for r in mine)),
                        "retain_prob": stats.t_interval([r["retain_prob"] for r in mine]),
                        "forget_ua": stats.t_interval([r["forget_ua"] for r in mine]),
                        "forget_ma": [float(min(r["forget_ma"] for r in mine)), float(max(r["forget_ma"] for r in mine))]}
        table.append(row)
    finding = (f"MRD-weighted sampling changes the updates to the MA threshold by a factor of "
               f"{math.exp(main['estimate']):.2f} [{math.exp(main['ci'][0]):.2f}, {math.exp(main['ci'][1]):.2f}] "
               f"against uniform sampling ({main['n']} method × seed pairs); {reached:.0%} of the runs reached the "
               "threshold.")
    return {**claim, **judged, "secondary": subs, "summary": finding[:-1], "finding": finding, "rule": RULES,
            "table": table, "reached_share": reached, "reached_by": by, "calibration": data.json("calibration.json")}


# ----------------------------------------------------------------------------- report


def figures(plt, data: Data, c: dict, out: Path) -> list[str]:
    from mrd_bench.reproduce.figures import forest

    rows = [(f"{row['method'].upper()}  {arm}", {"value": v["updates"]["mean"], "ci": v["updates"]["ci"]})
            for row in c["table"] for arm, v in row.items() if arm != "method"]
    forest(plt, rows, "value", "updates to the MA threshold (mean over seeds, t 95% CI)", out / "sampling.png",
           zero=None)
    return ["sampling.png"]


def tables(c: dict) -> list[str]:
    lines = ["", "![Updates to the MA threshold by sampler](sampling.png)", "",
             "| method | arm | updates (mean [95% CI]) | censored | retain prob | forget UA | forget MA at stop |",
             "|---|---|---|---|---|---|---|"]
    for row in c["table"]:
        for arm, v in row.items():
            if arm == "method":
                continue
            lines.append(f"| {row['method'].upper()} | {arm} | {v['updates']['mean']:.1f} [{v['updates']['ci'][0]:.1f}, "
                         f"{v['updates']['ci'][1]:.1f}] | {v['censored']} | {v['retain_prob']['mean']:.3f} | "
                         f"{v['forget_ua']['mean']:.3f} | {v['forget_ma'][0]:.3f}–{v['forget_ma'][1]:.3f} |")
    return lines
