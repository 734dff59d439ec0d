"""Updates to forget, per sample: the ground truth MRD is validated on (`mrd-bench
updates-to-forget`, and the reproduction study's trajectories).

For each sample alone, from the original weights and with fixed hyperparameters, the
method takes one AdamW update at a time on that sample until its Memorization Accuracy
(MA: the share of answer tokens that are the greedy next token) falls below the threshold
(the mean MA of the threshold split on the original model). A sample still above it after
`max_updates` is censored: reported with censored = true and updates = max_updates, never
dropped (as a rank, a censored count sits at the cap).

`trajectory` is that run for one sample, on the one training loop (methods/loop.py).
Before every update, the forward pass the loss needs also gives the sample's answer NLL and
its MA (the loop's `watch`), so measuring costs nothing extra where the loss reads that pass
(GA, GradDiff, NPO; PO's loss does not, so its curve costs one more forward); it keeps the whole curves up
to max(updates, horizon), from which the study reads the measures that do not tie (the loss
increase after `horizon` updates, the area under the MA curve). Every sample starts the
loop from the same seed, so GradDiff's retain samples (and PO's refusal answers) come in the
same order for each, and a row does not depend on which samples ran before it (resume-safe).

Rows stream to `<out>.partial/` (fsynced, one per sample; io.open_partial, as `score`
does) so an interrupted run resumes;
`<out>` and `<out stem>.meta.json` are written at the end, with the Spearman correlation
against MRD scores and a scatter plot (`<out stem>.png`) when `--scores` is given.
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from tqdm.auto import tqdm

from mrd_bench.errors import ConfigError, DataError
from mrd_bench.io import (append_rows, drop_torn_tail, guard_output, open_partial, read_partial_rows, write_json,
                          write_jsonl, writing_together)
from mrd_bench.methods.loop import LoopConfig, train
from mrd_bench.methods.stopping import mean
from mrd_bench.models import Encoded
from mrd_bench.samplers.uniform import Uniform
from mrd_bench.unlearn import Inputs, Settings, default_threshold_split, encode, read_scores, refusal_items


@dataclass(frozen=True)
class Budget:
    lr: float
    max_updates: int
    horizon: int  # the curves go on to at least this many updates (0: stop at the threshold)
    threshold_ma: float
    weight_decay: float = 0.01
    seed: int = 0


def trajectory(model, original: dict, item: Encoded, method, budget: Budget, *,
               retain: Optional[Sequence[Encoded]] = None, refusals: Optional[Sequence[Encoded]] = None,
               retain_size: int = 1) -> dict:
    """Unlearn one sample from `original` on the one training loop; the curves and the update
    count (see the module doc). `refusals`: the sample's refusal answers (PO); `retain_size`:
    retain samples per update."""
    nll, ma, reached = [], [], []

    def watch(n: int, batch) -> bool:  # before update n + 1, from that step's own forward
        total, count, hits = (t.detach() for t in batch.forget_pass)
        nll.append(float(-total / count))
        ma.append(int(hits) / int(count) if int(count) else math.nan)  # MA as an exact share
        if not reached and ma[-1] < budget.threshold_ma:
            reached.append(n)
        return n == budget.max_updates or (bool(reached) and n >= budget.horizon)

    if method.retain == "required" and not retain:
        raise ConfigError(f"{type(method).__name__} needs retain samples; pass retain (e.g. TOFU's retain90).")
    model.load_state_dict(original)
    loop = LoopConfig(lr=budget.lr, max_steps=budget.max_updates + 1, batch_size=1, retain_batch_size=retain_size,
                      weight_decay=budget.weight_decay, seed=budget.seed, save_every=0)
    train(model, [item], method, Uniform(1), loop, retain=retain if method.retain != "none" else None,
          refusals=[refusals] if refusals is not None else None, watch=watch, progress=False)
    h = min(budget.horizon, len(nll) - 1)
    return {"updates": reached[0] if reached else budget.max_updates, "censored": not reached,
            "loss_increase": nll[h] - nll[0], "ma_auc": sum(ma[:h + 1]) / (h + 1), "horizon": h,
            "nll": nll, "ma": ma}


def run_updates(inputs: Inputs, settings: Settings, loop: LoopConfig, out, *, max_updates: int = 50,
                overwrite: bool = False, progress: bool = True, sample_ids: Optional[list[str]] = None) -> Path:
    """Updates-to-forget of every sample of the forget split (or of `sample_ids` only, in the
    split's order); see the module's docstring."""
    from mrd_bench.models import load_model, weights_hash
    from mrd_bench.provenance import data_hash, record

    if max_updates < 1:
        raise ConfigError(f"--max-updates must be at least 1; got {max_updates}.")
    if settings.lora_rank:
        raise ConfigError("updates-to-forget trains all weights; drop --lora-rank.")
    if loop.warmup_steps:
        raise ConfigError("updates-to-forget takes every update at the full rate; drop the warm-up (warmup_steps 0).")
    out = guard_output(out, overwrite, what="updates-to-forget results", inputs=inputs.files())
    method = settings.build_method()
    if method.retain == "required" and not inputs.retain:
        raise ConfigError(f"{settings.method} needs a retain set; pass --retain (e.g. retain90).")
    forget = inputs.load(inputs.forget)
    if len(forget) == 0:
        raise DataError(f"the split {inputs.benchmark}/{inputs.forget} is empty; choose another split.")
    if sample_ids is not None:
        wanted = set(sample_ids)
        forget = forget.select([i for i, sid in enumerate(forget["sample_id"]) if sid in wanted])
        if len(forget) != len(wanted):
            raise DataError(f"{len(wanted) - len(forget)} of the sample ids asked for are not in "
                            f"{inputs.benchmark}/{inputs.forget}.")
    ids = forget["sample_id"]
    scores = read_scores(inputs.scores, ids) if inputs.scores else None
    retain = inputs.load(inputs.retain) if inputs.retain and method.retain != "none" else None
    reference = inputs.load(default_threshold_split(inputs))
    model, tokenizer = load_model(inputs.model)
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    items = encode(tokenizer, forget, settings)
    threshold_ma = mean(settings.memorization().ma(model, encode(tokenizer, reference, settings)))
    key = {"inputs": asdict(inputs), "settings": asdict(settings), "loop": loop.keyed(),
           "max_updates": max_updates, "model_hash": weights_hash(model), "data_hash": data_hash(forget),
           "threshold_ma": threshold_ma}
    partial = out.with_name(out.name + ".partial")
    resume_key = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    open_partial(partial, resume_key, overwrite, settings=key)
    sink_path = partial / "rank-0.jsonl"
    drop_torn_tail(sink_path)
    done = read_partial_rows(partial)
    budget = Budget(lr=loop.lr, max_updates=max_updates, horizon=0, threshold_ma=threshold_ma,
                    weight_decay=loop.weight_decay, seed=loop.seed)
    refusals = refusal_items(tokenizer, forget, inputs.benchmark, settings) if method.needs_refusals else None
    retain_items = encode(tokenizer, retain, settings) if retain is not None else None
    with open(sink_path, "a", encoding="utf-8") as sink:
        for j in tqdm(range(len(items)), desc=f"updates to forget ({settings.method})", unit="sample",
                      disable=not progress):
            if ids[j] in done:
                continue
            run = trajectory(model, original, items[j], method, budget, retain=retain_items,
                             refusals=refusals[j] if refusals else None, retain_size=loop.retain_batch_size or 1)
            row = {"sample_id": ids[j], "updates": run["updates"], "censored": run["censored"],
                   "ma_initial": run["ma"][0], "ma_final": run["ma"][-1], "max_updates": max_updates}
            if scores is not None:
                row["mrd"] = scores[j]
            append_rows(sink, [row])
            done[ids[j]] = row
    rows = [done[i] for i in ids]
    summary = _summary(rows, scores)
    files = [out, out.with_name(out.stem + ".meta.json")]
    files += [out.with_name(out.stem + ".png")] if scores is not None else []
    with writing_together(*files) as staged:  # the rows, their summary and their plot: one run's, never a mix
        write_jsonl(staged[0], rows)
        write_json(staged[1], record(kind="updates_to_forget", **key, resume_key=resume_key,
                                     threshold={"ma": threshold_ma}, threshold_split=default_threshold_split(inputs),
                                     summary=summary))
        if scores is not None:
            _plot(rows, staged[2], f"{settings.method} on {inputs.benchmark}/{inputs.forget}")
    shutil.rmtree(partial, ignore_errors=True)
    return out


def _summary(rows: list[dict], scores: Optional[list[float]]) -> dict:
    from statistics import median

    counts = [r["updates"] for r in rows]
    out = {"samples": len(rows), "censored": sum(r["censored"] for r in rows),
           "median_updates": median(counts), "mean_updates": sum(counts) / len(counts)}
    if scores is not None:
        from scipy.stats import spearmanr

        rho, p = spearmanr(scores, counts)
        out.update(spearman_mrd_updates=float(rho), spearman_p=float(p))
    return out


def _plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mrd_bench.report.plots import _save

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for censored, style in ((False, dict(marker="o", color="#1f77b4", label="reached the threshold")),
                            (True, dict(marker="^", color="#d62728", label="censored at the cap"))):
        pts = [(r["mrd"], r["updates"]) for r in rows if r["censored"] == censored]
        if pts:
            ax.scatter(*zip(*pts), s=18, edgecolors="#333333", linewidths=0.3, **style)
    if all(r["mrd"] > 0 for r in rows):
        ax.set_xscale("log")
    ax.set_xlabel("MRD (original model)")
    ax.set_ylabel("updates until MA < threshold")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    _save(fig, path)
