"""Claim 6, the CUD paper (arXiv 2601.09624): circuit distance to easy/hard anchors separates easy
from hard samples before any unlearning; easy samples use shorter, shallower pathways in early-to-
middle layers, hard ones longer, deeper, late-stage pathways.

Stages:
- `labels`: easy and hard labels from how much each sample's answer loss *rises* under the
  reference unlearners (the loss after unlearning minus the same sample's loss before, so a sample's
  initial NLL does not decide its label), over several seeds, without CGA (which samples by MRD and
  would tie the labels to the signal they judge). Each (method, seed) run unlearns the whole forget
  set from the original weights for the same number of updates; per run, the `cud_label_q` share
  with the largest increase is called easy and the same share with the smallest hard; a sample is
  labelled when more than half of the runs call it the same. `labels.json` has the format
  `mrd-bench score --metric cud` reads.
- `cud`: EAP-IG attribution of every forget sample on the original model, then cross-fitted CUD.
Primary test: ROC AUC of CUD, hard against easy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mrd_bench.io import append_jsonl, write_json
from mrd_bench.reproduce import common, stats
from mrd_bench.reproduce.claims.common import SESOI_AUC, SESOI_DELTA, ci, pending, result
from mrd_bench.reproduce.data import DEPTH, Data
from mrd_bench.reproduce.decide import RULES, Primary, decide, secondary
from mrd_bench.reproduce.study import Context, Stage, names, settings_of

ID = "cud"  # results.json's key of the claim

# ----------------------------------------------------------------------------- stages


@dataclass(frozen=True)
class Labels:
    cud_label_methods: str
    cud_label_steps: int
    cud_label_lr: float
    cud_label_q: float
    label_seeds: int
    measure: str = field(default="increase", init=False)  # the labels come from the loss increase


def run_labels(ctx: Context, folder: Path, s: Labels) -> dict:
    from mrd_bench.cud_labels import CALLS, answer_losses, tally
    from mrd_bench.models import weights_hash
    from mrd_bench.reproduce.unlearning import unlearn
    from mrd_bench.unlearn import Settings, refusal_items

    model, tok = ctx.load_original()
    model_hash = weights_hash(model)
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    forget = ctx.splits["forget"]
    ids = list(forget["sample_id"])
    items = ctx.encode(tok, forget)
    retain = ctx.encode(tok, ctx.splits["retain"])
    refusals = refusal_items(tok, forget, "tofu", Settings(method="po"))
    before = answer_losses(model, items)
    path, done = common.keyed_runs(folder, LABELS.key(ctx.study))
    todo = [(m, seed) for seed in range(s.label_seeds) for m in names(s.cud_label_methods)]
    for method, seed in tqdm(todo, desc="unlearners for the labels", unit="run", disable=not ctx.progress):
        name = f"{method}/seed-{seed}"
        if name in done:
            continue
        model, _ = unlearn(model, original, items, method, "uniform", steps=s.cud_label_steps, lr=s.cud_label_lr,
                           seed=seed, retain=retain, refusals=refusals if method == "po" else None)
        model.eval()
        done[name] = {"run": name, "method": method, "seed": seed, "losses": answer_losses(model, items)}
        append_jsonl(path, done[name])
    model.load_state_dict(original)
    increases = {name: [a - b for a, b in zip(done[name]["losses"], before)] for name in (f"{m}/seed-{k}"
                                                                                         for m, k in todo)}
    majority = len(increases) // 2 + 1
    labels, table, kappa = tally(increases, s.cud_label_q, majority)
    result = {"labels": {sid: lab for sid, lab in zip(ids, labels) if lab is not None},
              "agreement": {"fleiss_kappa": kappa,
                            "votes": {sid: dict(zip(CALLS, map(int, row))) for sid, row in zip(ids, table)}},
              "n_easy": labels.count("easy"), "n_hard": labels.count("hard"), "n": len(ids),
              "before": dict(zip(ids, before)), "increase": {r: dict(zip(ids, v)) for r, v in increases.items()},
              "measure": "loss increase (after − before)", "runs": list(increases), "min_votes": majority,
              "model_hash": model_hash}
    write_json(folder / "labels.json", result)
    return {"n_easy": result["n_easy"], "n_hard": result["n_hard"],
            "fleiss_kappa": result["agreement"]["fleiss_kappa"], "runs": len(increases)}


@dataclass(frozen=True)
class Cud:
    cud_baseline: str
    cud_steps: int
    cud_top_edges: int
    cud_folds: int
    v: int = field(default=3, init=False)  # 3: anchors from the loss-increase labels of several seeds, without CGA


def run_cud(ctx: Context, folder: Path, s: Cud) -> dict:
    """EAP-IG attribution of every forget sample on the original model, then cross-fitted CUD."""
    import shutil

    from mrd_bench.data.source import prompt_and_target
    from mrd_bench.errors import OutputExistsError
    from mrd_bench.provenance import record
    from mrd_bench.scorers.corrupt import corrupt, entity_pool
    from mrd_bench.scorers.cud_run import CudConfig, score_cud_to_file

    model, tok = ctx.load_original()
    forget = ctx.splits["forget"]
    items = ctx.encode(tok, forget)
    pairs = [prompt_and_target(row) for row in forget]
    pool = entity_pool([prompt_and_target(row)[0] for rows in (forget, ctx.splits["retain"]) for row in rows])
    made = ([corrupt(tok, p, t, e, pool, seed=0) for (p, t), e in zip(pairs, items)] if s.cud_baseline == "corrupt"
            else [(None, {"baseline": "zero"}) for _ in items])
    cfg = CudConfig(baseline=s.cud_baseline, steps=s.cud_steps, top_edges=s.cud_top_edges, folds=s.cud_folds,
                    seed=0, batch_size=8)
    out = folder / "cud.jsonl"
    for stale in (out, folder / "cud.meta.json", folder / "cud.attributions.npz"):
        stale.unlink(missing_ok=True)  # from other settings: this stage is not done
    args = (model, items, list(forget["sample_id"]), [m[0] for m in made], [m[1] for m in made],
            ctx.work / "labels" / "labels.json", cfg, out)
    meta = record(benchmark="tofu", split="forget (study)", model=str(ctx.original))
    try:
        score_cud_to_file(*args, meta=meta, progress=ctx.progress)
    except OutputExistsError:  # a partial run of other settings
        shutil.rmtree(folder / "cud.jsonl.partial")
        score_cud_to_file(*args, meta=meta, progress=ctx.progress)
    return {"corrupt": sum(m[0] is not None for m in made), "n": len(items)}


LABELS = Stage("labels", "easy/hard labels from the loss increase under the reference unlearners, every seed (claim 6)",
               settings_of(Labels), run_labels)
CUD = Stage("cud", "CUD: EAP-IG circuits of every forget sample, cross-fitted anchors (claim 6)", settings_of(Cud),
            run_cud, upstream=(LABELS,))
STAGES = (LABELS, CUD)

# ----------------------------------------------------------------------------- analysis

PRIMARY = Primary(
    test="ROC AUC of CUD (cross-fitted anchors) for the hard against the easy samples, labels from the loss "
         "increase under the labelling runs (--cud-label-methods × --label-seeds: GA, GradDiff, NPO and PO × 3 "
         "by default); Hanley–McNeil 95% CI and two-sided z test of "
         "AUC = 0.5", statistic="AUC", expected="above", null=0.5, sesoi=SESOI_AUC,
    paper_effect_note="the CUD paper's separation figures are not available to the study")


def analyse(data: Data) -> dict:
    claim = {"id": ID, "title": "CUD separates easy from hard samples; hard ones use deeper, later pathways",
             "paper": "CUD paper (arXiv 2601.09624): circuit distance to easy/hard anchors separates easy from "
                      "hard samples before any unlearning; easy samples use shorter, shallower pathways in early-to-"
                      "middle layers, hard ones longer, deeper, late-stage pathways."}
    if not data.has("cud") or not data.has("votes_easy"):
        return pending(claim, [n for n, col in (("labels", "votes_easy"), ("cud", "cud")) if not data.has(col)])
    label = np.asarray([r["label"] or "" for r in data.samples])
    keep = np.isin(label, ["easy", "hard"])
    hard = label[keep] == "hard"
    auc = stats.auc_test(data.column("cud")[keep], hard)
    judged = decide(PRIMARY, result(auc, "auc"), mde=stats.mde_auc(auc["n_pos"], auc["n_neg"]))
    depth = {name: stats.delta_test(data.column(name)[keep], hard) for name in DEPTH}
    subs = secondary({name: (Primary(test=f"Cliff's δ of {name}, hard against easy", statistic="Cliff's δ",
                                     expected="above", null=0.0, sesoi=SESOI_DELTA), result(d, "delta"))
                      for name, d in depth.items()},
                     mdes={name: 2 * stats.mde_auc(d["n_high"], d["n_low"]) for name, d in depth.items()})
    votes = np.asarray([[r["votes_easy"], r["votes_middle"], r["votes_hard"]] for r in data.samples], float)
    from mrd_bench.cud_labels import fleiss_kappa

    rng = np.random.default_rng(0)
    boot = [fleiss_kappa(votes[rng.integers(0, len(votes), len(votes))]) for _ in range(2000)]
    ratio = auc["n_pos"] / max(1, auc["n_neg"])
    needed = stats.n_for_auc(max(abs(auc["auc"] - 0.5), 1e-3), ratio=ratio)
    measured = {"auc": auc, "depth": depth, "n_labelled": int(keep.sum()), "n": len(label),
                "fleiss_kappa": {"kappa": fleiss_kappa(votes), "ci": stats._ci(np.asarray(boot))},
                "n_for_decisive_auc": needed, "n_for_auc_0.10": stats.n_for_auc(0.10, ratio=ratio),
                "n_for_auc_sesoi": stats.n_for_auc(SESOI_AUC, ratio=ratio),
                "mrd": stats.spearman_test(data.column("cud"), data.column("mrd_definition"))
                if data.has("mrd_definition") else None}
    finding = (f"CUD separates the hard from the easy samples at AUC = {ci(auc, 'auc')} ({auc['n_pos']} hard, "
               f"{auc['n_neg']} easy); a test that finds this AUC with 80% power needs about {needed} labelled "
               f"samples, one that finds AUC 0.6 about {measured['n_for_auc_0.10']}.")
    return {**claim, **judged, "secondary": subs, "summary": finding[:-1], "finding": finding, "measured": measured,
            "rule": RULES}


# ----------------------------------------------------------------------------- report


def figures(plt, data: Data, c: dict, out: Path) -> list[str]:
    from mrd_bench.reproduce.figures import forest

    m = c["measured"]
    rows = [("AUC − 0.5, hard vs easy", {"value": m["auc"]["auc"] - 0.5,
                                          "ci": [m["auc"]["ci"][0] - 0.5, m["auc"]["ci"][1] - 0.5]})]
    rows += [(f"depth: {name} (Cliff's δ)", {"value": d["delta"], "ci": d["ci"]}) for name, d in m["depth"].items()]
    forest(plt, rows, "value", "hard against easy samples (95% CI; 0 = no difference)", out / "cud.png")
    return ["cud.png"]


def tables(c: dict) -> list[str]:
    m = c["measured"]
    return ["", "![CUD: separation and depth statistics](cud.png)", "",
            f"Labels: {m['n_labelled']} of {m['n']} samples; agreement of the runs' calls, Fleiss' κ = "
            f"{m['fleiss_kappa']['kappa']:.2f} [{m['fleiss_kappa']['ci'][0]:.2f}, "
            f"{m['fleiss_kappa']['ci'][1]:.2f}]; a decisive AUC test at the observed AUC needs about "
            f"{m['n_for_decisive_auc']} labelled samples."]
