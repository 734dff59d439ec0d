"""Claim 3, MRD paper, Table 7 and Section 4.2: MRD differs between high- and low-frequency
samples, high and low initial probability, high and low semantic complexity, and samples with and
without rare words.

No stage of its own: the baselines' text characteristics and MRD (definition) per answer token.
Primary test: Cliff's δ of per-token MRD, high against low lexical diversity.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mrd_bench.reproduce import stats
from mrd_bench.reproduce.claims.common import SESOI_DELTA, ci, fmt, p_text, pending, result
from mrd_bench.reproduce.data import CHARACTERISTICS, Data
from mrd_bench.reproduce.decide import RULES, Primary, decide, secondary

ID = "characteristics"  # results.json's key of the claim

STAGES = ()  # baselines and mrd_definition (claims/predicts.py) measure it


# The paper's direction per characteristic, as MRD of the high group against the low one, where
# the study can state it. Only semantic complexity's is known to the study (issue #27's reading of
# the paper: high lexical diversity goes with higher MRD); the paper's text beyond its abstract is not
# in the study's library, so the others are tested two-sided and get no direction verdict.
DIRECTION = {"lexical_diversity": "above", "syntactic_depth": "above", "entity_frequency": None, "prob": None,
             "rare_words": None}
GROUPS = {
    "entity_frequency": ("high vs low entity frequency in the training set (median split)", lambda v, m: v > m),
    "prob": ("high vs low initial answer probability (median split)", lambda v, m: v > m),
    "lexical_diversity": ("high vs low lexical diversity, MATTR (median split)", lambda v, m: v > m),
    "syntactic_depth": ("high vs low syntactic depth, clause-marker proxy (median split)", lambda v, m: v > m),
    "rare_words": ("with vs without rare words (more than 3 outside the 10k most frequent)", lambda v, m: v >= 4),
}
PRIMARY = Primary(
    test="Cliff's δ of per-token MRD (definition; length-adjusted), high against low lexical diversity (median "
         "split), with its 95% CI and two-sided p from one Hanley–McNeil standard error (δ = 2·AUC − 1)",
    statistic="Cliff's δ", expected="above", null=0.0, sesoi=SESOI_DELTA,
    paper_effect_note="the paper's Table 7 effect sizes are not available to the study")


def analyse(data: Data) -> dict:
    claim = {"id": ID, "title": "Sample characteristics and MRD",
             "paper": "MRD paper, Table 7 and Section 4.2: MRD differs between high- and low-frequency samples, "
                      "high and low initial probability, high and low semantic complexity, and samples with and "
                      "without rare words."}
    if not data.has("mrd_definition_per_token"):
        return pending(claim, ["mrd_definition"])
    per_token, raw, length = (data.column("mrd_definition_per_token"), data.column("mrd_definition"),
                              data.column("n_tokens"))
    rows = []
    for name in CHARACTERISTICS:
        label, split = GROUPS[name]
        values = data.column(name)
        high = np.asarray([bool(split(v, float(np.median(values)))) for v in values])
        rows.append({"characteristic": name, "groups": label, "expected": DIRECTION[name],
                     "mrd_per_token": stats.delta_test(per_token, high), "mrd": stats.delta_test(raw, high),
                     "tokens": stats.delta_test(length, high),
                     **({"updates_ga": stats.delta_test(data.column("updates_ga"), high)} if data.has("updates_ga")
                        else {})})
    first = rows[CHARACTERISTICS.index("lexical_diversity")]
    g = first["mrd_per_token"]
    judged = decide(PRIMARY, result(g, "delta"), mde=2 * stats.mde_auc(g["n_high"], g["n_low"]))
    tests, mdes, undirected = {}, {}, {}
    for r in rows:
        if r is first:
            continue
        g = r["mrd_per_token"]
        if r["expected"]:
            tests[r["characteristic"]] = (Primary(test=PRIMARY.test.replace("lexical diversity", r["groups"]),
                                                  statistic="Cliff's δ", expected=r["expected"], null=0.0,
                                                  sesoi=SESOI_DELTA), result(g, "delta"))
            mdes[r["characteristic"]] = 2 * stats.mde_auc(g["n_high"], g["n_low"])
        else:
            undirected[r["characteristic"]] = g["p"]
    subs = secondary(tests, mdes=mdes, undirected=undirected)  # one Holm family: directed and undirected
    for name in undirected:
        subs[name] = {**subs[name], "verdict": "differs (direction not checked)" if subs[name]["p_holm"] < 0.05 else
                      "no difference shown (direction not checked)",
                      "why": "the paper's direction for this characteristic is not available to the study; "
                             "two-sided test, Holm-corrected with the claim's other secondary tests"}
    g = first["mrd_per_token"]
    depth = next(r for r in rows if r["characteristic"] == "syntactic_depth")["mrd_per_token"]
    finding = (f"Per answer token, MRD of high- against low-lexical-diversity answers: δ = {ci(g, 'delta')} (the "
               f"paper expects higher MRD for more complex answers); the other complexity proxy, syntactic depth, "
               f"gives δ = {ci(depth, 'delta')}; raw MRD's differences follow answer length (δ of length "
               f"{first['tokens']['delta']:+.2f} for the lexical-diversity groups).")
    summary = "; ".join(f"{r['characteristic']}: per-token δ = {ci(r['mrd_per_token'], 'delta')}, p = "
                        f"{r['mrd_per_token']['p']:.2g}" for r in rows)
    return {**claim, **judged, "secondary": subs, "summary": summary, "finding": finding, "rows": rows, "rule": RULES,
            "thresholds": "The paper's group thresholds are not available to the study: median splits, and more "
                          "than 3 rare words (outside the 10k most frequent English words) for rare words."}


def figures(plt, data: Data, c: dict, out: Path) -> list[str]:
    from mrd_bench.reproduce.figures import forest

    rows = [(f"{r['characteristic']}  {label}", r[key]) for r in c["rows"] for key, label in (
        ("mrd_per_token", "per-token MRD"), ("mrd", "raw MRD"), ("tokens", "answer tokens"))]
    forest(plt, rows, "delta", "Cliff's δ, high against low group (95% CI)", out / "characteristics.png")
    return ["characteristics.png"]


def tables(c: dict) -> list[str]:
    lines = ["", "![MRD by sample characteristic](characteristics.png)", "",
             "| characteristic | groups | paper's direction (MRD, high group) | per-token MRD: δ [CI], p | "
             "raw MRD: δ, p | answer tokens: δ, p |", "|---|---|---|---|---|---|"]
    for r in c["rows"]:
        g, raw, tok = r["mrd_per_token"], r["mrd"], r["tokens"]
        lines.append(f"| {r['characteristic']} | {r['groups']} ({g['n_high']} / {g['n_low']}) | "
                     f"{r['expected'] or 'not available to the study'} | {fmt(g['delta'])} [{fmt(g['ci'][0])}, "
                     f"{fmt(g['ci'][1])}], {p_text(g['p'])} | {fmt(raw['delta'])}, {p_text(raw['p'])} | "
                     f"{fmt(tok['delta'])}, {p_text(tok['p'])} |")
    return lines
