"""The study's report: README.md (claims and verdicts first, then a section per claim with its
plot), results.json (every figure), run_record.json (command, seeds, versions, hardware and
each stage's wall time), and the PNGs.

The folder is the command's own (mrd_bench/outputs.py): a report there is replaced only with
--overwrite, only the files it wrote (listed in `.mrd_bench_files.json`) and all at once; a folder
holding anything else is refused, and so is a report that would turn a measured verdict pending.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Optional

from mrd_bench.errors import OutputExistsError
from mrd_bench.io import read_json, write_json, write_text
from mrd_bench.outputs import folder_target, owner, replacing

RUN_RECORD = "run_record.json"
REPORT = {"what": "a reproduction report", "kind": "reproduce", "legacy": ()}  # mrd_bench/outputs.py


def target(out, *, study=None, overwrite: bool = False) -> Path:
    """Check the report folder before any stage runs: a report there is replaced only with
    --overwrite (a report of another setting says so), and a folder holding anything else never."""
    path = Path(out).expanduser()
    if study is not None and not overwrite and (path / RUN_RECORD).is_file() and owner(path, "reproduce")[0](RUN_RECORD):
        before = json.loads((path / RUN_RECORD).read_text()).get("study") or {}
        changed = sorted(k for k in before if k in asdict(study) and before[k] != asdict(study)[k])
        if changed:  # settings a newer version added are not in an older record: not a difference
            raise OutputExistsError(f"{str(path)!r} holds the report of another setting ({', '.join(changed)} "
                                    "differ); pass --overwrite to replace it, or choose another --out.")
    return folder_target(out, overwrite, **REPORT)


def measured_lost(out: Path, results: dict) -> list[str]:
    """The claims whose measured verdict in the report in `out` the new `results` leave pending."""
    try:
        old = json.loads((out / "results.json").read_text())["claims"]
        measured = {cid for cid, c in old.items() if c.get("verdict", "pending") != "pending"}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
    return sorted(cid for cid in measured if results.get(cid, {}).get("verdict", "pending") == "pending")


def _fmt(x: Optional[float], sign: bool = True) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:+.2f}" if sign else f"{x:.2f}"


def _rho(c: dict) -> str:
    return f"{_fmt(c['rho'])} [{_fmt(c['ci'][0])}, {_fmt(c['ci'][1])}]"


def _p(p: float) -> str:
    return "n/a" if not math.isfinite(p) else f"{p:.2g}"


# ----------------------------------------------------------------------------- plots


def _plots(data, results: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from mrd_bench.report.plots import _save

    written = []
    pred = results["predicts"]
    if pred["verdict"] != "pending":
        fig, axes = plt.subplots(1, len(pred["table"]), figsize=(4.2 * len(pred["table"]), 3.6), squeeze=False)
        mrd = data.column("mrd_definition")
        for ax, entry in zip(axes[0], pred["table"]):
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
            ax.set_title(f"{entry['method'].upper()}: Spearman {_rho(entry['mrd'])}", fontsize=9)
            ax.legend(fontsize=7)
        _save(fig, out / "predicts_scatter.png")
        written.append("predicts_scatter.png")
    var = results["variance"]
    if var["verdict"] != "pending":
        from mrd_bench.reproduce.claims import UTILITIES

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
        written.append("variance.png")
    if pred["verdict"] != "pending":
        rows = [(f"{e['method'].upper()}  {label}", e[key]) for e in pred["table"] for key, label in (
            ("mrd", "MRD"), ("per_token", "per-token MRD"), ("beyond_baselines", "MRD given the baselines"),
            ("given_length", "MRD given length"), ("estimator/alg1", "MRD (alg1)"),
            ("estimator/hutchinson", "MRD (hutchinson)"), ("baseline/nll", "answer NLL"),
            ("baseline/min_k", "Min-K% Prob"), ("baseline/grad_norm", "gradient norm"),
            ("baseline/n_tokens", "answer length")) if key in e]
        _forest(plt, rows, "rho", "Spearman with updates to forget (95% CI)", out / "predicts_spearman.png")
        written.append("predicts_spearman.png")
    char = results["characteristics"]
    if char["verdict"] != "pending":
        rows = [(f"{r['characteristic']}  {label}", r[key]) for r in char["rows"] for key, label in (
            ("mrd_per_token", "per-token MRD"), ("mrd", "raw MRD"), ("tokens", "answer tokens"))]
        _forest(plt, rows, "delta", "Cliff's δ, high against low group (95% CI)", out / "characteristics.png")
        written.append("characteristics.png")
    samp = results["sampling"]
    if samp["verdict"] != "pending":
        rows = [(f"{row['method'].upper()}  {arm}", {"value": v["updates"]["mean"], "ci": v["updates"]["ci"]})
                for row in samp["table"] for arm, v in row.items() if arm != "method"]
        _forest(plt, rows, "value", "updates to the MA threshold (mean over seeds, t 95% CI)", out / "sampling.png",
                zero=None)
        written.append("sampling.png")
    cud = results["cud"]
    if cud["verdict"] != "pending":
        m = cud["measured"]
        rows = [("AUC − 0.5, hard vs easy", {"value": m["auc"]["auc"] - 0.5,
                                              "ci": [m["auc"]["ci"][0] - 0.5, m["auc"]["ci"][1] - 0.5]})]
        rows += [(f"depth: {name} (Cliff's δ)", {"value": d["delta"], "ci": d["ci"]}) for name, d in m["depth"].items()]
        _forest(plt, rows, "value", "hard against easy samples (95% CI; 0 = no difference)", out / "cud.png")
        written.append("cud.png")
    sens = results["sensitivity"]
    if sens["verdict"] != "pending" and sens["measured"]["k_curves_200"]:
        _k_plot(plt, sens["measured"]["k_curves_200"], "draws K (all forget samples)",
                "Spearman with the other half of the draws", out / "sensitivity.png")
        written.append("sensitivity.png")
    if sens["verdict"] != "pending":
        _k_plot(plt, {"": sens["measured"]["k_curve_alg1"]}, "alg1 draws K (run A)",
                "Spearman with the control run (all draws)", out / "stability.png", intervals=True)
        written.append("stability.png")
    return written


def _k_plot(plt, curves: dict, xlabel: str, ylabel: str, path: Path, *, intervals: bool = False) -> None:
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


def _forest(plt, rows: list, key: str, xlabel: str, path: Path, *, zero: Optional[float] = 0.0) -> None:
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


VERDICT_MARK = {"reproduced": "reproduced", "reproduced, but not beyond the baselines":
                "reproduced, but not beyond the baselines", "not reproduced": "**not reproduced**",
                "inconclusive": "inconclusive", "pending": "pending (not measured yet)"}


def _primary_line(c: dict) -> str:
    p = c["primary"]
    side = "above" if p["expected"] == "above" else "below"
    return (f"{p['statistic']} = {p['estimate']:.3g} [{p['ci'][0]:.3g}, {p['ci'][1]:.3g}], p = {_p(p['p'])} "
            f"(n = {p['n']}; the paper expects {side} {p['null']:g})")


def _claims_table(results: dict) -> list[str]:
    lines = ["| # | claim | the paper | primary test: estimate [95% CI], p | verdict |", "|---|---|---|---|---|"]
    for n, c in enumerate(results.values(), 1):
        primary = _primary_line(c) if c.get("primary") else "not measured yet"
        lines.append(f"| {n} | {c['title']} | {c['paper']} | {primary} | {VERDICT_MARK[c['verdict']]} |")
    return lines


def _section(c: dict) -> list[str]:
    if c["verdict"] == "pending":
        return [f"Not measured yet: the stage(s) {', '.join(c['needs'])} have not run."]
    p = c["primary"]
    lines = [f"Verdict: **{c['verdict']}**: {c['why']}.", "", f"Primary test, declared before the runs: {p['test']}.",
             "", f"Result: {_primary_line(c)}. The smallest effect of interest is {p['sesoi']:g} from the null."]
    if c.get("power"):
        lines += ["", f"Power: {c['power']['statement']}."]
    if c.get("beyond_baselines"):
        b = c["beyond_baselines"]
        lines += ["", f"Beyond the baselines: {b['label']} = {_rho(b)}, p = {_p(b['p'])}."]
    if c.get("secondary"):
        lines += ["", "| secondary test | estimate [95% CI] | p | p (Holm) | sub-verdict |", "|---|---|---|---|---|"]
        for name, sub in c["secondary"].items():
            sp = sub.get("primary", {})
            est = (f"{sp['estimate']:.3g} [{sp['ci'][0]:.3g}, {sp['ci'][1]:.3g}]" if sp else "see the table below")
            lines.append(f"| {name} | {est} | {_p(sub['p_raw'])} | {_p(sub['p_holm'])} | {sub['verdict']} |")
    for key in ("thresholds",):
        if c.get(key):
            lines += ["", c[key]]
    return lines


def _extra(c: dict) -> list[str]:
    """The claim-specific tables below the tests."""
    if c["verdict"] == "pending":
        return []
    if c["id"] == "predicts":
        lines = ["", "![MRD against updates to forget](predicts_scatter.png)", "",
                 "![Spearman correlations with their 95% CIs](predicts_spearman.png)", "",
                 "| method | ρ(MRD, updates) | per seed | given the baselines | given length | per-token MRD | NLL | "
                 "Min-K% | grad norm | length | censored |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for e in c["table"]:
            lines.append(f"| {e['method'].upper()} | {_rho(e['mrd'])} | "
                         + ", ".join(f"{r:+.2f}" for r in e["per_seed"]) + f" | {_rho(e['beyond_baselines'])} | "
                         f"{_rho(e['given_length'])} | {_rho(e['per_token'])} | {_rho(e['baseline/nll'])} | "
                         f"{_rho(e['baseline/min_k'])} | {_rho(e['baseline/grad_norm'])} | "
                         f"{_rho(e['baseline/n_tokens'])} | {e['censored']} |")
        length = c["confounds"]["length"]
        lines += ["", f"Length: Spearman(MRD, answer tokens) = {_rho(length['mrd'])}; per-token MRD "
                      f"{_rho(length['per_token'])}."]
        return lines
    if c["id"] == "characteristics":
        lines = ["", "![MRD by sample characteristic](characteristics.png)", "",
                 "| characteristic | groups | paper's direction (MRD, high group) | per-token MRD: δ [CI], p | "
                     "raw MRD: δ, p | answer tokens: δ, p |", "|---|---|---|---|---|---|"]
        for r in c["rows"]:
            g, raw, tok = r["mrd_per_token"], r["mrd"], r["tokens"]
            lines.append(f"| {r['characteristic']} | {r['groups']} ({g['n_high']} / {g['n_low']}) | "
                         f"{r['expected'] or 'not available to the study'} | {_fmt(g['delta'])} [{_fmt(g['ci'][0])}, "
                         f"{_fmt(g['ci'][1])}], {_p(g['p'])} | {_fmt(raw['delta'])}, {_p(raw['p'])} | "
                         f"{_fmt(tok['delta'])}, {_p(tok['p'])} |")
        return lines
    if c["id"] == "variance":
        cal = c.get("calibration") or {}
        return ["", "![Utility after unlearning random forget subsets](variance.png)", "",
                "Calibrated learning rates: " + ", ".join(f"{m} {v:g}" for m, v in cal.get("lr", {}).items())
                + f"; {c['reached_share']:.0%} of the runs reached the threshold; forget MA at the stop "
                f"{c['forget_ma'][0]:.3f}–{c['forget_ma'][1]:.3f}. Order reversals (share of subsets whose mean "
                "GradDiff−NPO gap has the other sign): " + ", ".join(f"{u} {v:.0%}" for u, v in
                                                                     c["reversal_share"].items()) + "."]
    if c["id"] == "sampling":
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
    if c["id"] == "sensitivity":
        m = c["measured"]
        lines = ["", "![alg1's ranking against K](stability.png)", ""] + (
            ["![Each estimator's ranking against K on every forget sample](sensitivity.png)", ""]
            if m["k_curves_200"] else []) + [
                 "| definition run | Spearman with float64 at the study's σ | token terms exactly 0 |", "|---|---|---|"]
        for name, v in m["precision"].items():
            lines.append(f"| {name} | {_rho(v['vs_float64_study_sigma'])} | {v['zero_share']:.1%} |")
        if m["batch"]:
            lines += ["", "Batch 1 against the scoring batch: " + "; ".join(
                f"{dt}: largest per-sample change {b['max_relative_change']:.2%}" for dt, b in m["batch"].items()) + "."]
        return lines
    if c["id"] == "cud":
        m = c["measured"]
        return ["", "![CUD: separation and depth statistics](cud.png)", "",
                f"Labels: {m['n_labelled']} of {m['n']} samples; agreement of the runs' calls, Fleiss' κ = "
                    f"{m['fleiss_kappa']['kappa']:.2f} [{m['fleiss_kappa']['ci'][0]:.2f}, "
                    f"{m['fleiss_kappa']['ci'][1]:.2f}]; a decisive AUC test at the observed AUC needs about "
                    f"{m['n_for_decisive_auc']} labelled samples."]
    return []


def results_of(data) -> dict:
    """results.json's content, from the data files alone."""
    import hashlib

    from mrd_bench.reproduce import claims, decide, stats
    from mrd_bench.reproduce.claims import analyse

    from mrd_bench.reproduce import data as data_module, report

    sources = (decide, claims, stats, data_module, report)  # line endings normalised: a checkout's CRLF is not a change
    rules = hashlib.sha256(b"".join(Path(m.__file__).read_bytes().replace(b"\r\n", b"\n") for m in sources)).hexdigest()
    return {"study": data.study, "rules_sha256": rules, "claims": analyse(data)}


def write(ctx, out: Path, *, argv) -> Path:
    import tempfile

    from mrd_bench.provenance import record
    from mrd_bench.reproduce.data import export

    study = ctx.study
    stages = {}
    for path in sorted(ctx.work.glob("*/done.json")):
        done = read_json(path)
        stages[path.parent.name] = {"wall_s": done["wall_s"], "created": done["created"],
                                    "invocations": done.get("invocations"),
                                    "hardware": done["hardware"], "settings": done["settings"], "result": done["result"]}
    from mrd_bench.reproduce.stages import STAGES
    from mrd_bench.reproduce.study import key_hash

    current = {stage.name: key_hash(stage.key(ctx)) for stage in STAGES}  # a stage run under other settings is out
    with tempfile.TemporaryDirectory() as tmp:
        export(ctx.work, study, Path(tmp) / "data", current=current)
        return write_from_data(Path(tmp) / "data", out, argv=argv, run_record=record(
            kind="reproduce", command=list(argv), study=asdict(study), seeds=list(range(study.seeds)),
            work=str(ctx.work), stages=stages), holdout=ctx.splits["holdout_split"])


def write_from_data(folder: Path, out: Path, *, argv, run_record: Optional[dict] = None,
                    holdout: str = "") -> Path:
    """The report in `out` from the data files in `folder` (copied to `out/data`)."""
    import shutil

    from mrd_bench.reproduce.data import Data
    from mrd_bench.reproduce.decide import RULES

    data = Data(folder)
    results = results_of(data)
    lost = measured_lost(out, results["claims"])
    if lost:
        raise OutputExistsError(f"{str(out)!r} holds measured verdicts for {', '.join(lost)}, which these data have "
                                "not measured; a report never turns a measured verdict pending, so run those stages "
                                "first (the same command without --stages report), or choose another --out.")
    study, claims = data.study, results["claims"]
    lines = ["# Reproduction study: the MRD and CUD papers' claims, measured with mrd_bench", "",
             f"Setting: `{study.get('model')}` fine-tuned on the last {study.get('authors')} TOFU authors "
             f"({study.get('finetune_epochs')} epochs at lr {study.get('finetune_lr')}) is the original model; the "
             f"forget set is the last {study.get('forget_authors')} authors (n = {len(data.ids)})"
             + (f", the holdout TOFU's `{holdout}`" if holdout else "") + ". Written by `mrd-bench reproduce`; every "
             "number of `results.json` is recomputed from the files in `data/` by `mrd-bench reproduce --data "
             "data --out <folder>` (seconds, no model).", "", "## Findings", ""]
    lines += [f"{n}. **{c['title']}** ({VERDICT_MARK[c['verdict']]}): {c['finding']}"
              for n, c in enumerate(claims.values(), 1)]
    lines += ["", "## Claims and verdicts", ""] + _claims_table(claims)
    lines += ["", "## How a verdict is decided", "", "Each claim has one primary test in the paper's direction, fixed "
              "in `mrd_bench/reproduce/claims.py` before its runs; secondary tests are Holm-corrected within the claim "
              "and give sub-verdicts by the same rules, which never change the claim's verdict. " + RULES[0].upper()
              + RULES[1:] + "."]
    for n, c in enumerate(claims.values(), 1):
        lines += ["", f"## {n}. {c['title']}", "", f"The paper: {c['paper']}", ""] + _section(c) + _extra(c)
    if run_record:
        lines += ["", "## How this report was made", "", "```", " ".join(argv), "```", "",
                  "| stage | wall time (s) | invocations | finished |", "|---|---|---|---|"]
        lines += [f"| {name} | {s['wall_s']:.0f} | {s['invocations'] or 'the last only'} | {s['created']} |"
                  for name, s in run_record["stages"].items()]
    if run_record:
        from mrd_bench.reproduce.stages import STAGES

        pending = [stage.name for stage in STAGES if stage.name not in run_record["stages"]]
        if pending:
            lines += ["", "Stages not run yet: " + ", ".join(pending) + ". The same command with --overwrite runs "
                      "them and rebuilds this report; finished stages are kept."]
    else:
        pending = [cid for cid, c in claims.items() if c["verdict"] == "pending"]
        if pending:
            lines += ["", "Claims these data do not measure yet: " + ", ".join(pending) + "."]
    with replacing(out, **REPORT) as tmp:
        _plots(data, claims, tmp)
        shutil.copytree(folder, tmp / "data")
        write_json(tmp / "results.json", results)
        if run_record:
            write_json(tmp / RUN_RECORD, run_record)
        write_text(tmp / "README.md", "\n".join(lines) + "\n")
    return out
