"""The study's compute stages, in the order they run. Each writes files into its folder
(under a subfolder named by its key, so results of other settings stay on disk) and
resumes from what it streamed there: per seed for scores, per sample for trajectories.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from tqdm.auto import tqdm

from mrd_bench.io import drop_torn_tail, read_json, write_json
from mrd_bench.reproduce.study import Context, Stage, key_hash


def _setting(ctx: Context) -> dict:
    s = ctx.study
    return {"model": s.model, "benchmark": s.benchmark, "authors": s.authors, "forget_authors": s.forget_authors,
            "finetune_lr": s.finetune_lr, "finetune_epochs": s.finetune_epochs}


# ----------------------------------------------------------------------------- original


def _finetune_args(ctx: Context):
    from mrd_bench.methods.loop import LoopConfig
    from mrd_bench.unlearn import Inputs, Settings

    s = ctx.study
    return (Inputs(model=s.model, benchmark="tofu", forget="full", subset_authors=None if s.authors == 200
                   else s.authors), Settings(), LoopConfig(lr=s.finetune_lr, epochs=s.finetune_epochs, batch_size=8,
                                                            seed=0))


def run_original(ctx: Context, folder: Path) -> dict:
    """Fine-tune the base model on the authors (TOFU's protocol: the original knows them all)."""
    from mrd_bench.unlearn import RECORD, run_finetune

    inputs, settings, loop = _finetune_args(ctx)
    record_path = ctx.original / RECORD
    if record_path.is_file():  # a finished fine-tune of these inputs: adopt it
        rec = read_json(record_path)
        if rec["inputs"] == asdict(inputs) and rec["loop"] == asdict(loop):
            return {"model_hash": rec["model_hash"], "earlier_wall_s": rec["wall_time_s"], "adopted": True}
    _, rec = run_finetune(inputs, settings, loop, ctx.original, overwrite=record_path.is_file(),
                          progress=ctx.progress)
    return {"model_hash": rec["model_hash"], "steps": rec["steps"], "final_loss": rec["losses"][-1]}


# ----------------------------------------------------------------------------- baselines


def run_baselines(ctx: Context, folder: Path) -> dict:
    """Per forget sample: answer NLL, probability, Min-K% Prob, gradient norm, token count, and the
    text characteristics of the sample (features.py); MA of the holdout = the forgetting threshold."""
    import math

    import torch

    from mrd_bench.methods.stopping import Memorization, mean
    from mrd_bench.metrics.min_k import min_k_score
    from mrd_bench.models import collate
    from mrd_bench.reproduce.features import characteristics
    from mrd_bench.scorers import baselines
    from mrd_bench.scorers.base import scored_logprobs

    model, tok = ctx.load_original()
    forget = ctx.splits["forget"]
    items = ctx.encode(tok, forget)
    device = next(model.parameters()).device
    pad = getattr(model.config, "pad_token_id", None) or 0
    rows = []
    for item, sid in zip(tqdm(items, desc="baselines", unit="sample", disable=not ctx.progress), forget["sample_id"]):
        with torch.no_grad():
            batch = {k: v.to(device) for k, v in collate([item], pad).items()}
            logp = scored_logprobs(model, batch).double().cpu()
        nll = float(-logp.mean())
        rows.append({"sample_id": sid, "nll": nll, "prob": math.exp(-nll), "min_k": min_k_score(logp.tolist(),
                     baselines.MIN_K), "n_tokens": int(logp.numel())})
    norms = baselines.grad_norms(model, items, device, progress=ctx.progress)
    train = ctx.splits["train"]
    feats = characteristics(forget["question"], forget["answer"],
                            [f"{q} {a}" for q, a in zip(train["question"], train["answer"])])
    for j, row in enumerate(rows):
        row["grad_norm"] = norms[j]
        row.update({name: values[j] for name, values in feats.items()})
    holdout = ctx.splits["holdout"]
    threshold = mean(Memorization().ma(model, ctx.encode(tok, holdout)))
    forget_ma = Memorization().ma(model, items)
    for row, ma in zip(rows, forget_ma):
        row["ma"] = ma
    write_json(folder / "baselines.json", {"threshold_ma": threshold, "threshold_split": ctx.splits["holdout_split"],
                                           "rows": rows})
    return {"threshold_ma": threshold, "samples": len(rows), "mean_forget_ma": sum(forget_ma) / len(forget_ma)}


# ----------------------------------------------------------------------------- MRD


def run_definition(ctx: Context, folder: Path) -> dict:
    """`definition` per token: `pairs` antithetic pairs for each of `seeds` seeds (token_mrd.py)."""
    from mrd_bench.reproduce.token_mrd import token_draws

    s = ctx.study
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


def _estimator(name: str):
    def run(ctx: Context, folder: Path) -> dict:
        from mrd_bench.scorers.runner import ScoreConfig, score_items

        s = ctx.study
        model, tok = ctx.load_original()
        forget = ctx.splits["forget"]
        items = ctx.encode(tok, forget)
        sigma, draws = (s.alg1_sigma, s.alg1_draws) if name == "alg1" else (s.sigma, s.hutchinson_draws)
        for seed in range(s.seeds):
            path = folder / f"seed-{seed}.json"
            cfg = ScoreConfig(estimator=name, sigma=sigma, draws=draws, seed=seed, eps=s.eps,
                              batch_size=s.batch_size, baselines=False)
            if path.is_file() and read_json(path)["key"] == cfg.describe():
                continue
            rows, values = score_items(model, items, list(forget["sample_id"]), [""] * len(items), cfg,
                                       progress=ctx.progress)
            write_json(path, {"key": cfg.describe(), "scores": [r["score"] for r in rows],
                              "sample_id": list(forget["sample_id"]), "values": values.tolist()})
        return {"seeds": s.seeds, "draws": draws, "sigma": sigma}

    return run


# ----------------------------------------------------------------------------- sensitivity


SIGMAS = {"definition": (1e-5, 3e-5, 3e-4, 1e-3), "alg1": (3e-6, 3e-5, 1e-4)}


def run_sensitivity(ctx: Context, folder: Path) -> dict:
    """MRD against σ (definition, alg1; hutchinson's σ only scales it) on a seeded subset, and the
    batch-size check: the same draws at batch 1 and at the scoring batch, in float32 and float64."""
    import copy
    import random

    from mrd_bench.reproduce.token_mrd import token_draws
    from mrd_bench.scorers.runner import ScoreConfig, score_items

    s = ctx.study
    model, tok = ctx.load_original()
    forget = ctx.splits["forget"]
    pick = sorted(random.Random(0).sample(range(len(forget)), min(s.sensitivity_samples, len(forget))))
    encoded = ctx.encode(tok, forget)
    items = [encoded[i] for i in pick]
    ids = [forget["sample_id"][i] for i in pick]
    out_path = folder / "sensitivity.json"
    result = read_json(out_path) if out_path.is_file() else {"sample_id": ids, "runs": {}}
    if result["sample_id"] != ids:
        result = {"sample_id": ids, "runs": {}}

    def keep(name: str, make) -> None:
        if name not in result["runs"]:
            result["runs"][name] = make()
            write_json(out_path, result)

    for sigma in SIGMAS["definition"]:
        keep(f"definition/sigma={sigma:g}", lambda: [d.mrd(s.eps) for d in token_draws(
            model, items, sigma=sigma, seed=0, pairs=s.pairs, batch_size=s.batch_size, progress=ctx.progress,
            desc=f"σ = {sigma:g}")])
    for sigma in SIGMAS["alg1"]:
        cfg = ScoreConfig(estimator="alg1", sigma=sigma, draws=s.alg1_draws, seed=0, eps=s.eps,
                          batch_size=s.batch_size, baselines=False)
        keep(f"alg1/sigma={sigma:g}", lambda: [r["score"] for r in score_items(
            model, items, ids, [""] * len(items), cfg, progress=ctx.progress)[0]])
    wide = copy.deepcopy(model).double()
    for dtype, m in (("float32", model), ("float64", wide)):
        for batch in (1, s.batch_size):
            keep(f"batch/{dtype}/batch={batch}", lambda: [d.mrd(s.eps) for d in token_draws(
                m, items, sigma=s.sigma, seed=0, pairs=2, batch_size=batch, progress=ctx.progress,
                desc=f"{dtype}, batch {batch}")])
    del wide
    return {"samples": len(ids), "runs": sorted(result["runs"])}


# ----------------------------------------------------------------------------- updates to forget


def _updates(method_name: str):
    def run(ctx: Context, folder: Path) -> dict:
        from mrd_bench.reproduce.trajectories import Budget, trajectory
        from mrd_bench.unlearn import Settings

        s = ctx.study
        threshold = read_json(ctx.work / "baselines" / "baselines.json")["threshold_ma"]
        budget = Budget(lr=s.updates_lr_for(method_name), max_updates=s.max_updates, horizon=s.horizon,
                        threshold_ma=threshold)
        model, tok = ctx.load_original()
        original = {k: v.detach().clone() for k, v in model.state_dict().items()}
        method = Settings(method=method_name).build_method()
        forget = ctx.splits["forget"]
        items = ctx.encode(tok, forget)
        retain = ctx.encode(tok, ctx.splits["retain"]) if method.retain == "required" else None
        sink_path = folder / "rows.jsonl"
        key = {**asdict(budget), "method": method_name}
        marker = folder / "rows.key.json"
        if marker.is_file() and read_json(marker) != key and sink_path.is_file():
            os.replace(sink_path, folder / f"rows.{key_hash(read_json(marker))[:12]}.jsonl")
        write_json(marker, key)
        drop_torn_tail(sink_path)
        done = {}
        if sink_path.is_file():
            for line in sink_path.read_text().splitlines():
                row = json.loads(line)
                done[row["sample_id"]] = row
        ids = forget["sample_id"]
        with open(sink_path, "a", encoding="utf-8") as sink:
            for j in tqdm(range(len(items)), desc=f"updates to forget ({method_name})", unit="sample",
                          disable=not ctx.progress, initial=0):
                if ids[j] in done:
                    continue
                row = {"sample_id": ids[j], **trajectory(model, original, items[j], method, budget, index=j,
                                                         retain=retain)}
                sink.write(json.dumps(row) + "\n")
                sink.flush()
                os.fsync(sink.fileno())
                done[ids[j]] = row
        censored = sum(done[i]["censored"] for i in ids)
        return {"samples": len(ids), "censored": censored, "threshold_ma": threshold, "lr": budget.lr}

    return run


# ----------------------------------------------------------------------------- claim 1: variance


def _read_runs(path: Path) -> dict:
    drop_torn_tail(path)
    runs = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            runs[row["run"]] = row
    return runs


def _keyed_runs(folder: Path, key: dict) -> tuple[Path, dict]:
    """runs.jsonl of the settings `key`, and the runs it holds: a file written under other settings
    is moved aside (runs.<its key>.jsonl), never mixed in."""
    path, marker = folder / "runs.jsonl", folder / "runs.key.json"
    old = read_json(marker) if marker.is_file() else None
    if old != key and path.is_file():
        os.replace(path, folder / f"runs.{key_hash(old)[:12] if old is not None else 'unkeyed'}.jsonl")
    write_json(marker, key)
    return path, _read_runs(path)


def _append(path: Path, row: dict) -> None:
    with open(path, "a", encoding="utf-8") as sink:
        sink.write(json.dumps(row) + "\n")
        sink.flush()
        os.fsync(sink.fileno())


def _value(results: dict, task: str, metric: str) -> float:
    return float(results[task][f"{metric},none"])


def _subset(subset: int, n_items: int, size: int) -> list[int]:
    """The indices of random forget subset `subset` (the same draw in both variance stages)."""
    import random

    return sorted(random.Random(subset).sample(range(n_items), min(size, n_items)))


def _variance_key(c: Context) -> dict:
    return {**_setting(c), **{k: getattr(c.study, k) for k in ("variance_subsets", "variance_size", "variance_steps",
                                                               "variance_lr")}}


def _variance_noise_key(c: Context) -> dict:
    return {**_variance_key(c), "seeds": c.study.seeds, "variance_noise_subsets": c.study.variance_noise_subsets}


def _variance_runs(ctx: Context, folder: Path, key: dict, todo: list[tuple[str, str, int, int]], desc: str) -> dict:
    """Runs (name, method, subset, training seed): unlearn the subset, then retain, real-author and
    world-fact utility through the lm-eval tasks; one row per run in runs.jsonl (resumes per run)."""
    import time

    from mrd_bench.reproduce.study import RETAIN
    from mrd_bench.reproduce.unlearning import evaluate_model, unlearn

    s = ctx.study
    model, tok = ctx.load_original()
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    forget = ctx.splits["forget"]
    items = ctx.encode(tok, forget)
    retain = ctx.encode(tok, ctx.splits["retain"])
    path, done = _keyed_runs(folder, key)
    tasks = ["tofu_retain_qa_prob", "tofu_real_authors_prob", "tofu_world_facts_prob"]
    metadata = {"retain_split": RETAIN[s.forget_authors], "subset_authors": s.authors}
    for name, method, subset, seed in tqdm(todo, desc=desc, unit="run", disable=not ctx.progress):
        if name in done:
            continue
        started = time.perf_counter()
        pick = _subset(subset, len(items), s.variance_size)
        model, result = unlearn(model, original, [items[i] for i in pick], method, "uniform", steps=s.variance_steps,
                                lr=s.variance_lr, seed=seed, retain=retain)
        results = evaluate_model(model, tok, folder / ".model", folder / "eval" / name.replace("/", "_"), tasks,
                                 metadata, device=s.torch_device)
        _append(path, {"run": name, "method": method, "subset": subset, "seed": seed,
                       "sample_id": [forget["sample_id"][i] for i in pick],
                       "retain_prob": _value(results, "tofu_retain_qa_prob", "prob"),
                       "real_authors_prob": _value(results, "tofu_real_authors_prob", "prob"),
                       "world_facts_prob": _value(results, "tofu_world_facts_prob", "prob"),
                       "real_authors_truth_ratio": _value(results, "tofu_real_authors_prob", "truth_ratio"),
                       "world_facts_truth_ratio": _value(results, "tofu_world_facts_prob", "truth_ratio"),
                       "final_loss": result.losses[-1], "wall_s": time.perf_counter() - started})
    return {"runs": len(todo)}


def run_variance(ctx: Context, folder: Path) -> dict:
    """Random forget subsets of equal size, each unlearned by GradDiff and by NPO (seed = the subset's
    index), then retain, real-author and world-fact utility through the lm-eval tasks."""
    todo = [(f"{method}/subset-{subset}", method, subset, subset)
            for subset in range(ctx.study.variance_subsets) for method in ("graddiff", "npo")]
    return _variance_runs(ctx, folder, _variance_key(ctx), todo, "forget subsets x methods")


def noise_seeds(subset: int, seeds: int) -> list[int]:
    """The extra training seeds of a subset in the seed-noise runs; with the variance stage's own
    run (seed = the subset's index) the subset has `seeds` runs per method."""
    return [subset + 100 * j for j in range(1, seeds)]


def run_variance_noise(ctx: Context, folder: Path) -> dict:
    """The first subsets again, each with more training seeds (batch order), so that the spread over
    subsets can be set against the spread that the seed alone makes (claim 1)."""
    s = ctx.study
    todo = [(f"{method}/subset-{subset}/seed-{seed}", method, subset, seed)
            for subset in range(min(s.variance_noise_subsets, s.variance_subsets))
            for seed in noise_seeds(subset, s.seeds) for method in ("graddiff", "npo")]
    return _variance_runs(ctx, folder, _variance_noise_key(ctx), todo, "seed-noise runs")


# ----------------------------------------------------------------------------- claim 4: sampling


def pairs(methods: list[str]) -> list[tuple[str, str]]:
    """(method, sampler) runs: each method with the uniform sampler and its MRD-weighted version (GA's is CGA)."""
    return [run for m in methods for run in ((m, "uniform"), ("cga" if m == "ga" else m, "mrd"))]


def _sampling_key(c: Context) -> dict:
    return {**_setting(c), **{k: getattr(c.study, k) for k in ("seeds", "sampling_forget_authors", "sampling_steps",
                                                               "sampling_lr", "sampling_lr_by_method",
                                                               "sampling_max_updates", "sampling_patience",
                                                               "sampling_methods",
                                                               "sampling_check_every", "sigma", "pairs")}}


def run_sampling(ctx: Context, folder: Path) -> dict:
    """Each method with the uniform and the MRD-weighted sampler, every seed, at an equal budget of
    updates: forget UA, probability, Min-K% MIA AUC and ROUGE-L (stratified by the study's MRD),
    retain utility; and the update at which the forget set's MA first fell below the threshold (a run
    not there at the budget trains on, unevaluated, until it is or the cap)."""
    import shutil
    import time

    from mrd_bench.annotate import annotate
    from mrd_bench.data.tofu import AUTHOR_SIZE
    from mrd_bench.methods.stopping import Memorization, mean, plateaued
    from mrd_bench.pipeline import write_scores
    from mrd_bench.reproduce.claims import Data
    from mrd_bench.reproduce.study import FORGET, HOLDOUT, RETAIN
    from mrd_bench.report.stratify import quantile_edges
    from mrd_bench.data import load
    from mrd_bench.reproduce.unlearning import evaluate_model, unlearn
    from mrd_bench.unlearn import Settings, refusal_items

    s = ctx.study
    model, tok = ctx.load_original()
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    pool = ctx.splits["forget"]
    n = s.sampling_forget_authors * AUTHOR_SIZE
    forget = pool.select(range(len(pool) - n, len(pool)))  # the last authors: TOFU's own forget split
    items = ctx.encode(tok, forget)
    data = Data(ctx.work, s)
    by_id = dict(zip(data.ids, data.mrd()))
    scores = [by_id[i] for i in forget["sample_id"]]
    rows = [{"sample_id": i, "score": v} for i, v in zip(forget["sample_id"], scores)]
    write_scores(folder / "scores.jsonl", rows, quantile_edges(scores, 3),
                 {"estimator": "definition", "source": "reproduce/mrd_definition (every draw of every seed)"})
    annotation = annotate(folder / "scores.jsonl", list(forget["sample_id"]), folder / "annotation.json",
                          overwrite=True, source={"benchmark": "tofu", "split": FORGET[s.sampling_forget_authors]})
    holdout = load("tofu", HOLDOUT[s.sampling_forget_authors])
    threshold = mean(Memorization().ma(model, ctx.encode(tok, holdout)))
    retain = ctx.encode(tok, ctx.splits["retain"])
    refusals = refusal_items(tok, forget, "tofu", Settings(method="po"))
    tasks = ["tofu_forget_mrd_mia", "tofu_forget_mrd_rouge", "tofu_retain_qa_prob"]
    metadata = {"split": FORGET[s.sampling_forget_authors], "difficulty": str(annotation),
                "retain_split": RETAIN[s.forget_authors], "subset_authors": s.authors}
    path, done = _keyed_runs(folder, _sampling_key(ctx))
    todo = [(seed, method, sampler) for seed in range(s.seeds) for method, sampler in pairs(s.sampling_list)]
    for seed, method, sampler in tqdm(todo, desc="methods x samplers x seeds", unit="run", disable=not ctx.progress):
        name = f"{method}+{sampler}/seed-{seed}"
        if name in done:
            continue
        started = time.perf_counter()
        state = folder / ".state" / name.replace("/", "_")
        shutil.rmtree(state, ignore_errors=True)  # a killed run starts over

        def run(steps: int, stop_early: bool):
            return unlearn(model, original, items, method, sampler, steps=steps, lr=s.sampling_lr_for(method),
                           seed=seed, retain=retain, refusals=refusals if method == "po" else None, scores=scores,
                           threshold_ma=threshold, check_every=s.sampling_check_every, eos_id=tok.eos_token_id,
                           state=state, stop_early=stop_early, plateau=s.sampling_patience)

        model, result = run(s.sampling_steps, False)
        results = evaluate_model(model, tok, folder / ".model", folder / "eval" / name.replace("/", "_"), tasks,
                                 metadata, device=s.torch_device)
        steps, plateau_at = result.steps, None
        if result.updates_to_threshold is None and plateaued(result.checks, s.sampling_patience):
            plateau_at = result.steps  # settled above the threshold already within the budget
        elif result.updates_to_threshold is None and s.sampling_max_updates > s.sampling_steps:
            model, result = run(s.sampling_max_updates, True)  # goes on from the budget's state
            plateau_at = result.plateau_at
        shutil.rmtree(state, ignore_errors=True)
        row = {"run": name, "method": method, "sampler": sampler, "seed": seed, "lr": s.sampling_lr_for(method),
               "steps": steps, "trained": result.steps, "updates_to_threshold": result.updates_to_threshold,
               "plateau_at": plateau_at, "checks": result.checks, "wall_s": time.perf_counter() - started}
        for metric in ("ua", "prob", "min_k_auc", "ua_easy", "ua_hard"):
            row[f"forget_{metric}"] = _value(results, "tofu_forget_mrd_mia", metric)
        row["forget_rougeL"] = _value(results, "tofu_forget_mrd_rouge", "rougeL_recall")
        row["retain_prob"] = _value(results, "tofu_retain_qa_prob", "prob")
        _append(path, row)
    shutil.rmtree(folder / ".state", ignore_errors=True)
    return {"runs": len(todo), "threshold_ma": threshold, "forget": FORGET[s.sampling_forget_authors]}


# ----------------------------------------------------------------------------- claim 6: CUD


def run_cud_labels(ctx: Context, folder: Path) -> dict:
    """The reference unlearners each unlearn the forget set from the original model; their
    post-unlearning answer losses vote easy and hard (resumes per method)."""
    from mrd_bench.cud_labels import LabelConfig, make_labels
    from mrd_bench.models import weights_hash
    from mrd_bench.reproduce.claims import Data
    from mrd_bench.unlearn import Settings, refusal_items

    s = ctx.study
    model, tok = ctx.load_original()
    model_hash = weights_hash(model)
    forget = ctx.splits["forget"]
    ids = list(forget["sample_id"])
    data = Data(ctx.work, s)
    by_id = dict(zip(data.ids, data.mrd()))
    cfg = LabelConfig(methods=s.cud_label_methods, steps=s.cud_label_steps, lr=s.cud_label_lr, q=s.cud_label_q,
                      min_votes=min(3, len(s.cud_label_methods.split(","))), seed=0)
    path = folder / "losses.jsonl"
    drop_torn_tail(path)
    done = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            done[row["method"]] = row["losses"]

    def keep(method, losses):
        _append(path, {"method": method, "losses": losses})

    result = make_labels(model, ctx.encode(tok, forget), ids, cfg, retain=ctx.encode(tok, ctx.splits["retain"]),
                         refusals=refusal_items(tok, forget, "tofu", Settings(method="po")),
                         scores=[by_id[i] for i in ids], progress=ctx.progress, done=done, on_method=keep)
    write_json(folder / "labels.json", {**result, "model_hash": model_hash})
    return {"n_easy": result["n_easy"], "n_hard": result["n_hard"],
            "fleiss_kappa": result["agreement"]["fleiss_kappa"]}


def run_cud(ctx: Context, folder: Path) -> dict:
    """EAP-IG attribution of every forget sample on the original model, then cross-fitted CUD."""
    import shutil

    from mrd_bench.data.source import prompt_and_target
    from mrd_bench.errors import OutputExistsError
    from mrd_bench.provenance import record
    from mrd_bench.scorers.corrupt import corrupt, entity_pool
    from mrd_bench.scorers.cud_run import CudConfig, score_cud_to_file

    s = ctx.study
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
            ctx.work / "cud_labels" / "labels.json", cfg, out)
    meta = record(benchmark="tofu", split="forget (study)", model=str(ctx.original))
    try:
        score_cud_to_file(*args, meta=meta, progress=ctx.progress)
    except OutputExistsError:  # a partial run of other settings
        shutil.rmtree(folder / "cud.jsonl.partial")
        score_cud_to_file(*args, meta=meta, progress=ctx.progress)
    return {"corrupt": sum(m[0] is not None for m in made), "n": len(items)}


def _updates_stage(m: str) -> Stage:
    return Stage(f"updates_{m}", f"updates to forget each sample alone with {m} (and the loss/MA curves)",
                 lambda c: {**_setting(c), "method": m, "lr": c.study.updates_lr_for(m), "max": c.study.max_updates,
                            "horizon": c.study.horizon}, _updates(m))


def _estimator_stage(name: str) -> Stage:
    def key(c: Context) -> dict:
        sigma, draws = ((c.study.alg1_sigma, c.study.alg1_draws) if name == "alg1"
                        else (c.study.sigma, c.study.hutchinson_draws))
        return {**_setting(c), "sigma": sigma, "draws": draws, "seeds": c.study.seeds, "eps": c.study.eps}

    return Stage(f"mrd_{name}", f"MRD, {name} estimator, every seed", key, _estimator(name))


# The order the stages run in: on a CPU the core claim (MRD against GA and NPO) and the
# sensitivity checks come first, the costlier runs after.
STAGES = [
    Stage("original", "fine-tune the base model on the study's authors (the original model)",
          lambda c: _setting(c), run_original),
    Stage("baselines", "per-sample NLL, Min-K%, gradient norm, length, text characteristics; the MA threshold",
          lambda c: {**_setting(c), "v": 1}, run_baselines),
    Stage("mrd_definition", "MRD, definition estimator, per token, every seed",
          lambda c: {**_setting(c), "sigma": c.study.sigma, "pairs": c.study.pairs, "seeds": c.study.seeds,
                     "batch_size": c.study.batch_size}, run_definition),
    _updates_stage("ga"),
    Stage("sensitivity", "MRD against σ and batch size (float32 and float64) on a subset",
          lambda c: {**_setting(c), "n": c.study.sensitivity_samples, "pairs": c.study.pairs,
                     "alg1_draws": c.study.alg1_draws, "sigma": c.study.sigma}, run_sensitivity),
    _updates_stage("npo"),
    _estimator_stage("alg1"),
    Stage("cud_labels", "easy/hard labels from the reference unlearners' post-unlearning losses (claim 6)",
          lambda c: {**_setting(c), **{k: getattr(c.study, k) for k in ("cud_label_methods", "cud_label_steps",
                                                                       "cud_label_lr", "cud_label_q", "sigma",
                                                                       "pairs", "seeds")}},
          run_cud_labels),
    Stage("cud", "CUD: EAP-IG circuits of every forget sample, cross-fitted anchors (claim 6)",
          lambda c: {**_setting(c), **{k: getattr(c.study, k) for k in ("cud_label_methods", "cud_label_steps",
                                                                       "cud_label_lr", "cud_label_q", "cud_baseline",
                                                                       "cud_steps", "cud_top_edges", "cud_folds")},
                     "v": 2},  # 2: zero-ablation points avoid α = 0; entity names without "'s" or the opening word
          run_cud),
    _updates_stage("graddiff"),
    _estimator_stage("hutchinson"),
    Stage("variance", "random forget subsets unlearned by GradDiff and NPO; utility of each (claim 1)",
          _variance_key, run_variance),
    Stage("variance_noise", "the first forget subsets again with more training seeds: the seed's own spread (claim 1)",
          _variance_noise_key, run_variance_noise),
    Stage("sampling", "each method with the uniform and the MRD-weighted sampler, every seed (claim 4)",
          _sampling_key, run_sampling),
]
