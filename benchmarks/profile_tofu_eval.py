"""Where the TOFU evaluation's time goes (a measurement, not a test).

    MRD_BENCH_DATA_DIR=../shared/data python benchmarks/profile_tofu_eval.py [--limit 32] [--label now]
        [--model-args ,reuse_prefix=False]

Runs the command tofu_eval_speed.py times (`mrd-bench eval --model hf-mrd --tasks tofu_mrd`, forget10,
chat template, batch 32, float32, the embedded model) inside this process under cProfile, on the
first --limit documents of each task, and splits its wall time into: imports, model loading,
lm-eval's task index and task building, answer log-likelihoods, greedy generation (prefill,
decoding steps, stop-string checks), metric computation, and the rest; beside them the time in
the model's forward passes and in the tokenizer (Rust encode/decode calls) wherever they ran.
Each run is stored under its --label in benchmarks/results/tofu_eval_profile_<limit>.json.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def cumulative(stats: pstats.Stats, file_part: str, name: str, *, largest: bool = False) -> float:
    """Summed cumulative seconds of the functions `name` in files containing `file_part` (or the
    largest one: a recursive or nested forward counts once)."""
    found = [ct for (file, _, func), (_, _, _, ct, _) in stats.stats.items() if file_part in file and func == name]
    return (max(found, default=0.0) if largest else sum(found))


def builtin(stats: pstats.Stats, needle: str) -> float:
    return sum(tt for (file, _, func), (_, _, tt, _, _) in stats.stats.items() if file == "~" and needle in func)


def called_from(stats: pstats.Stats, file_part: str, name: str, caller: str) -> float:
    total = 0.0
    for (file, _, func), (_, _, _, _, callers) in stats.stats.items():
        if file_part in file and func == name:
            total += sum(edge[3] for (cfile, _, cfunc), edge in callers.items() if cfunc == caller)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=32)
    parser.add_argument("--split", default="forget10")
    parser.add_argument("--label", default="now")
    parser.add_argument("--model-args", default="", help="appended to model_args, e.g. ,drop_finished=False")
    parser.add_argument("--dump", help="also write the raw profile (pstats) to this file")
    args = parser.parse_args()
    started = time.perf_counter()
    import lm_eval.evaluator  # noqa: F401  (the imports, timed apart)
    from mrd_bench.cache import cache_dir
    from mrd_bench.cli import main as cli_main
    from mrd_bench.models import EMBEDDED, export_model
    from mrd_bench.provenance import record

    imports = time.perf_counter() - started
    checkpoint = cache_dir() / "models" / EMBEDDED
    if not (checkpoint / "model.safetensors").is_file():
        export_model(EMBEDDED, checkpoint)
    profile = cProfile.Profile()
    with tempfile.TemporaryDirectory() as out:
        argv = ["eval", "--model", "hf-mrd", "--model_args",
                    f"pretrained={checkpoint},dtype=float32{args.model_args}", "--tasks", "tofu_mrd",
                    "--batch_size", "32", "--device", "cpu", "--output_path", out, "--apply_chat_template",
                    "--metadata", json.dumps({"split": args.split}), "--limit", str(args.limit)]
        start = time.perf_counter()
        profile.enable()
        code = cli_main(argv)
        profile.disable()
        if code:
            raise SystemExit(f"the evaluation failed (exit {code})")
        wall = time.perf_counter() - start
    stats = pstats.Stats(profile)
    if args.dump:
        stats.dump_stats(args.dump)
    parts = {
        "model loading": cumulative(stats, "lm_eval/models/huggingface.py", "__init__"),
        "task index and task building": cumulative(stats, "lm_eval/tasks/manager.py", "__init__")
        + cumulative(stats, "lm_eval/tasks/manager.py", "load"),
        "building the requests": cumulative(stats, "lm_eval/api/task.py", "build_all_requests"),
        "answer log-likelihoods": cumulative(stats, "mrd_bench/lmeval/model.py", "loglikelihood"),
        "generation: prefill": cumulative(stats, "mrd_bench/lmeval/greedy.py", "_prefill"),
        "generation: decoding steps": cumulative(stats, "mrd_bench/lmeval/greedy.py", "_decode"),
        "generation: stop-string checks": called_from(stats, "lm_eval/models/huggingface.py", "tok_decode", "greedy"),
        "generation: rest": cumulative(stats, "mrd_bench/lmeval/model.py", "_greedy_until")
        - cumulative(stats, "mrd_bench/lmeval/greedy.py", "_prefill")
        - cumulative(stats, "mrd_bench/lmeval/greedy.py", "_decode")
        - called_from(stats, "lm_eval/models/huggingface.py", "tok_decode", "greedy"),
        "metric computation": cumulative(stats, "lm_eval/api/task.py", "process_results")
        + cumulative(stats, "lm_eval/evaluator_utils.py", "_process_results"),
    }
    parts["rest (lm-eval, writing results)"] = wall - sum(parts.values())
    across = {"model forward passes": cumulative(stats, "models/llama/modeling_llama.py", "forward", largest=True),
              "nn.Linear": cumulative(stats, "torch/nn/modules/linear.py", "forward"),
              "tokenizer (Rust encode/decode)": builtin(stats, "tokenizers.")}
    row = {"limit": args.limit, "split": args.split, "model_args": args.model_args, "imports_s": round(imports, 1),
           "wall_s": round(wall, 1), "parts_s": {k: round(v, 1) for k, v in parts.items()},
           "across_parts_s": {k: round(v, 1) for k, v in across.items()}, **record(kind="tofu_eval_profile")}
    path = RESULTS / f"tofu_eval_profile_{args.limit}.json"
    runs = json.loads(path.read_text()) if path.is_file() else {}
    runs[args.label] = row
    path.write_text(json.dumps(runs, indent=1) + "\n")
    print(f"| part | seconds | share |\n|---|---|---|\n| imports | {imports:.1f} | |")
    for name, value in parts.items():
        print(f"| {name} | {value:.1f} | {value / wall:.0%} |")
    for name, value in across.items():
        print(f"| ({name}, in all parts) | {value:.1f} | {value / wall:.0%} |")
    print(f"| command wall | {wall:.1f} | 100% |\n{path}")


if __name__ == "__main__":
    main()
