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


def _label(key: str) -> str:
    """A readable name for a correlation's key in results.json."""
    fixed = {"baseline/nll": "answer NLL", "baseline/min_k": "Min-K% Prob", "baseline/grad_norm": "gradient norm",
             "definition/partial_baselines": "MRD given NLL, Min-K%, grad norm",
             "definition/partial_length": "MRD given length", "definition_per_token/updates": "per-token MRD"}
    if key in fixed:
        return fixed[key]
    est, what = key.split("/", 1)
    return f"MRD ({est})" + (" given NLL" if what == "partial_nll" else "")


def _plots(data, results: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from mrd_bench.report.plots import _save

    written = []
    pred = results["predicts"]
    if pred["verdict"] != "pending":
        methods = [e["method"] for e in pred["table"]]
        fig, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods), 3.6), squeeze=False)
        mrd = np.asarray(data.mrd())
        for ax, entry in zip(axes[0], pred["table"]):
            truth = np.asarray(data.measure(entry["method"], "updates"))
            censored = np.asarray([r["censored"] for r in data.updates[entry["method"]]])
            jitter = np.random.default_rng(0).uniform(-0.25, 0.25, len(truth))
            ax.scatter(mrd[~censored], truth[~censored] + jitter[~censored], s=12, alpha=0.7, color="#1f77b4",
                       edgecolors="none", label="reached the threshold")
            if censored.any():
                ax.scatter(mrd[censored], truth[censored] + jitter[censored], s=16, marker="^", color="#d62728",
                           label="censored at the cap")
            ax.set_xscale("log")
            ax.set_xlabel("MRD (definition, all draws)")
            ax.set_ylabel("updates to forget")
            c = entry["definition/updates"]
            ax.set_title(f"{entry['method'].upper()}: Spearman {_rho(c)}", fontsize=9)
            ax.legend(fontsize=7)
        _save(fig, out / "predicts_scatter.png")
        written.append("predicts_scatter.png")

        labels, rows = [], []
        for entry in pred["table"]:
            for key, value in entry.items():
                if isinstance(value, dict) and "rho" in value and "ci" in value:
                    if key.endswith("/updates") or key.startswith(("baseline/", "definition/partial")):
                        labels.append(f"{entry['method'].upper()}  {_label(key)}")
                        rows.append(value)
        fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(rows) + 1.2))
        y = np.arange(len(rows))[::-1]
        ax.errorbar([r["rho"] for r in rows], y, xerr=[[r["rho"] - r["ci"][0] for r in rows],
                                                         [r["ci"][1] - r["rho"] for r in rows]],
                    fmt="o", color="#333333", ecolor="#888888", capsize=2, markersize=4)
        ax.axvline(0, color="#d62728", lw=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=7)
        ax.set_xlabel("Spearman ρ with updates to forget, 95% CI\n(the MRD claim: ρ < 0)")
        _save(fig, out / "predicts_spearman.png")
        written.append("predicts_spearman.png")

    chars = results["characteristics"]
    if chars["verdict"] != "pending":
        mrd = np.asarray(data.mrd())
        fig, axes = plt.subplots(1, len(chars["rows"]), figsize=(2.6 * len(chars["rows"]), 3.4), squeeze=False)
        from mrd_bench.reproduce.claims import GROUPS

        for ax, row in zip(axes[0], chars["rows"]):
            values = np.asarray(data.column(row["characteristic"]), float)
            high = np.asarray([GROUPS[row["characteristic"]][1](v, float(np.median(values))) for v in values])
            ax.boxplot([mrd[~high], mrd[high]], tick_labels=["low / without", "high / with"], widths=0.6)
            ax.set_yscale("log")
            ax.set_title(f"{row['characteristic']}\nδ = {_fmt(row['mrd']['delta'])}, p = {_p(row['mrd']['p'])}",
                         fontsize=8)
            ax.tick_params(labelsize=7)
        axes[0][0].set_ylabel("MRD")
        _save(fig, out / "characteristics.png")
        written.append("characteristics.png")

    var = results["variance"]
    if var.get("table"):
        from mrd_bench.reproduce.claims import UTILITIES

        fig, axes = plt.subplots(1, len(UTILITIES), figsize=(4 * len(UTILITIES), 3.6))
        for ax, (metric, label) in zip(axes, UTILITIES.items()):
            entry = var["table"][metric]
            for k in range(len(entry["graddiff"]["values"])):
                ax.plot([0, 1], [entry["graddiff"]["values"][k], entry["npo"]["values"][k]], color="#bbbbbb", lw=0.8)
            ax.scatter([0] * len(entry["graddiff"]["values"]), entry["graddiff"]["values"], color="#1f77b4", s=16,
                       label="one forget subset")
            ax.scatter([1] * len(entry["npo"]["values"]), entry["npo"]["values"], color="#ff7f0e", s=16)
            for x, method in ((-0.25, "graddiff"), (1.25, "npo")):
                seeds = [v for group in entry[method].get("seed_values", []) for v in group]
                if seeds:
                    ax.scatter([x] * len(seeds), seeds, marker="_", color="black", s=60,
                               label="one subset, other seeds" if method == "graddiff" else None)
            ax.set_xticks([0, 1])
            ax.set_xticklabels(["GradDiff", "NPO"])
            ax.set_xlim(-0.5, 1.5)
            beyond = entry.get("reversal_beyond_noise_share")
            ax.set_title(f"{label} (own y-scale)\norder reverses in {entry['reversal_share']:.0%} of subsets"
                         + (f", {beyond:.0%} beyond seed noise" if beyond is not None and var.get("noise_subsets")
                            else ""), fontsize=8)
        axes[0].set_ylabel("utility after unlearning\n(one line per forget subset)")
        axes[0].legend(fontsize=7, loc="best")
        _save(fig, out / "variance.png")
        written.append("variance.png")

    samp = results["sampling"]
    if samp["verdict"] != "pending":
        from mrd_bench.reproduce.claims import SAMPLING_METRICS

        fig, axes = plt.subplots(1, len(SAMPLING_METRICS), figsize=(3.2 * len(SAMPLING_METRICS), 3.2))
        for ax, (metric, (label, better)) in zip(axes, SAMPLING_METRICS.items()):
            rows = [e[metric]["difference"] for e in samp["table"]]
            x = np.arange(len(rows))
            ax.bar(x, [r["mean"] for r in rows], color=["#2ca02c" if r["mean"] * better > 0 else "#d62728"
                                                        for r in rows])
            ax.errorbar(x, [r["mean"] for r in rows], yerr=[[r["mean"] - r["ci"][0] for r in rows],
                                                           [r["ci"][1] - r["mean"] for r in rows]],
                        fmt="none", ecolor="#333333", capsize=3)
            ax.axhline(0, color="#333333", lw=0.8)
            ax.set_xticks(x)
            ax.set_xticklabels([e["method"].upper() for e in samp["table"]], fontsize=7)
            ax.set_title(f"{label}\nMRD − uniform ({'higher' if better > 0 else 'lower'} is better)", fontsize=8)
        _save(fig, out / "sampling.png")
        written.append("sampling.png")

    sens = results["sensitivity"]
    if sens["verdict"] != "pending" or sens.get("measured"):
        measured = sens["measured"]
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
        def band(ax, xs, entries, label):
            ax.plot(xs, [e["rho"] for e in entries], marker="o", label=label)
            ax.fill_between(xs, [e["ci"][0] for e in entries], [e["ci"][1] for e in entries], alpha=0.15)

        for est, curve in measured["k"].items():
            band(axes[0], [int(k) for k in curve], list(curve.values()), est)
        axes[0].set_xscale("log", base=2)
        axes[0].set_xlabel("draws K (pairs for definition)")
        axes[0].set_ylabel("Spearman vs large-K reference")
        axes[0].axhline(0.9, color="#999999", ls="--", lw=0.8)
        axes[0].legend(fontsize=7)
        for est, by in measured["sigma"].items():
            band(axes[1], [float(s) for s in by], list(by.values()), est)
        axes[1].set_xscale("log")
        axes[1].set_xlabel("σ")
        axes[1].set_ylabel("Spearman vs default σ, all draws")
        axes[1].axhline(0.9, color="#999999", ls="--", lw=0.8)
        if measured["sigma"]:
            axes[1].legend(fontsize=7)
        else:
            axes[1].text(0.5, 0.5, "not measured yet\n(stage: sensitivity)", ha="center", va="center",
                         transform=axes[1].transAxes, color="#888888")
        eps = {k: v for k, v in measured["eps"].items() if k != "drop_clamped"}
        band(axes[2], [float(e) for e in eps], list(eps.values()), "clamp |log p| at eps")
        axes[2].axhline(measured["eps"]["drop_clamped"]["rho"], color="#d62728", lw=0.8,
                        label="clamped tokens left out")
        axes[2].set_xscale("log")
        axes[2].set_xlabel("eps")
        axes[2].set_ylabel("Spearman vs eps = default")
        axes[2].legend(fontsize=7)
        for ax in axes:
            ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.02)
        _save(fig, out / "sensitivity.png")
        written.append("sensitivity.png")
    if results["cud"]["verdict"] != "pending":
        written.append(_cud_plot(data, results["cud"], out))
    return written


def _cud_plot(data, c: dict, out: Path) -> str:
    import matplotlib.pyplot as plt
    import numpy as np

    from mrd_bench.reproduce.claims import DEPTH
    from mrd_bench.report.plots import _save

    colours = {"easy": "#2e86c1", "hard": "#c0392b", "": "#aaaaaa"}
    score = np.array([r["score"] for r in data.cud])
    label = np.array([r["label"] or "" for r in data.cud])
    fig = plt.figure(figsize=(13, 7.5), layout="constrained")
    grid = fig.add_gridspec(2, 4)
    ax = fig.add_subplot(grid[0, :2])
    bins = np.linspace(score.min(), score.max(), 26) if score.max() > score.min() else 10
    for name, text in (("easy", "labelled easy"), ("hard", "labelled hard"), ("", "unlabelled")):
        ax.hist(score[label == name], bins=bins, alpha=0.6, color=colours[name], label=f"{text} ({(label == name).sum()})")
    sep = c["measured"]["separation"]
    ax.set_xlabel("CUD (cross-fitted; 0 = like the easy anchor, 1 = like the hard anchor, 0.5 = between)")
    ax.set_ylabel("samples")
    ax.set_title(f"AUC hard vs easy {sep['auc']:.2f} [{sep['ci'][0]:.2f}, {sep['ci'][1]:.2f}]", fontsize=9)
    ax.legend(fontsize=8)
    ax = fig.add_subplot(grid[0, 2:])
    if data.draws:
        mrd = np.asarray(data.mrd())
        for name in ("", "easy", "hard"):
            pick = label == name
            ax.scatter(mrd[pick], score[pick], s=12, color=colours[name], edgecolors="none", alpha=0.8)
        corr = c["measured"]["mrd"]
        ax.set_xscale("log")
        ax.set_xlabel("MRD (definition; high = easy)")
        ax.set_ylabel("CUD (high = hard)")
        ax.set_title(f"Spearman(CUD, MRD) {corr['rho']:+.2f} [{corr['ci'][0]:+.2f}, {corr['ci'][1]:+.2f}]", fontsize=9)
    for k, (name, text) in enumerate(DEPTH.items()):
        ax = fig.add_subplot(grid[1, k])
        values = np.array([r[name] for r in data.cud])
        parts = [values[label == "easy"], values[label == "hard"]]
        ax.boxplot(parts, tick_labels=["easy", "hard"], widths=0.5)
        d = c["measured"]["depth"][name]
        ax.set_title(f"{text}\nδ(hard − easy) {d['delta']:+.2f}, p {d['p']:.2g}", fontsize=8)
        ax.tick_params(labelsize=8)
    fig.suptitle("Claim 6: CUD on the forget set (labels from the reference unlearners; each sample scored "
                 "against anchors built without it)", fontsize=10)
    _save(fig, out / "cud.png")
    return "cud.png"


# ----------------------------------------------------------------------------- text


VERDICT_MARK = {"reproduced": "reproduced", "not reproduced": "**not reproduced**", "inconclusive": "inconclusive",
                "pending": "pending (not measured yet)"}


def _claims_table(results: dict) -> list[str]:
    lines = ["| # | claim | the paper | mrd_bench (95% CI) | verdict |", "|---|---|---|---|---|"]
    for n, (cid, c) in enumerate(results.items(), 1):
        lines.append(f"| {n} | {c['title']} | {c['paper']} | {c['summary']} | {VERDICT_MARK[c['verdict']]} |")
    return lines


def _predicts_section(c: dict, study) -> list[str]:
    if c["verdict"] == "pending":
        return []
    lines = ["![MRD against updates to forget](predicts_scatter.png)", "",
             "![Spearman correlations with 95% CIs](predicts_spearman.png)", "",
             "Ground truth: each forget sample unlearned alone from the original weights, AdamW at lr "
             + ", ".join(f"{study.updates_lr_for(e['method']):g} ({e['method'].upper()})" for e in c["table"])
             + f", until its MA falls below the holdout's mean MA (cap {study.max_updates}). "
             f"Continuous measures over the first {study.horizon} updates: the MA area and the loss increase. "
             "CIs: bootstrap over samples and over MRD seeds.", ""]
    ests = [k.split("/")[0] for k in c["table"][0] if k.endswith("/updates") and not k.startswith(("baseline",
                                                                                                      "definition_per"))]
    head = "| method | distinct counts | tied share | censored | " + " | ".join(
        f"{e}: updates | {e}: MA area | {e}: −loss incr. | {e}: partial (NLL)" for e in ests) + " |"
    lines += [head, "|" + "---|" * (4 + 4 * len(ests))]
    for e in c["table"]:
        cells = [e["method"].upper(), str(e["ties"]["distinct"]), f"{e['ties']['tied_share']:.0%}", str(e["censored"])]
        for est in ests:
            cells += [_rho(e[f"{est}/{m}"]) for m in ("updates", "ma_auc", "neg_loss_increase")]
            cells.append(_rho(e[f"{est}/partial_nll"]))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Baseline signals and what MRD adds (Spearman with updates to forget):", "",
              "| method | NLL | Min-K% | grad norm | MRD given NLL, Min-K%, grad norm | MRD given length | "
              "per-token MRD |", "|---|---|---|---|---|---|---|"]
    for e in c["table"]:
        lines.append(f"| {e['method'].upper()} | {_rho(e['baseline/nll'])} | {_rho(e['baseline/min_k'])} | "
                     f"{_rho(e['baseline/grad_norm'])} | {_rho(e['definition/partial_baselines'])} | "
                     f"{_rho(e['definition/partial_length'])} | {_rho(e['definition_per_token/updates'])} |")
    if c["agreement"]:
        w = c["agreement"]
        lines += ["", f"Do the methods agree on which samples are hard? Kendall's W over "
                      f"{w['updates']['raters']} methods: updates {w['updates']['w']:.2f} "
                      f"[{w['updates']['ci'][0]:.2f}, {w['updates']['ci'][1]:.2f}] (p = {_p(w['updates']['p'])}); "
                      f"loss increase {w['neg_loss_increase']['w']:.2f} [{w['neg_loss_increase']['ci'][0]:.2f}, "
                      f"{w['neg_loss_increase']['ci'][1]:.2f}]."]
    length, clamp = c["confounds"]["length"], c["confounds"]["clamp"]
    lines += ["", "Confounds in MRD itself:", "",
              f"- Length: Spearman(MRD, answer tokens) = {_rho(length['spearman_mrd_tokens'])}; per-token MRD: "
              f"{_rho(length['spearman_per_token_mrd_tokens'])}.",
              f"- Clamping (eps = {clamp['eps']:g}): {clamp['samples_with_clamped']} samples have clamped tokens, "
              f"at most {clamp['max_clamped']} in one sample, median share {clamp['median_clamped_share']:.0%}. "
              "Ranking against eps = default: " + ", ".join(f"eps {e}: {_rho(r)}" for e, r in clamp["by_eps"].items())
              + f"; clamped tokens left out: {_rho(clamp['drop_clamped'])}. Spearman with "
              f"{c['table'][0]['method'].upper()} updates: " + ", ".join(
                  f"eps {e}: {_rho(r)}" for e, r in clamp["updates_by_eps"].items())
              + f"; clamped tokens left out: {_rho(clamp['updates_drop_clamped'])}."]
    if c.get("missing"):
        lines += ["", "Not measured yet: " + ", ".join(c["missing"]) + "."]
    return lines


def _characteristics_section(c: dict) -> list[str]:
    if c["verdict"] == "pending":
        return []
    lines = ["![MRD by sample characteristic](characteristics.png)", "", c["note"], "",
             "MRD is a sum over answer tokens, so a characteristic that comes with longer answers raises it; the "
             "last columns give the same comparison for the per-token MRD and for the answer length.", "",
             "| characteristic | groups (n high / n low) | median MRD high / low | Cliff's δ (high vs low) [95% CI] | "
             "p (Mann–Whitney) | per-token MRD: δ [CI], p | answer tokens: δ, p | GA updates: δ, p |",
             "|---|---|---|---|---|---|---|---|"]
    for r in c["rows"]:
        m = r["mrd"]
        ga = r.get("updates_ga")
        lines.append(f"| {r['characteristic']} | {r['groups']} ({m['n_high']} / {m['n_low']}) | "
                     f"{m['median_high']:.3g} / {m['median_low']:.3g} | {_fmt(m['delta'])} [{_fmt(m['ci'][0])}, "
                     f"{_fmt(m['ci'][1])}] | {_p(m['p'])} | {_fmt(r['mrd_per_token']['delta'])} "
                     f"[{_fmt(r['mrd_per_token']['ci'][0])}, {_fmt(r['mrd_per_token']['ci'][1])}], "
                     f"{_p(r['mrd_per_token']['p'])} | {_fmt(r['tokens']['delta'])}, {_p(r['tokens']['p'])} | "
                     + (f"{_fmt(ga['delta'])}, {_p(ga['p'])}" if ga else "n/a") + " |")
    return lines


def _variance_section(c: dict, study) -> list[str]:
    from mrd_bench.reproduce.claims import UTILITIES

    if not c.get("table"):
        return []
    lines = ["![Utility after unlearning random forget subsets](variance.png)", "",
             f"{c['subsets']} random forget subsets of {study.variance_size} samples drawn from the forget set (seed = "
             f"the subset's index), each unlearned by GradDiff (with the retain set) and by NPO, {study.variance_steps} "
             f"updates of 8 at lr {study.variance_lr:g}; utility from `tofu_retain_qa_prob`, `tofu_real_authors_prob` "
             f"and `tofu_world_facts_prob`."]
    if c.get("noise_subsets"):
        lines[-1] += (f" The seed's own spread: subset(s) {', '.join(map(str, c['noise_subsets']))} unlearned again "
                      f"with other training seeds ({c['seeds_per_noise_subset']} runs per method and subset; the "
                      f"black dashes in the plot). The F test assumes the seed spreads every subset alike.")
    lines[-1] += f" Verdict rule: {c['rule']}"
    lines += ["", "| utility | GradDiff mean (SD over subsets [95% CI]) | GradDiff range | seed SD, F-test p | "
              "NPO mean (SD [95% CI]) | NPO range | seed SD, F-test p | order reverses | beyond seed noise |",
              "|---|---|---|---|---|---|---|---|---|"]

    def noise(e: dict) -> str:
        sp = e["spread"]
        return f"{sp['sd_seed']:.4f}, {_p(sp['p'])}" if math.isfinite(sp["sd_seed"]) else "not measured"

    for metric, e in c["table"].items():
        g, n = e["graddiff"], e["npo"]
        beyond = (f"{e['reversal_beyond_noise_share']:.0%} (by more than {e['reversal_threshold']:.4f})"
                  if math.isfinite(e["reversal_threshold"]) else "not measured")
        lines.append(f"| {UTILITIES[metric]} | {g['mean']:.3f} ({g['sd']:.4f} [{g['sd_ci'][0]:.4f}, "
                     f"{g['sd_ci'][1]:.4f}]) | {g['min']:.3f}–{g['max']:.3f} | {noise(g)} | {n['mean']:.3f} "
                     f"({n['sd']:.4f} [{n['sd_ci'][0]:.4f}, {n['sd_ci'][1]:.4f}]) | {n['min']:.3f}–{n['max']:.3f} | "
                     f"{noise(n)} | {e['reversal_share']:.0%} | {beyond} |")
    return lines


def _sampling_section(c: dict, study) -> list[str]:
    from mrd_bench.reproduce.claims import SAMPLING_METRICS

    if c["verdict"] == "pending":
        return []
    lines = ["![MRD-weighted minus uniform sampling](sampling.png)", "",
             f"Forget set: TOFU's last {study.sampling_forget_authors} authors; {study.seeds} seeds. Completeness and "
             f"utility after {study.sampling_steps} updates of 8 for every run (equal budget), at lr "
             + ", ".join(f"{m.upper()} {study.sampling_lr_for(m):g}" for m in study.sampling_list)
             + f" (a method's MRD-weighted run at its rate). The MA threshold is checked every "
             f"{study.sampling_check_every} updates; a run not below it at the budget trains on, without further "
             f"evaluation, until it is, until {study.sampling_patience} checks in a row find no lower MA (its MA has settled "
             f"above the threshold: censored), or {study.sampling_max_updates} updates. CIs: bootstrap over seeds of the "
             f"paired difference. {c['reached_share']:.0%} of all runs reached the threshold within "
             f"{study.sampling_max_updates} updates"
             + (" (at least 80%, as asked)." if c["reached_share"] >= 0.8 else
                ": under the 80% asked for, so a run that did not reach it counts every update it trained, a lower "
                "bound.")
             + f" Verdict rule: {c['rule']}", "",
             "| method | " + " | ".join(f"{label}: uniform / MRD / Δ [95% CI]" for label, _ in SAMPLING_METRICS.values())
             + " | runs reaching the threshold | verdict |", "|---|" + "---|" * (len(SAMPLING_METRICS) + 2)]
    for e in c["table"]:
        cells = [f"{e[m]['uniform']['mean']:.3f} / {e[m]['mrd']['mean']:.3f} / {e[m]['difference']['mean']:+.3f} "
                 f"[{e[m]['difference']['ci'][0]:+.3f}, {e[m]['difference']['ci'][1]:+.3f}]"
                 + (f" ({e[m]['censored']} of {2 * e['seeds']} runs censored)" if e[m].get("censored") else "")
                 for m in SAMPLING_METRICS]
        lines.append(f"| {e['method'].upper()} | " + " | ".join(cells) +
                     f" | {e['reached_share']:.0%} | {c['verdicts'][e['method']]} |")
    return lines


def _sensitivity_section(c: dict, study) -> list[str]:
    if c["verdict"] == "pending" and not c.get("measured"):
        return []
    m = c["measured"]
    lines = ["![MRD against K, σ and eps](sensitivity.png)", "",
             "K: the score from the first K draws against the mean of the other half of all draws. "
             f"σ: on a seeded subset of {study.sensitivity_samples} samples, against the default σ from all draws. "
             "Hutchinson's σ only scales its score (its ranking cannot move).", "",
             "| estimator | Spearman by K | K for ρ ≥ 0.9 | Spearman by σ |", "|---|---|---|---|"]
    for est, curve in m["k"].items():
        sig = m["sigma"].get(est, {})
        lines.append(f"| {est} | " + ", ".join(f"{k}: {_rho(r)}" for k, r in curve.items()) +
                     f" | {m['k_for_0.9'].get(est) or '> ' + str(max(curve) if curve else 0)} | " +
                     (", ".join(f"{s}: {_rho(r)}" for s, r in sig.items()) or "n/a") + " |")
    lines += ["", "eps (Spearman against the default eps, all draws): " + ", ".join(
        f"{e}: {_rho(r)}" for e, r in m["eps"].items()) + "."]
    if m["batch"]:
        lines += ["", "Batch size: the same draws (seed 0, 2 pairs) at batch 1 and batch "
                      f"{study.batch_size}: " + "; ".join(
                          f"{dt}: largest per-sample change {b['max_relative_change']:.2%}, median "
                          f"{b['median_relative_change']:.2%}, Spearman {_rho(b['spearman'])}"
                          for dt, b in m["batch"].items()) + "."]
    if c.get("missing"):
        lines += ["", "Not measured yet: " + ", ".join(c["missing"]) + "."]
    return lines


def _cud_section(c: dict) -> list[str]:
    from mrd_bench.reproduce.claims import DEPTH

    if c["verdict"] == "pending":
        return []
    m = c["measured"]
    lines = ["![CUD: separation, agreement with MRD, depth statistics](cud.png)", "", c["rule"], "",
             f"Labels: {m['n_labelled']} of {m['n']} forget samples labelled (easy or hard by at least 3 unlearners); "
             f"agreement of the unlearners' easy/middle/hard calls, Fleiss' κ = {_fmt(m['fleiss_kappa'], False)}; "
             "Spearman of their post-unlearning losses: "
             + ", ".join(f"{k} {_fmt(v)}" for k, v in m["loss_spearman"].items()) + ".", "",
             f"Verdicts: separation **{m['verdicts']['separation']}**, depth **{m['verdicts']['depth']}**.", "",
             "| depth statistic (kept edges) | median easy / hard | Cliff's δ hard vs easy [95% CI] | p (Mann–Whitney) |",
             "|---|---|---|---|"]
    for name, text in DEPTH.items():
        d = m["depth"][name]
        lines.append(f"| {text} | {d['median_low']:.3g} / {d['median_high']:.3g} | {_fmt(d['delta'])} "
                     f"[{_fmt(d['ci'][0])}, {_fmt(d['ci'][1])}] | {_p(d['p'])} |")
    lines += ["", "| CUD against | Spearman [95% CI] | p |", "|---|---|---|"]
    if "mrd" in m:
        lines.append(f"| MRD (definition; high = easy, so agreement is negative) | {_rho(m['mrd'])} | {_p(m['mrd']['p'])} |")
    for method, corr in m["updates"].items():
        lines.append(f"| updates to forget, {method.upper()} (agreement is positive) | {_rho(corr)} | {_p(corr['p'])} |")
    return lines


def write(ctx, out: Path, *, argv) -> Path:
    from mrd_bench.provenance import record
    from mrd_bench.reproduce.claims import CLAIMS, Data

    study = ctx.study
    data = Data(ctx.work, study)
    results = {}
    for claim in CLAIMS:
        result = claim(data)
        results[result["id"]] = result
    lost = measured_lost(out, results)
    if lost:
        raise OutputExistsError(f"{str(out)!r} holds measured verdicts for {', '.join(lost)}, which --work "
                                f"{str(ctx.work)!r} has not measured; a report never turns a measured verdict "
                                "pending, so run those stages first (the same command without --stages report), "
                                "or choose another --out.")
    stages = {}
    for path in sorted(ctx.work.glob("*/done.json")):
        done = read_json(path)
        stages[path.parent.name] = {"wall_s": done["wall_s"], "created": done["created"],
                                    "invocations": done.get("invocations"),
                                    "hardware": done["hardware"], "settings": done["settings"], "result": done["result"]}
    original = stages.get("original", {}).get("result", {})
    n_forget = study.forget_authors * 20
    lines = ["# Reproduction study: the MRD and CUD papers' claims, measured with mrd_bench", "",
             f"Setting: `{study.model}` fine-tuned on the last {study.authors} TOFU authors ({study.authors * 20} QA, "
             f"{study.finetune_epochs} epochs at lr {study.finetune_lr:g}) is the original model; the forget set is "
             f"the last {study.forget_authors} authors (n = {n_forget}), the retain set the other "
             f"{study.authors - study.forget_authors}, the holdout TOFU's `{ctx.splits['holdout_split']}`. "
             f"{study.seeds} seeds for MRD. Every figure has a 95% CI (bootstrap over samples, and over seeds where "
             "there are seeds). Written by `mrd-bench reproduce`; the command, versions, hardware and each stage's "
             "wall time are in `run_record.json`, every figure in `results.json`.", "",
             "## Claims and verdicts", ""] + _claims_table(results)
    sections = {"variance": lambda c: _variance_section(c, study),
                "predicts": lambda c: _predicts_section(c, study),
                "characteristics": _characteristics_section,
                "sampling": lambda c: _sampling_section(c, study),
                "sensitivity": lambda c: _sensitivity_section(c, study),
                "cud": _cud_section}
    for n, (cid, c) in enumerate(results.items(), 1):
        lines += ["", f"## {n}. {c['title']}", "", f"The paper: {c['paper']}", "",
                  f"Verdict: **{c['verdict']}**. {c['summary'][0].upper() + c['summary'][1:]}.", ""] + sections[cid](c)
    lines += ["", "## How this report was made", "", "```", " ".join(argv), "```", "",
              "| stage | wall time (s) | invocations | finished |", "|---|---|---|---|"]
    lines += [f"| {name} | {s['wall_s']:.0f} | " + (f"{s['invocations']}" if s["invocations"] else
                                                    "the last only (run before invocations were summed)")
              + f" | {s['created']} |" for name, s in stages.items()]
    pending = sorted({n for c in results.values() for n in c.get("needs", []) + c.get("missing", [])})
    if pending:
        lines += ["", "Stages not run yet: " + ", ".join(pending) + ". The same command with --overwrite runs "
                  "them and rebuilds this report; finished stages are kept."]
    if original.get("model_hash"):
        lines += ["", f"Original model weights sha256: `{original['model_hash'].get('final', '')}`."]
    with replacing(out, **REPORT) as tmp:
        _plots(data, results, tmp)
        write_json(tmp / "results.json", {"study": asdict(study), "claims": results})
        write_json(tmp / RUN_RECORD, record(kind="reproduce", command=list(argv), study=asdict(study),
                                            seeds=list(range(study.seeds)), work=str(ctx.work), stages=stages))
        write_text(tmp / "README.md", "\n".join(lines) + "\n")
    return out
