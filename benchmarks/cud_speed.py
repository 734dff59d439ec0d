"""CUD attribution cost against its floor (not a timed test).

    MRD_BENCH_DATA_DIR=../shared/data python benchmarks/cud_speed.py [--split forget10] [--samples 0]

For each length-sorted batch of the split (the plan `mrd-bench score --metric cud` uses), in turn:
(a) `eap.attribute`: EAP-IG with m steps and the corrupted baseline (the clean and corrupted
    forwards, m forward + backward passes, the edge scores);
(b) the bare loop: m forward + backward passes of the same batch (the answer log-likelihood's
    gradient with respect to the input embeddings), nothing else.
The issue's bound is (a) ≤ 1.5 × (b) per sample. `--samples 0` times the whole split, which is
also the figure for scoring it. Writes benchmarks/results/cud_speed_<device>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from mrd_bench.io import write_json
from mrd_bench.models import EMBEDDED, Encoded, collate, encode_qa, load_model, weights_hash
from mrd_bench.provenance import record
from mrd_bench.scorers.corrupt import corrupt, entity_pool
from mrd_bench.scorers.cud_run import CudConfig
from mrd_bench.scorers.eap import answer_loglik, attribute, model_graph
from mrd_bench.scorers.runner import plan_chunks

RESULTS = Path(__file__).parent / "results"


def bare(model, batch, steps: int) -> None:
    embeds = model.get_input_embeddings()(batch["input_ids"]).detach()
    for k in range(steps):
        x = (embeds * ((k + 1) / steps)).requires_grad_(True)
        m = answer_loglik(model, x, batch["attention_mask"], batch["labels"]).sum()
        torch.autograd.grad(m, x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=EMBEDDED)
    parser.add_argument("--split", default="forget10")
    parser.add_argument("--samples", type=int, default=0, help="first N samples of the split (0: all)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    device = torch.device(args.device)
    model, tok = load_model(args.model)
    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    path = Path(os.environ.get("MRD_BENCH_DATA_DIR", "../shared/data")) / "tofu" / f"{args.split}.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    pool = entity_pool([r["question"] for r in rows])  # names from the whole split
    rows = rows[:args.samples] if args.samples else rows
    items = [encode_qa(tok, r["question"], r["answer"]) for r in rows]
    base = [corrupt(tok, r["question"], r["answer"], e, pool, seed=0)[0] for r, e in zip(rows, items)]
    cfg = CudConfig(steps=args.steps, batch_size=args.batch_size)
    graph = model_graph(model)
    pad = model.config.pad_token_id or 0
    batches = [rows_ for chunk in plan_chunks(items, cfg) for rows_ in chunk]
    times = {"attribute": [], "bare": []}
    per_batch = []
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for n, picked in enumerate(batches):
        picked = [i for i in picked if base[i] is not None]  # the corrupted baseline's batches
        if not picked:
            continue
        batch = {k: v.to(device) for k, v in collate([items[i] for i in picked], pad).items()}
        corrupted = collate([Encoded(base[i], items[i].labels) for i in picked], pad)["input_ids"].to(device)
        order = ("attribute", "bare") if n % 2 == 0 else ("bare", "attribute")  # alternate: no drift favours one
        took = {}
        for what in order:
            sync()
            start = time.perf_counter()
            if what == "attribute":
                attribute(model, graph, batch, steps=args.steps, baseline_ids=corrupted)
            else:
                bare(model, batch, args.steps)
            sync()
            took[what] = time.perf_counter() - start
            times[what].append(took[what])
        per_batch.append({"samples": len(picked), "tokens": int(batch["attention_mask"].sum()),
                          "attribute_s": took["attribute"], "bare_s": took["bare"],
                          "ratio": took["attribute"] / took["bare"]})
        print(f"batch {n + 1}/{len(batches)}: ratio {per_batch[-1]['ratio']:.2f}", flush=True)
    samples = sum(b["samples"] for b in per_batch)
    total_a, total_b = sum(times["attribute"]), sum(times["bare"])
    result = record(kind="cud_speed", model=args.model, model_hash=weights_hash(model), split=args.split,
                    samples=samples, skipped_no_entity=sum(b is None for b in base), steps=args.steps,
                    batch_size=args.batch_size, device=str(device), graph=graph.describe(),
                    attribute_s=total_a, bare_s=total_b, ratio=total_a / total_b,
                    median_batch_ratio=statistics.median(b["ratio"] for b in per_batch),
                    attribute_s_per_sample=total_a / samples, bare_s_per_sample=total_b / samples,
                    bound=1.5, within_bound=total_a / total_b <= 1.5, batches=per_batch,
                    command="MRD_BENCH_DATA_DIR=../shared/data python benchmarks/cud_speed.py " + " ".join(
                        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "model"))
    out = RESULTS / f"cud_speed_{device.type}.json"
    write_json(out, result)
    print(f"{samples} samples: attribution {total_a:.1f} s ({total_a / samples:.2f} s/sample), bare m forward+"
          f"backward {total_b:.1f} s: ratio {total_a / total_b:.2f} (bound 1.5). Wrote {out}")


if __name__ == "__main__":
    main()
