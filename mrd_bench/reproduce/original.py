"""The stages every claim reads: the original model (the base model fine-tuned on the study's
authors) and the per-sample baselines with the forgetting threshold."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from mrd_bench.io import read_json, write_json
from mrd_bench.reproduce.study import Context, Setting, Stage, settings_of


def run_original(ctx: Context, folder: Path, s: Setting) -> dict:
    """Fine-tune the base model on the authors (TOFU's protocol: the original knows them all)."""
    from mrd_bench.methods.loop import LoopConfig
    from mrd_bench.unlearn import RECORD, Inputs, Settings, run_finetune

    inputs = Inputs(model=s.model, benchmark="tofu", forget="full", subset_authors=None if s.authors == 200
                    else s.authors)
    # torch's default AdamW (named: the committed stages' original was trained with it, and a fresh
    # checkout must rebuild the same weights, bit for bit; reproduce_cpu.sh checks their hash)
    loop = LoopConfig(lr=s.finetune_lr, epochs=s.finetune_epochs, batch_size=8, seed=0, adamw="default")
    record_path = ctx.original / RECORD
    if record_path.is_file():  # a finished fine-tune of these inputs: adopt it
        rec = read_json(record_path)
        if rec["inputs"] == asdict(inputs) and {"adamw": "default", **rec["loop"]} == asdict(loop):
            return {"model_hash": rec["model_hash"], "earlier_wall_s": rec["wall_time_s"], "adopted": True}
    _, rec = run_finetune(inputs, Settings(), loop, ctx.original, overwrite=record_path.is_file(),
                          progress=ctx.progress)
    return {"model_hash": rec["model_hash"], "steps": rec["steps"], "final_loss": rec["losses"][-1]}


@dataclass(frozen=True)
class Baselines:
    v: int = field(default=1, init=False)  # the stage's version: raised when its outputs change


def run_baselines(ctx: Context, folder: Path, s: Baselines) -> dict:
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


def threshold(ctx: Context) -> float:
    """The forgetting threshold: the mean MA of TOFU's never-trained holdout on the original."""
    return read_json(ctx.work / "baselines" / "baselines.json")["threshold_ma"]


ORIGINAL = Stage("original", "fine-tune the base model on the study's authors (the original model)",
                 settings_of(Setting), run_original)
BASELINES = Stage("baselines", "per-sample NLL, Min-K%, gradient norm, length, text characteristics; the MA threshold",
                  settings_of(Baselines), run_baselines)
