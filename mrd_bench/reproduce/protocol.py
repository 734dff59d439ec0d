"""The MRD paper's protocol for claims 1 and 4: unlearn until the forget set's memorisation
accuracy (MA) falls below the threshold (the mean MA of TOFU's never-trained holdout on the
original model), with a learning rate per method calibrated first so that at least 80% of runs
get there within the update budget.

- `calibrate`: per method, a rising grid of rates (×2 from the method's start); at each rate,
  `calibrate_runs` random forget subsets (seeds 1000+, apart from the study's subsets) are
  unlearned until the threshold; the first rate at which the share that reached it is at least
  `calibrate_reach` is the method's rate. A run whose MA settles above the threshold stops after
  `protocol_patience` checks without a lower MA (censored).
- `subsets` (claim 1): random forget subsets, each unlearned by GradDiff and by NPO with several
  training seeds, then utility through the lm-eval tasks; the seeds give the seed's own spread
  within every subset.
- `samplers` (claim 4): TOFU's forget01 unlearned by every method with the uniform sampler and
  with samplers weighted by MRD, by answer length and by answer NLL (the same weighting,
  p ∝ score with a uniform floor; GA with the MRD weights is CGA), every seed, until the
  threshold; then forget and retain metrics through the lm-eval tasks.

Every run stops at the study's threshold (the mean MA of the holdout beside the whole forget
set), the one the calibration used: forget01's own holdout (40 questions) would give a noisier
estimate of the same quantity and a rate calibrated for another target.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

from tqdm.auto import tqdm

from mrd_bench.io import append_jsonl, read_json, write_json
from mrd_bench.reproduce import common
from mrd_bench.reproduce.study import Context

ARMS = {"uniform": "uniform sampling", "mrd": "p ∝ MRD (the paper's; CGA for GA)",
        "length": "p ∝ answer tokens", "nll": "p ∝ answer NLL"}
UTILITY_TASKS = ["tofu_retain_qa_prob", "tofu_real_authors_prob", "tofu_world_facts_prob"]
SAMPLER_TASKS = ["tofu_forget_mrd_mia", "tofu_retain_qa_prob"]


def until_threshold(model, original, items, method: str, sampler: str, *, lr: float, seed: int, threshold: float,
                    study, eos_id, retain=None, refusals=None, scores=None):
    """Unlearn from `original` until MA < threshold, or the budget, or MA settles (then censored)."""
    from mrd_bench.reproduce.unlearning import unlearn

    model, result = unlearn(model, original, items, method, sampler, steps=study.protocol_max_updates, lr=lr,
                            seed=seed, retain=retain, refusals=refusals if method == "po" else None, scores=scores,
                            threshold_ma=threshold, check_every=study.protocol_check_every, eos_id=eos_id,
                            stop_early=True, plateau=study.protocol_patience)
    reached = result.updates_to_threshold is not None
    return model, {"updates": result.updates_to_threshold if reached else result.steps, "censored": not reached,
                   "trained": result.steps, "forget_ma": result.checks[-1]["ma"] if result.checks else math.nan,
                   "checks": result.checks, "final_loss": result.losses[-1] if result.losses else math.nan}


def _threshold(ctx: Context) -> float:
    return read_json(ctx.work / "baselines" / "baselines.json")["threshold_ma"]


def _inputs(ctx: Context, forget):
    from mrd_bench.unlearn import Settings, refusal_items

    model, tok = ctx.load_original()
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    items = ctx.encode(tok, forget)
    retain = ctx.encode(tok, ctx.splits["retain"])
    refusals = refusal_items(tok, forget, "tofu", Settings(method="po"))
    return model, tok, original, items, retain, refusals


def protocol_methods(study) -> list[str]:
    return sorted(set(study.sampling_list) | {"graddiff", "npo"}, key=["ga", "graddiff", "npo", "po"].index)


# ----------------------------------------------------------------------------- calibration


def calibrate_key(c: Context) -> dict:
    return {**common.setting(c), **{k: getattr(c.study, k) for k in (
        "calibrate_start", "calibrate_runs", "calibrate_levels", "calibrate_reach", "variance_size",
        "protocol_max_updates", "protocol_check_every", "protocol_patience", "sampling_methods")}}


def run_calibrate(ctx: Context, folder: Path) -> dict:
    s = ctx.study
    threshold = _threshold(ctx)
    forget = ctx.splits["forget"]
    model, tok, original, items, retain, refusals = _inputs(ctx, forget)
    path, done = common.keyed_runs(folder, calibrate_key(ctx))
    chosen, levels = {}, {}
    allowed_misses = math.floor((1 - s.calibrate_reach) * s.calibrate_runs + 1e-9)
    for method in tqdm(protocol_methods(s), desc="calibrating learning rates", unit="method",
                       disable=not ctx.progress):
        lr = s.calibrate_start_for(method)
        for level in range(s.calibrate_levels):
            misses, runs = 0, []
            for c in range(s.calibrate_runs):
                name = f"{method}/lr-{lr:.3g}/run-{c}"
                if name not in done:
                    pick = common.subset(1000 + c, len(items), s.variance_size)
                    started = time.perf_counter()
                    model, out = until_threshold(model, original, [items[i] for i in pick], method, "uniform", lr=lr,
                                                 seed=1000 + c, threshold=threshold, study=s, eos_id=tok.eos_token_id,
                                                 retain=retain, refusals=[refusals[i] for i in pick])
                    done[name] = {"run": name, "method": method, "lr": lr, "level": level, "calibration_run": c,
                                  **out, "wall_s": time.perf_counter() - started}
                    append_jsonl(path, done[name])
                runs.append(done[name])
                misses += done[name]["censored"]
                if misses > allowed_misses:
                    break  # this rate cannot reach the share any more
            levels.setdefault(method, []).append({"lr": lr, "reached": sum(not r["censored"] for r in runs),
                                                  "runs": len(runs)})
            if misses <= allowed_misses:
                chosen[method] = lr
                break
            lr *= 2
    result = {"threshold_ma": threshold, "lr": chosen, "levels": levels,
              "uncalibrated": [m for m in protocol_methods(s) if m not in chosen]}
    write_json(folder / "calibration.json", result)
    return result


def calibrated_lr(ctx: Context, method: str) -> float:
    """The calibrated rate of `method` (GA's for CGA); the highest rate tried if none reached the share."""
    cal = read_json(ctx.work / "calibrate" / "calibration.json")
    base = "ga" if method == "cga" else method
    return cal["lr"].get(base) or max(level["lr"] for level in cal["levels"][base])


# ----------------------------------------------------------------------------- claim 1: subsets


def subsets_key(c: Context) -> dict:
    return {**calibrate_key(c), **{k: getattr(c.study, k) for k in ("variance_subsets", "variance_seeds")}}


def subset_seed(subset: int, r: int) -> int:
    return 100 * subset + r


def run_subsets(ctx: Context, folder: Path) -> dict:
    from mrd_bench.reproduce.study import RETAIN
    from mrd_bench.reproduce.unlearning import evaluate_model

    s = ctx.study
    threshold = _threshold(ctx)
    forget = ctx.splits["forget"]
    model, tok, original, items, retain, _ = _inputs(ctx, forget)
    path, done = common.keyed_runs(folder, subsets_key(ctx))
    metadata = {"retain_split": RETAIN[s.forget_authors], "subset_authors": s.authors}
    todo = [(method, k, subset_seed(k, r)) for k in range(s.variance_subsets) for r in range(s.variance_seeds)
            for method in ("graddiff", "npo")]
    for method, k, seed in tqdm(todo, desc="forget subsets x seeds x methods", unit="run", disable=not ctx.progress):
        name = f"{method}/subset-{k}/seed-{seed}"
        if name in done:
            continue
        started = time.perf_counter()
        pick = common.subset(k, len(items), s.variance_size)
        lr = calibrated_lr(ctx, method)
        model, out = until_threshold(model, original, [items[i] for i in pick], method, "uniform", lr=lr, seed=seed,
                                     threshold=threshold, study=s, eos_id=tok.eos_token_id, retain=retain)
        results = evaluate_model(model, tok, folder / ".model", folder / "eval" / name.replace("/", "_"),
                                 UTILITY_TASKS, metadata, device=s.torch_device)
        append_jsonl(path, {"run": name, "method": method, "subset": k, "seed": seed, "lr": lr,
                       "sample_id": [forget["sample_id"][i] for i in pick], **out,
                       "retain_prob": common.value(results, "tofu_retain_qa_prob", "prob"),
                       "real_authors_prob": common.value(results, "tofu_real_authors_prob", "prob"),
                       "world_facts_prob": common.value(results, "tofu_world_facts_prob", "prob"),
                       "wall_s": time.perf_counter() - started})
    return {"runs": len(todo), "threshold_ma": threshold}


# ----------------------------------------------------------------------------- claim 4: samplers


def samplers_key(c: Context) -> dict:
    return {**calibrate_key(c), **{k: getattr(c.study, k) for k in ("sampling_forget_authors", "sampling_seeds",
                                                                     "sampling_arms", "sigma", "pairs", "seeds")}}


def arm_run(method: str, arm: str) -> tuple[str, str]:
    """(method, sampler) of an arm: GA weighted by MRD is CGA; every weighted arm uses the mrd sampler."""
    if arm == "uniform":
        return method, "uniform"
    return ("cga" if method == "ga" and arm == "mrd" else method), "mrd"


def run_samplers(ctx: Context, folder: Path) -> dict:
    from mrd_bench.annotate import annotate
    from mrd_bench.data.tofu import AUTHOR_SIZE
    from mrd_bench.pipeline import write_scores
    from mrd_bench.report.stratify import quantile_edges
    import tempfile

    from mrd_bench.reproduce.data import Data, export
    from mrd_bench.reproduce.study import FORGET, RETAIN
    from mrd_bench.reproduce.unlearning import evaluate_model

    s = ctx.study
    pool = ctx.splits["forget"]
    n = s.sampling_forget_authors * AUTHOR_SIZE
    forget = pool.select(range(len(pool) - n, len(pool)))  # the last authors: TOFU's own forget split
    model, tok, original, items, retain, refusals = _inputs(ctx, forget)
    with tempfile.TemporaryDirectory() as tmp:  # the signals as the study's data files hold them
        export(ctx.work, s, Path(tmp))
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
    threshold = _threshold(ctx)  # the study's (holdout of the whole forget set): the one calibrated at
    metadata = {"split": FORGET[s.sampling_forget_authors], "difficulty": str(annotation),
                "retain_split": RETAIN[s.forget_authors], "subset_authors": s.authors}
    path, done = common.keyed_runs(folder, samplers_key(ctx))
    todo = [(seed, method, arm) for seed in range(s.sampling_seeds) for method in s.sampling_list
            for arm in s.arm_list]
    for seed, method, arm in tqdm(todo, desc="methods x samplers x seeds", unit="run", disable=not ctx.progress):
        name = f"{method}+{arm}/seed-{seed}"
        if name in done:
            continue
        started = time.perf_counter()
        run_method, sampler = arm_run(method, arm)
        lr = calibrated_lr(ctx, method)
        model, out = until_threshold(model, original, items, run_method, sampler, lr=lr, seed=seed,
                                     threshold=threshold, study=s, eos_id=tok.eos_token_id, retain=retain,
                                     refusals=refusals, scores=signals.get(arm))
        results = evaluate_model(model, tok, folder / ".model", folder / "eval" / name.replace("/", "_"),
                                 SAMPLER_TASKS, metadata, device=s.torch_device)
        row = {"run": name, "method": method, "arm": arm, "run_method": run_method, "sampler": sampler, "seed": seed,
               "lr": lr, **out, "wall_s": time.perf_counter() - started}
        for metric in ("ua", "prob", "min_k_auc"):
            row[f"forget_{metric}"] = common.value(results, "tofu_forget_mrd_mia", metric)
        row["retain_prob"] = common.value(results, "tofu_retain_qa_prob", "prob")
        append_jsonl(path, row)
    return {"runs": len(todo), "threshold_ma": threshold, "forget": FORGET[s.sampling_forget_authors]}
