"""Candidate speed paths for the TOFU suite's greedy generation, timed one after another in one
process on the same prompts (a measurement, not a test).

    MRD_BENCH_DATA_DIR=../shared/data python benchmarks/generation_paths.py [--limit 16] [--paths a,b]

The prompts are the suite's own (every generation lm-eval builds for tofu_mrd on forget10 with the
chat template, the first --limit documents of each task: tofu_eval_speed.suite_requests), run
through mrd_bench's greedy generation (finished rows leave the batch) in lm-eval's order (longest
prompt first), with these variants:
- `batchN`: batches of N prompts (`batch32` is what `--batch_size 32` runs today);
- `gqa`: batches of 32, SDPA given the KV cache's 3 heads as they are (`enable_gqa`, through
  transformers' TRANSFORMERS_SDPA_FORCE_GQA) instead of each step copying them out to the 9 query heads;
- `compiled`: batches of 32, the model's forward under torch.compile (dynamic shapes; compiled once
  on the first batch, which is timed apart as `compile_s`).
Each variant's tokens are compared with the first variant's; a path that changes any text is reported as
such. Result: benchmarks/results/generation_paths.json.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from mrd_bench.cache import cache_dir
from mrd_bench.lmeval.greedy import greedy
from mrd_bench.models import EMBEDDED, export_model
from mrd_bench.provenance import record

RESULTS = Path(__file__).parent / "results"


def generate_all(model, tok, prompts: list[str], budgets: dict, batch: int, eos_ids: set, stops: list[str]) -> list:
    out = []
    for at in range(0, len(prompts), batch):
        chunk = prompts[at:at + batch]
        enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
        out += greedy(model, enc.input_ids, enc.attention_mask, max(budgets[p] for p in chunk), eos_ids, stops,
                      lambda ids: tok.decode(ids, skip_special_tokens=False))
    return out


def main() -> None:
    from tofu_eval_speed import suite_requests

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=16)
    parser.add_argument("--paths", default="batch32,batch64,batch128,compiled")
    parser.add_argument("--out", type=Path, default=RESULTS / "generation_paths.json")
    args = parser.parse_args()
    checkpoint = cache_dir() / "models" / EMBEDDED
    if not (checkpoint / "model.safetensors").is_file():
        export_model(EMBEDDED, checkpoint)
    lm, _, budgets = suite_requests(checkpoint, "forget10", args.limit)
    model, tok = lm.model.eval(), lm.tokenizer
    tok.padding_side = "left"
    prompts = sorted(budgets, key=lambda p: (-len(tok(p, add_special_tokens=False).input_ids), p))
    eos = tok.decode([lm.eot_token_id], skip_special_tokens=False)
    eos_ids = {lm.eot_token_id, *([model.generation_config.eos_token_id]
                                  if isinstance(model.generation_config.eos_token_id, int)
                                  else model.generation_config.eos_token_id or [])}
    rows, reference = {}, None
    for path in args.paths.split(","):
        runner, batch, compile_s = model, int(path[5:]) if path.startswith("batch") else 32, None
        if path == "compiled":
            runner = torch.compile(model, dynamic=True)
            start = time.perf_counter()
            generate_all(runner, tok, prompts[:32], budgets, 32, eos_ids, [eos])
            compile_s = time.perf_counter() - start
        if path == "gqa":  # SDPA takes the 3 KV heads as they are, not copied out to the 9 query heads
            os.environ["TRANSFORMERS_SDPA_FORCE_GQA"] = "1"
        try:
            start = time.perf_counter()
            tokens = generate_all(runner, tok, prompts, budgets, batch, eos_ids, [eos])
            wall = time.perf_counter() - start
        finally:
            os.environ.pop("TRANSFORMERS_SDPA_FORCE_GQA", None)
        reference = reference if reference is not None else tokens
        rows[path] = {"wall_s": round(wall, 1), "batch": batch, "compile_s": round(compile_s, 1) if compile_s else None,
                      "same_tokens_as_first": tokens == reference,
                      "generated_tokens": sum(map(len, tokens))}
        print(path, rows[path], flush=True)
    out = args.out
    out.write_text(json.dumps(record(kind="generation_paths", limit=args.limit, prompts=len(prompts),
                                     paths=rows), indent=1) + "\n")
    print(out)


if __name__ == "__main__":
    main()
