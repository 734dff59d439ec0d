"""Claim 6's easy and hard labels, from how much each sample's answer loss *rises* under the
reference unlearners (the loss after unlearning minus the same sample's loss before, so a
sample's initial NLL does not decide its label), over several seeds, without CGA (which
samples by MRD and would tie the labels to the signal they judge).

Each (method, seed) run unlearns the whole forget set from the original weights for the same
number of updates; per run, the `cud_label_q` share with the largest increase is called easy and
the same share with the smallest hard; a sample is labelled when more than half of the runs call
it the same. `labels.json` has the format `mrd-bench score --metric cud` reads.
"""
from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from mrd_bench.io import append_jsonl, write_json
from mrd_bench.reproduce import common
from mrd_bench.reproduce.study import Context


def labels_key(c: Context) -> dict:
    return {**common.setting(c), **{k: getattr(c.study, k) for k in ("cud_label_methods", "cud_label_steps", "cud_label_lr",
                                                               "cud_label_q", "label_seeds")}, "measure": "increase"}


def run_labels(ctx: Context, folder: Path) -> dict:
    from mrd_bench.cud_labels import CALLS, answer_losses, tally
    from mrd_bench.models import weights_hash
    from mrd_bench.reproduce.unlearning import unlearn
    from mrd_bench.unlearn import Settings, refusal_items

    s = ctx.study
    model, tok = ctx.load_original()
    model_hash = weights_hash(model)
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    forget = ctx.splits["forget"]
    ids = list(forget["sample_id"])
    items = ctx.encode(tok, forget)
    retain = ctx.encode(tok, ctx.splits["retain"])
    refusals = refusal_items(tok, forget, "tofu", Settings(method="po"))
    before = answer_losses(model, items)
    path, done = common.keyed_runs(folder, labels_key(ctx))
    todo = [(m, seed) for seed in range(s.label_seeds) for m in s.label_methods]
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
