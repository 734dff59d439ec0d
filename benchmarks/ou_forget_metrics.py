"""open-unlearning's forget metrics from mrd_bench's TOFU tasks, on the embedded model, beside
open-unlearning's own values for the same model and split, and what each costs (a measurement,
not a test).

    MRD_BENCH_DATA_DIR=../shared/data python benchmarks/ou_forget_metrics.py [--base REV] [--batch-size 8]

Three timed runs of `mrd-bench eval --model hf-mrd --apply_chat_template` on TOFU forget10 (the
embedded checkpoint, float32, the shipped annotation), each in its own process:
1. `tofu_forget_mrd_mia,tofu_forget_mrd_tr` (every new metric but GradNorm rides on these passes);
2. first, the same two tasks with the code at `--base REV` (a git worktree of the commit before the new
   metrics), so the cost they add is measured in the same run, on the same machine;
3. `tofu_forget_mrd_gradnorm` (off by default: a forward and a backward pass per document).
Results: benchmarks/results/ou_forget_metrics.json (values, wall times, peak RSS, the commands).
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from mrd_bench.io import write_json
from mrd_bench.cache import cache_dir
from mrd_bench.models import EMBEDDED, export_model
from mrd_bench.provenance import record

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
# open-unlearning's TOFU evaluation of forget10 on the same embedded model (SmolLM2-135M-Instruct,
# float32, its chat template): the values its summary prints
OPEN_UNLEARNING = {"privleak": 29.6, "extraction_strength": 0.0587, "para_prob": 0.0623, "pert_prob": 0.0565}
METRICS = {"tofu_forget_mrd_mia": ("prob", "fa", "extraction_strength", "min_k_auc", "loss_auc", "zlib_auc",
                                   "min_k_pp_auc", "privleak", "privleak_loss", "privleak_zlib", "privleak_min_k_pp"),
           "tofu_forget_mrd_tr": ("truth_ratio", "para_prob", "pert_prob"),
           "tofu_forget_mrd_gradnorm": ("gradnorm_auc", "privleak_gradnorm")}


def timed(cmd: list[str], cwd: Path | None = None) -> dict:
    """Run under /usr/bin/time -v: wall seconds, peak RSS (GB) and the exit status."""
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, cwd=cwd)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    seconds = (int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))) if wall else None
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return {"wall_s": round(seconds, 1), "peak_rss_gb": round(int(rss.group(1)) / 1e6, 2), "exit": proc.returncode}


def values(out: Path, tasks: list[str]) -> dict:
    results = json.loads(next(out.rglob("results_*.json")).read_text())["results"]
    return {t: {k.split(",")[0]: v for k, v in results[t].items() if "," in k and "stderr" not in k
                and k.split(",")[0].removesuffix("_easy").removesuffix("_medium").removesuffix("_hard")
                .removesuffix("_reweighted") in METRICS[t]} for t in tasks if t in results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", help="a commit before the new metrics, timed on the same tasks (optional)")
    parser.add_argument("--batch-size", default="8")
    parser.add_argument("--runs", default="mia_tr_base,mia_tr,gradnorm",
                        help="which runs to time (the others are kept from the results file, with the commit each "
                             "timed)")
    args = parser.parse_args()
    chosen = set(args.runs.split(","))
    checkpoint = cache_dir() / "models" / EMBEDDED
    if not (checkpoint / "model.safetensors").is_file():
        export_model(EMBEDDED, checkpoint)
    common = ["--model", "hf-mrd", "--model_args", f"pretrained={checkpoint},dtype=float32", "--apply_chat_template",
              "--metadata", json.dumps({"split": "forget10"}), "--device", "cpu", "--batch_size", args.batch_size]
    runs, measured = {}, {}
    previous = RESULTS / "ou_forget_metrics.json"
    if previous.is_file():  # the runs not chosen this time, as recorded (each names the code it timed)
        old = json.loads(previous.read_text())
        runs = {k: v for k, v in old.get("runs", {}).items() if k not in chosen}
        measured = {k: v for k, v in old.get("values", {}).items()
                    if not ("mia_tr" in chosen and k in ("tofu_forget_mrd_mia", "tofu_forget_mrd_tr"))
                    and not ("gradnorm" in chosen and k == "tofu_forget_mrd_gradnorm")}
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE.parent)
    dirty = subprocess.run(["git", "status", "--porcelain", "mrd_bench", "tasks"], capture_output=True, text=True,
                           cwd=HERE.parent).stdout.strip()
    code = head.stdout.strip() + (" (with uncommitted changes)" if dirty else "")

    def save() -> None:
        side = {m: {"mrd_bench": next((v[m] for v in measured.values() if m in v), None), "open_unlearning": ou}
                for m, ou in OPEN_UNLEARNING.items()}
        write_json(RESULTS / "ou_forget_metrics.json",
                   record(model=EMBEDDED, split="forget10", chat_template=True, batch_size=args.batch_size, runs=runs,
                          values=measured, beside_open_unlearning=side,
                          note="each run alone on the machine, one after another, with the same flags"))
        print(json.dumps(side, indent=1), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        plan = [("mia_tr", ["tofu_forget_mrd_mia", "tofu_forget_mrd_tr"], args.base),
                ("mia_tr", ["tofu_forget_mrd_mia", "tofu_forget_mrd_tr"], None),
                ("gradnorm", ["tofu_forget_mrd_gradnorm"], None)]
        for name, tasks, commit in plan if args.base else plan[1:]:
            label = f"{name}_base" if commit else name
            if label not in chosen:
                continue
            out = Path(tmp) / label
            cwd = None
            if commit:  # the code before the new metrics, from a git worktree, timed on the same tasks
                cwd = Path(tmp) / "base"
                subprocess.run(["git", "worktree", "add", "--detach", str(cwd), commit], check=True, cwd=HERE.parent,
                               capture_output=True)
            cmd = [sys.executable, "-m", "mrd_bench.cli", "eval", *common, "--tasks", ",".join(tasks),
                   "--output_path", str(out), "--log_samples"]
            try:
                runs[label] = {"command": " ".join(cmd[1:]), "commit": commit or code, **timed(cmd, cwd)}
            finally:
                if commit:
                    subprocess.run(["git", "worktree", "remove", "--force", str(cwd)], cwd=HERE.parent)
            if not commit:
                measured.update(values(out, tasks))
            print(label, runs[label], flush=True)
            save()

if __name__ == "__main__":
    main()
