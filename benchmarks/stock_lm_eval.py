"""Stock `lm_eval` beside `mrd-bench eval --model hf-mrd`: every TOFU metric of one run of each on
the embedded model (a measurement, not a test).

    MRD_BENCH_DATA_DIR=../shared/data python benchmarks/stock_lm_eval.py [--limit 20] [--tasks tofu_mrd]

Runs, on the exported embedded checkpoint with the shipped annotations, forget10, chat template:
1. lm-eval's own CLI and `hf` backend:
   `lm_eval run --model hf --include_path "$(mrd-bench tasks-dir)" --tasks tofu_mrd ...`
2. `mrd-bench eval --model hf-mrd` with the same flags,
and writes every metric's two values side by side, which are NaN under `hf` and why, and each run's
wall time, to benchmarks/results/stock_lm_eval.json and .md. The per-token metrics (FA, UA, Min-K%
AUC) are NaN under `hf` by design; the others differ where `hf` scores the chat template's
newline as one more answer token (README: "Stock lm_eval").
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mrd_bench.io import write_json, write_text  # noqa: E402
from mrd_bench.lmeval.paths import tasks_dir  # noqa: E402
from mrd_bench.cache import cache_dir  # noqa: E402
from mrd_bench.models import EMBEDDED, export_model  # noqa: E402
from mrd_bench.provenance import record  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PER_TOKEN = ("fa", "ua", "min_k_auc")


def _run(cmd: list[str], out: Path) -> tuple[dict, float]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed:\n{proc.stderr[-3000:]}")
    results = json.loads(next(out.rglob("results_*.json")).read_text())["results"]
    return results, round(wall, 1)


def _flat(results: dict) -> dict[str, float]:
    return {f"{task}/{key.split(',')[0]}": float(value) for task, metrics in results.items()
            for key, value in metrics.items() if key.endswith(",none") and isinstance(value, (int, float))
            and not key.split(",")[0].startswith("n_")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--tasks", default="tofu_mrd")
    parser.add_argument("--batch-size", default="16")
    parser.add_argument("--out", default=str(RESULTS / "stock_lm_eval.json"))
    parser.add_argument("--conditions", default="", help="what else ran on the machine (kept in the result)")
    args = parser.parse_args()
    checkpoint = cache_dir() / "models" / EMBEDDED
    if not (checkpoint / "model.safetensors").is_file():
        export_model(EMBEDDED, checkpoint)
    common = ["--model_args", f"pretrained={checkpoint},dtype=float32", "--tasks", args.tasks,
              "--metadata", json.dumps({"split": "forget10"}), "--apply_chat_template", "--device", "cpu",
              "--batch_size", args.batch_size, "--limit", str(args.limit)]
    lm_eval = str(Path(sys.executable).with_name("lm_eval"))
    with tempfile.TemporaryDirectory() as tmp:
        stock_cmd = [lm_eval, "run", "--model", "hf", "--include_path", str(tasks_dir()), *common,
                     "--output_path", f"{tmp}/hf"]
        ours_cmd = [sys.executable, "-m", "mrd_bench.cli", "eval", "--model", "hf-mrd", *common,
                    "--output_path", f"{tmp}/hf-mrd"]
        stock, stock_wall = _run(stock_cmd, Path(tmp) / "hf")
        ours, ours_wall = _run(ours_cmd, Path(tmp) / "hf-mrd")
    a, b = _flat(stock), _flat(ours)
    rows = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key, math.nan), b.get(key, math.nan)
        metric = key.split("/")[1]
        base = metric.rsplit("_", 1)[0] if metric.rsplit("_", 1)[-1] in ("easy", "medium", "hard", "reweighted") \
            else metric
        rows.append({"metric": key, "hf": x, "hf_mrd": y,
                     "difference": None if math.isnan(x) or math.isnan(y) else y - x,
                     "nan_under_hf_because": "needs per-token log p and argmax" if base in PER_TOKEN and math.isnan(x)
                     else None})
    result = record(kind="stock_lm_eval", limit=args.limit, tasks=args.tasks, split="forget10", chat_template=True,
                    commands={"hf": "lm_eval " + " ".join(stock_cmd[1:]).replace(tmp, "OUT"),
                              "hf_mrd": "mrd-bench " + " ".join(ours_cmd[3:]).replace(tmp, "OUT")},
                    wall_s={"hf": stock_wall, "hf_mrd": ours_wall}, conditions=args.conditions, rows=rows,
                    finite_under_hf=sorted(r["metric"] for r in rows if not math.isnan(r["hf"])),
                    nan_under_hf=sorted(r["metric"] for r in rows if math.isnan(r["hf"])))
    out = Path(args.out)
    write_json(out, result)
    lines = [f"# Stock `lm_eval --model hf` beside `mrd-bench eval --model hf-mrd` ({args.tasks}, forget10, "
             f"--limit {args.limit}, chat template)", "",
             f"Wall: hf {stock_wall:.0f} s, hf-mrd {ours_wall:.0f} s.", "",
             "| metric | hf | hf-mrd | hf-mrd − hf |", "|---|---|---|---|"]
    for r in rows:
        diff = "—" if r["difference"] is None else f"{r['difference']:+.2e}"
        lines.append(f"| {r['metric']} | {r['hf']:.6g} | {r['hf_mrd']:.6g} | {diff} |")
    write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
