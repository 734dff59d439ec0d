"""`mrd-bench updates-to-forget`: per-sample unlearning cost, the ground truth MRD is validated on.

For each sample alone, from the original weights and with fixed hyperparameters, the
method takes one update at a time on that sample until its Memorization Accuracy falls
below the threshold (the mean MA of the threshold split on the original model). A sample
still above it after `max_updates` is censored: reported with censored = true and
updates = max_updates, never dropped (as a rank, a censored count sits at the cap).

Rows stream to `<out>.partial/` (fsynced, one per sample; io.open_partial, as `score`
does) so an interrupted run resumes;
`<out>` and `<out stem>.meta.json` are written at the end, with the Spearman correlation
against MRD scores and a scatter plot (`<out stem>.png`) when `--scores` is given.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Optional

from tqdm.auto import tqdm

from mrd_bench.errors import ConfigError, DataError
from mrd_bench.io import (append_rows, drop_torn_tail, guard_output, open_partial, read_partial_rows, write_json,
                          write_jsonl, writing_together)
from mrd_bench.methods.loop import LoopConfig, Stopper, train
from mrd_bench.methods.stopping import Threshold, mean
from mrd_bench.samplers.uniform import Uniform
from mrd_bench.unlearn import (Inputs, Settings, default_threshold_split, encode, read_scores, refusal_items,
                               with_lora)


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
    memo = settings.memorization()
    items = encode(tokenizer, forget, settings)
    threshold = Threshold(ma=mean(memo.ma(model, encode(tokenizer, reference, settings))), el=float("nan"))
    key = {"inputs": asdict(inputs), "settings": asdict(settings), "loop": asdict(loop),
           "max_updates": max_updates, "model_hash": weights_hash(model), "data_hash": data_hash(forget),
           "threshold_ma": threshold.ma}
    partial = out.with_name(out.name + ".partial")
    resume_key = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    open_partial(partial, resume_key, overwrite, settings=key)
    sink_path = partial / "rank-0.jsonl"
    drop_torn_tail(sink_path)
    done = read_partial_rows(partial)
    one_loop = LoopConfig(**{**asdict(loop), "max_steps": max_updates, "batch_size": 1, "check_every": 1})
    refusals = refusal_items(tokenizer, forget, inputs.benchmark, settings) if method.needs_refusals else None
    retain_items = encode(tokenizer, retain, settings) if retain is not None else None
    with open(sink_path, "a", encoding="utf-8") as sink:
        for j in tqdm(range(len(items)), desc=f"updates to forget ({settings.method})", unit="sample",
                      disable=not progress):
            if ids[j] in done:
                continue
            model.load_state_dict(original)
            stopper = Stopper(memo, threshold, tokenizer.eos_token_id, with_el=False)
            model, result = train(with_lora(model, settings), [items[j]], method, Uniform(1), one_loop,
                                  retain=retain_items, refusals=[refusals[j]] if refusals else None,
                                  stopper=stopper, stop_early=True, progress=False)
            reached = result.updates_to_threshold
            row = {"sample_id": ids[j], "updates": max_updates if reached is None else reached,
                   "censored": reached is None, "ma_initial": result.checks[0]["ma"],
                   "ma_final": result.checks[-1]["ma"], "max_updates": max_updates}
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
                                     threshold={"ma": threshold.ma}, threshold_split=default_threshold_split(inputs),
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
