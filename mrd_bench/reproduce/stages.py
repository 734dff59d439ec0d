"""The study's compute stages, in the order they run. Each writes files into its folder
(under a subfolder named by its key, so results of other settings stay on disk) and
resumes from what it streamed there: per seed for scores, per sample for trajectories.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from tqdm.auto import tqdm

from mrd_bench.io import append_jsonl, read_json, write_json
from mrd_bench.reproduce import common
from mrd_bench.reproduce.study import Context, Stage


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
        from mrd_bench.updates import Budget, trajectory
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
        sink_path, done = common.keyed_runs(folder, {**asdict(budget), "method": method_name}, "rows", "sample_id")
        ids = forget["sample_id"]
        for j in tqdm(range(len(items)), desc=f"updates to forget ({method_name})", unit="sample",
                      disable=not ctx.progress, initial=0):
            if ids[j] in done:
                continue
            done[ids[j]] = {"sample_id": ids[j], **trajectory(model, original, items[j], method, budget,
                                                              retain=retain)}
            append_jsonl(sink_path, done[ids[j]])
        censored = sum(done[i]["censored"] for i in ids)
        return {"samples": len(ids), "censored": censored, "threshold_ma": threshold, "lr": budget.lr}

    return run


# ----------------------------------------------------------------------------- claim 1: variance


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
            ctx.work / "labels" / "labels.json", cfg, out)
    meta = record(benchmark="tofu", split="forget (study)", model=str(ctx.original))
    try:
        score_cud_to_file(*args, meta=meta, progress=ctx.progress)
    except OutputExistsError:  # a partial run of other settings
        shutil.rmtree(folder / "cud.jsonl.partial")
        score_cud_to_file(*args, meta=meta, progress=ctx.progress)
    return {"corrupt": sum(m[0] is not None for m in made), "n": len(items)}


def _updates_stage(m: str) -> Stage:
    return Stage(f"updates_{m}", f"updates to forget each sample alone with {m} (and the loss/MA curves)",
                 lambda c: {**common.setting(c), "method": m, "lr": c.study.updates_lr_for(m), "max": c.study.max_updates,
                            "horizon": c.study.horizon}, _updates(m))


def _estimator_stage(name: str) -> Stage:
    def key(c: Context) -> dict:
        sigma, draws = ((c.study.alg1_sigma, c.study.alg1_draws) if name == "alg1"
                        else (c.study.sigma, c.study.hutchinson_draws))
        return {**common.setting(c), "sigma": sigma, "draws": draws, "seeds": c.study.seeds, "eps": c.study.eps}

    return Stage(f"mrd_{name}", f"MRD, {name} estimator, every seed", key, _estimator(name))


def _cud_key(c: Context) -> dict:
    from mrd_bench.reproduce.labels import labels_key

    return {**labels_key(c), **{k: getattr(c.study, k) for k in ("cud_baseline", "cud_steps", "cud_top_edges",
                                                                 "cud_folds")},
            "v": 3}  # 3: anchors from the loss-increase labels of several seeds, without CGA


def _stages() -> list[Stage]:
    from mrd_bench.reproduce import labels, protocol, stability

    return [
        Stage("original", "fine-tune the base model on the study's authors (the original model)",
              lambda c: common.setting(c), run_original),
        Stage("baselines", "per-sample NLL, Min-K%, gradient norm, length, text characteristics; the MA threshold",
              lambda c: {**common.setting(c), "v": 1}, run_baselines),
        Stage("mrd_definition", "MRD, definition estimator, per token, every seed",
              lambda c: {**common.setting(c), "sigma": c.study.sigma, "pairs": c.study.pairs, "seeds": c.study.seeds,
                         "batch_size": c.study.batch_size}, run_definition),
        _updates_stage("ga"),
        Stage("sensitivity", "MRD against σ and batch size (float32 and float64) on a subset",
              lambda c: {**common.setting(c), "n": c.study.sensitivity_samples, "pairs": c.study.pairs,
                         "alg1_draws": c.study.alg1_draws, "sigma": c.study.sigma}, run_sensitivity),
        _updates_stage("npo"),
        _estimator_stage("alg1"),
        _updates_stage("graddiff"),
        _estimator_stage("hutchinson"),
        Stage("stability", "alg1 to K draws at two σ (and twice at one: the control); definition in float32 and "
              "float64 at alg1's σ (claim 5)", stability.stability_key, stability.run_stability),
        Stage("labels", "easy/hard labels from the loss increase under the reference unlearners, every seed (claim 6)",
              labels.labels_key, labels.run_labels),
        Stage("cud", "CUD: EAP-IG circuits of every forget sample, cross-fitted anchors (claim 6)", _cud_key, run_cud),
        Stage("calibrate", "per method, the learning rate at which runs reach the MA threshold (claims 1 and 4)",
              protocol.calibrate_key, protocol.run_calibrate),
        Stage("subsets", "random forget subsets unlearned by GradDiff and NPO until the threshold, several seeds each; "
              "utility of each (claim 1)", protocol.subsets_key, protocol.run_subsets),
        Stage("samplers", "each method with the uniform, MRD, length and NLL samplers, every seed, until the "
              "threshold (claim 4)", protocol.samplers_key, protocol.run_samplers),
    ]


# The order the stages run in: on a CPU the core claim (MRD against GA and NPO) and the
# sensitivity checks come first, the costlier runs after.
STAGES = _stages()
