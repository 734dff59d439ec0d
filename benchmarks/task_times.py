"""Run time of every lm-eval task on the embedded model (a measurement, not a test).

    python benchmarks/task_times.py [--limit N] [--batch-size 8] [--tasks a,b]

Each task runs alone through `mrd-bench eval --model hf-mrd` on the exported embedded
checkpoint with the shipped annotations (tasks with none shipped are reported as
skipped). Wall time includes lm-eval's start-up and the model load; with --limit N only
the first N documents run, and the number of documents is recorded beside the time.
Results: benchmarks/results/task_times_<limit>.json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mrd_bench.io import write_json
from mrd_bench.cache import cache_dir
from mrd_bench.models import EMBEDDED, export_model
from mrd_bench.provenance import record

RESULTS = Path(__file__).parent / "results"
TASKS = ["tofu_forget_mrd_mia", "tofu_forget_mrd_rouge", "tofu_forget_mrd_tr", "tofu_retain_mrd_prob",
         "tofu_retain_mrd_rouge", "tofu_real_authors_prob", "tofu_real_authors_rouge", "tofu_world_facts_prob",
         "tofu_world_facts_rouge", "wmdp_bio_mrd", "wmdp_chem_mrd", "wmdp_cyber_mrd", "mmlu_mrd_utility",
         "whp_forget_mrd_seen", "whp_forget_mrd_unseen", "whp_heldout_ppl", "safe_forget_mrd"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, help="first N documents of each task")
    parser.add_argument("--batch-size", default="8")
    parser.add_argument("--tasks", help="comma-separated subset")
    parser.add_argument("--fallback-difficulty", help="annotation folder for tasks with none shipped (the bins "
                        "do not change the run time; the task's row records that it was used)")
    args = parser.parse_args()
    checkpoint = cache_dir() / "models" / EMBEDDED
    if not (checkpoint / "model.safetensors").is_file():
        export_model(EMBEDDED, checkpoint)
    rows = []
    for task in (args.tasks.split(",") if args.tasks else TASKS):
        with tempfile.TemporaryDirectory() as out:
            cmd = [sys.executable, "-m", "mrd_bench.cli", "eval", "--model", "hf-mrd", "--model_args",
                   f"pretrained={checkpoint},dtype=float32", "--tasks", task, "--device", "cpu",
                   "--batch_size", args.batch_size, "--output_path", out]
            if args.limit:
                cmd += ["--limit", str(args.limit)]
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.perf_counter() - start
            fallback = None
            if proc.returncode != 0 and args.fallback_difficulty and "no difficulty annotation" in proc.stderr:
                fallback = args.fallback_difficulty
                cmd += ["--metadata", json.dumps({"difficulty": fallback})]
                start = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True)
                wall = time.perf_counter() - start
            if proc.returncode != 0:
                reason = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
                rows.append({"task": task, "skipped": reason})
                print(f"{task:28s} skipped: {reason}", flush=True)
                continue
            result = json.loads(next(Path(out).rglob("results_*.json")).read_text())
            docs = result["n-samples"][task]["effective"]
            metrics = {k.split(",")[0]: v for k, v in result["results"][task].items()
                       if "," in k and "stderr" not in k}
            rows.append({"task": task, "docs": docs, "wall_s": round(wall, 1), "fallback_difficulty": fallback,
                         "eval_s": round(float(result["total_evaluation_time_seconds"]), 1), "metrics": metrics})
            print(f"{task:28s} {docs:5d} docs  {wall:7.1f} s", flush=True)
    name = f"task_times_{args.limit or 'full'}.json"
    write_json(RESULTS / name, record(model=EMBEDDED, limit=args.limit, batch_size=args.batch_size, tasks=rows))
    print(f"Wrote {RESULTS / name}")


if __name__ == "__main__":
    main()
