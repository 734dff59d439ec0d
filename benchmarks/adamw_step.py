"""One training step of the unlearning loop, split into forward+backward and AdamW's update, for
each of the loop's AdamW implementations (`--adamw fused|default`), on the embedded model and real
TOFU forget samples (a measurement, not a test).

    MRD_BENCH_DATA_DIR=../shared/data python benchmarks/adamw_step.py [--steps 12] [--batch 1]

Both implementations start from the same weights and take the same gradient-ascent steps on the
same batch; the result gives the median seconds per part and the largest weight difference after
the steps (the two differ only in float rounding). Result: benchmarks/results/adamw_step.json.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from mrd_bench.cache import cache_dir
from mrd_bench.models import EMBEDDED, export_model, load_model
from mrd_bench.provenance import record

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    from mrd_bench.io import write_json
    from mrd_bench.models import collate
    from mrd_bench.unlearn import Inputs, Settings, encode

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=12, help="steps per implementation (the first 2 not timed)")
    parser.add_argument("--batch", type=int, default=1, help="forget samples per step (the study's per-sample runs: 1)")
    args = parser.parse_args()
    checkpoint = cache_dir() / "models" / EMBEDDED
    if not (checkpoint / "model.safetensors").is_file():
        export_model(EMBEDDED, checkpoint)
    model, tok = load_model(str(checkpoint))
    inputs = Inputs(model=str(checkpoint), benchmark="tofu", forget="forget10")
    items = encode(tok, inputs.load(inputs.forget).select(range(args.batch)), Settings())
    batch = collate(items, tok.pad_token_id or 0)
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.train()
    rows, after = {}, {}
    for impl in ("default", "fused"):
        model.load_state_dict(original)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01, fused=(impl == "fused") or None)
        fb, step = [], []
        for i in range(args.steps):
            t0 = time.perf_counter()
            (-model(**batch).loss).backward()
            t1 = time.perf_counter()
            opt.step()
            opt.zero_grad(set_to_none=True)
            t2 = time.perf_counter()
            if i >= 2:
                fb.append(t1 - t0)
                step.append(t2 - t1)
        rows[impl] = {"forward_backward_s": statistics.median(fb), "adamw_step_s": statistics.median(step),
                      "timed_steps": len(fb)}
        after[impl] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        print(impl, rows[impl], flush=True)
    diff = max((after["fused"][k] - after["default"][k]).abs().max().item() for k in original)
    out = record(kind="benchmark/adamw_step", model=EMBEDDED, batch=args.batch,
                 tokens=int(batch["input_ids"].numel()), steps=args.steps, lr=1e-5, implementations=rows,
                 step_speedup=rows["default"]["adamw_step_s"] / rows["fused"]["adamw_step_s"],
                 whole_step_speedup=(sum(rows["default"][k] for k in ("forward_backward_s", "adamw_step_s"))
                                     / sum(rows["fused"][k] for k in ("forward_backward_s", "adamw_step_s"))),
                 max_weight_difference=diff)
    write_json(RESULTS / "adamw_step.json", out)
    print(f"AdamW step {out['step_speedup']:.2f}x faster fused; whole step {out['whole_step_speedup']:.2f}x; "
          f"weights differ by at most {diff:.2e} after {args.steps} steps")


if __name__ == "__main__":
    main()
