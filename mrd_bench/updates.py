"""Updates to forget, per sample: the ground truth MRD is validated on (`mrd-bench
updates-to-forget`, and the reproduction study's trajectories).

For each sample alone, from the original weights and with fixed hyperparameters, the
method takes one AdamW update at a time on that sample until its Memorization Accuracy
(MA: the share of answer tokens that are the greedy next token) falls below the threshold
(the mean MA of the threshold split on the original model). A sample still above it after
`max_updates` is censored: reported with censored = true and updates = max_updates, never
dropped (as a rank, a censored count sits at the cap).

`trajectory` is that run for one sample. Before every update, the forward pass the loss
needs also gives the sample's answer NLL and its MA, so measuring costs nothing extra;
it keeps the whole curves up to max(updates, horizon), from which the study reads the
measures that do not tie (the loss increase after `horizon` updates, the area under the MA
curve). GradDiff's retain sample (and PO's refusal answer) for update n comes from a
generator seeded by (seed, sample index), so a row does not depend on which samples ran
before it (resume-safe).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch
from tqdm.auto import tqdm

from mrd_bench.errors import ConfigError, DataError
from mrd_bench.io import (append_rows, drop_torn_tail, guard_output, open_partial, read_partial_rows, write_json,
                          write_jsonl, writing_together)
from mrd_bench.methods.base import Batch
from mrd_bench.methods.loop import LoopConfig
from mrd_bench.methods.stopping import mean
from mrd_bench.models import IGNORE, Encoded, collate, gather_logprobs
from mrd_bench.unlearn import Inputs, Settings, default_threshold_split, encode, read_scores, refusal_items


@dataclass(frozen=True)
class Budget:
    lr: float
    max_updates: int
    horizon: int  # the curves go on to at least this many updates (0: stop at the threshold)
    threshold_ma: float
    weight_decay: float = 0.01
    seed: int = 0


def _forward(model, tensors: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Summed answer log-prob (with grad), answer tokens, and MA, from one forward pass."""
    labels = tensors["labels"][:, 1:]
    scored = labels != IGNORE
    cols = scored.any(0).nonzero().squeeze(1)
    logits = model(input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"],
                   logits_to_keep=cols).logits  # [1, C, V]
    targets, mask = labels[:, cols], scored[:, cols]
    logp = gather_logprobs(logits, targets.clamp(min=0))
    hits = (logits.argmax(-1) == targets) & mask
    return (logp * mask).sum(1), mask.sum(1), int(hits.sum()) / int(mask.sum())  # MA as an exact share


def trajectory(model, original: dict, item: Encoded, method, budget: Budget, *, index: int,
               retain: Optional[Sequence[Encoded]] = None, refusals: Optional[Sequence[Encoded]] = None,
               retain_size: int = 1) -> dict:
    """Unlearn one sample from `original`; the curves and the update count (see the module doc).
    `refusals`: the sample's refusal answers (PO); `retain_size`: retain samples per update."""
    device = next(model.parameters()).device
    pad = getattr(model.config, "pad_token_id", None) or 0
    model.load_state_dict(original)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=budget.lr, weight_decay=budget.weight_decay)
    forget = {k: v.to(device) for k, v in collate([item], pad).items()}
    draw = torch.Generator().manual_seed(budget.seed * 1_000_003 + index)
    nll, ma, updates, reference = [], [], None, None
    for n in range(budget.max_updates + 1):
        logp, count, accuracy = _forward(model, forget)
        nll.append(float(-logp.detach() / count))
        ma.append(accuracy)
        if reference is None:
            reference = logp.detach()
        if updates is None and accuracy < budget.threshold_ma:
            updates = n
        if n == budget.max_updates or (updates is not None and n >= budget.horizon):
            break
        batch = Batch(model, forget)
        # the loss terms this forward already computed (Batch would run it again)
        batch.__dict__.update(forget_logp=logp, forget_nll=-logp / count, reference_logp=reference)
        if method.retain == "required" or (method.retain == "optional" and retain):
            picks = torch.randint(len(retain), (retain_size,), generator=draw).tolist()
            batch.retain = {k: v.to(device) for k, v in collate([retain[i] for i in picks], pad).items()}
        if method.needs_refusals:
            pick = int(torch.randint(len(refusals), (1,), generator=draw))
            batch.refusal = {k: v.to(device) for k, v in collate([refusals[pick]], pad).items()}
        loss = method.per_sample_loss(batch).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    model.eval()
    h = min(budget.horizon, len(nll) - 1)
    return {"updates": budget.max_updates if updates is None else updates, "censored": updates is None,
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
    key = {"inputs": asdict(inputs), "settings": asdict(settings), "loop": asdict(loop),
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
            run = trajectory(model, original, items[j], method, budget, index=j, retain=retain_items,
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
