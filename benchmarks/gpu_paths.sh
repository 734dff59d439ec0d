#!/usr/bin/env bash
# Runs mrd_bench's GPU paths once on a CUDA machine and records what ran, beside the same commands
# on that machine's CPU (CUDA_VISIBLE_DEVICES=""):
#   - MRD scoring (`mrd-bench score`) and CUD (`cud-labels`, `score --metric cud`) on a tiny Llama;
#   - training through `accelerate launch -m mrd_bench.cli unlearn`;
#   - lm-eval through `accelerate launch -m mrd_bench.cli eval --model hf-mrd`;
#   - CUD attribution speed (benchmarks/cud_speed.py) on a model of SmolLM2-135M's shape;
#   - the unlearning and CUD end-to-end tests with CUDA visible.
# Usage (mrd_bench installed; TOFU under $MRD_BENCH_DATA_DIR):
#   OUT=folder bash benchmarks/gpu_paths.sh [SMOL_CONFIG_DIR]
# SMOL_CONFIG_DIR holds config.json + tokenizer files of SmolLM2-135M-Instruct (no weights needed:
# the speed run draws random weights of that shape; attribution costs the same for any weights).
# Writes $OUT/gpu_paths.json (steps, exit codes, wall times, CPU-vs-CUDA agreement), $OUT/cud_speed_cuda.json
# and $OUT/logs.tar.gz (one log per step).
set -u
OUT=${OUT:-benchmarks/results/gpu_paths}
SMOL=${1:-}
mkdir -p "$OUT"
W=$(mktemp -d)
LOGS="$W/logs"; mkdir -p "$LOGS"
STEPS="$LOGS/steps.jsonl"
: > "$STEPS"
TOFU=(--benchmark tofu --split forget01 --no-progress)
FICT=(--benchmark fictitious --forget forget20 --no-progress)

step() {  # step NAME CMD...: run, log to $OUT/NAME.log, append {step, rc, wall_s, command} to steps.jsonl
  local name=$1; shift
  local t0; t0=$(date +%s.%N)
  echo "== $name: $*"
  "$@" > "$LOGS/$name.log" 2>&1
  local rc=$?
  python3 - "$name" "$rc" "$t0" "$*" >> "$STEPS" <<'EOF'
import json, sys, time
name, rc, t0, cmd = sys.argv[1:]
print(json.dumps({"step": name, "rc": int(rc), "wall_s": round(time.time() - float(t0), 2), "command": cmd}))
EOF
  echo "   rc $rc"; tail -n 3 "$LOGS/$name.log"
  python3 "$W/summary.py" "$W" "$OUT" > /dev/null 2>&1
  tar -czf "$OUT/logs.tar.gz" -C "$W" logs
  }
cpu() { CUDA_VISIBLE_DEVICES="" "$@"; }

# the summary, rewritten after every step so that a run cut short still reports what it did
cat > "$W/summary.py" <<'EOF'
import json, math, sys, platform
from pathlib import Path
from scipy.stats import spearmanr
import torch
from safetensors.torch import load_file

w, out = Path(sys.argv[1]), Path(sys.argv[2])
steps = [json.loads(l) for l in (w / "logs" / "steps.jsonl").read_text().splitlines() if l.strip()]

def rows(name):
    p = w / name
    return {r["sample_id"]: r for r in map(json.loads, p.read_text().splitlines())} if p.is_file() else {}

def agree(a, b):
    a, b = rows(a), rows(b)
    ids = sorted(set(a) & set(b))
    if not ids:
        return None
    x, y = [a[i]["score"] for i in ids], [b[i]["score"] for i in ids]
    rel = max(abs(p - q) / max(abs(q), 1e-12) for p, q in zip(x, y))
    return {"samples": len(ids), "spearman": spearmanr(x, y).statistic, "max_abs_diff": max(abs(p - q) for p, q in zip(x, y)),
            "max_rel_diff": rel, "same_bins": sum(a[i]["bin"] == b[i]["bin"] for i in ids)}

def weights(name):
    f = w / name / "model.safetensors"
    return load_file(str(f)) if f.is_file() else None

def record(name):
    f = w / name / "run_record.json"
    return json.loads(f.read_text()) if f.is_file() else {}

def eval_results(name):
    files = sorted((w / name).rglob("results_*.json"))
    return json.loads(files[-1].read_text())["results"] if files else {}

summary = {"host": platform.node(), "gpu": (w / "logs" / "gpu.txt").read_text().strip().splitlines()[1:],
           "torch": torch.__version__, "cuda": torch.version.cuda, "steps": steps,
           "mrd_cuda_vs_cpu": agree("mrd_cuda.jsonl", "mrd_cpu.jsonl"),
           "cud_cuda_vs_cpu": agree("cud_cuda.jsonl", "cud_cpu.jsonl")}
for name in ("mrd_cuda", "cud_cuda"):  # where each scoring run says it ran
    meta = w / f"{name}.meta.json"
    summary[f"{name}_hardware"] = json.loads(meta.read_text()).get("hardware") if meta.is_file() else None
a, b = weights("unlearn_cuda"), weights("unlearn_cpu")
base = load_file(str(w / "tiny" / "model.safetensors"))
if a and b:
    moved = sum(float((b[k] - base[k]).abs().sum()) for k in b)
    summary["unlearn_cuda_vs_cpu"] = {"max_abs_weight_diff": max(float((a[k] - b[k]).abs().max()) for k in a),
                                      "relative_l1_of_update": sum(float((a[k] - b[k]).abs().sum()) for k in a) / moved,
                                      "cuda_record_hardware": record("unlearn_cuda").get("hardware"),
                                      "cuda_record_processes": record("unlearn_cuda").get("processes")}
ec, ep = eval_results("eval_cuda"), eval_results("eval_cpu")
diffs = {}
for task, metrics in ec.items():
    for k, v in metrics.items():
        other = ep.get(task, {}).get(k)
        if isinstance(v, float) and isinstance(other, float) and math.isfinite(v) and math.isfinite(other):
            diffs[f"{task}/{k}"] = abs(v - other)
summary["eval_cuda_vs_cpu"] = {"metrics_compared": len(diffs), "max_abs_diff": max(diffs.values()) if diffs else None,
                               "worst": max(diffs, key=diffs.get) if diffs else None}
speed = out / "cud_speed_cuda.json"
if speed.is_file():
    s = json.loads(speed.read_text())
    summary["cud_speed_cuda"] = {k: s.get(k) for k in ("samples", "attribute_s", "bare_s", "ratio",
                                                      "attribute_s_per_sample", "median_batch_ratio")}
(out / "gpu_paths.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
print(json.dumps({k: v for k, v in summary.items() if k != "steps"}, indent=2, default=str))
print("steps:", [(s["step"], s["rc"], s["wall_s"]) for s in steps])
EOF

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$LOGS/gpu.txt" 2>&1
python3 -c "from tests.conftest import build_model, build_tokenizer
t = build_tokenizer(); m = build_model(len(t)); m.save_pretrained('$W/tiny'); t.save_pretrained('$W/tiny')"

# MRD scoring: CUDA, then the CPU
step mrd_cuda mrd-bench score --model "$W/tiny" "${TOFU[@]}" --k 4 --out "$W/mrd_cuda.jsonl"
step mrd_cpu cpu mrd-bench score --model "$W/tiny" "${TOFU[@]}" --k 4 --out "$W/mrd_cpu.jsonl"

# CUD: labels from the unlearners (training on CUDA), attribution on CUDA and on the CPU from the same labels
step cud_labels_cuda mrd-bench cud-labels --model "$W/tiny" "${TOFU[@]}" --retain retain99 \
  --methods ga,graddiff,npo,po --steps 2 --lr 1e-3 --q 0.3 --min-votes 2 --out "$W/labels.json"
step cud_cuda mrd-bench score --metric cud --model "$W/tiny" "${TOFU[@]}" --labels "$W/labels.json" \
  --steps 2 --folds 2 --top-edges 6 --out "$W/cud_cuda.jsonl"
step cud_cpu cpu mrd-bench score --metric cud --model "$W/tiny" "${TOFU[@]}" --labels "$W/labels.json" \
  --steps 2 --folds 2 --top-edges 6 --out "$W/cud_cpu.jsonl"

# training through accelerate launch (one process on the GPU), and the same run on the CPU
step unlearn_accelerate_cuda accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no \
  --dynamo_backend no -m mrd_bench.cli unlearn --model "$W/tiny" "${FICT[@]}" --method graddiff \
  --retain retain80 --epochs 1 --batch-size 4 --lr 1e-3 --out "$W/unlearn_cuda"
step unlearn_cpu cpu mrd-bench unlearn --model "$W/tiny" "${FICT[@]}" --method graddiff \
  --retain retain80 --epochs 1 --batch-size 4 --lr 1e-3 --out "$W/unlearn_cpu"

# lm-eval through accelerate launch with hf-mrd on the GPU, and the same tasks on the CPU
step eval_accelerate_cuda accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no \
  --dynamo_backend no -m mrd_bench.cli eval --model hf-mrd --model_args "pretrained=$W/tiny" \
  --tasks tofu_forget_mrd --metadata '{"split": "forget01"}' --device cuda --batch_size 32 \
  --output_path "$W/eval_cuda"
step eval_cpu cpu mrd-bench eval --model hf-mrd --model_args "pretrained=$W/tiny" \
  --tasks tofu_forget_mrd --metadata '{"split": "forget01"}' --device cpu --batch_size 32 \
  --output_path "$W/eval_cpu"

# CUD attribution speed at SmolLM2-135M's shape on the GPU
if [ -n "$SMOL" ]; then
  python3 -c "import torch; from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
torch.manual_seed(0); c = AutoConfig.from_pretrained('$SMOL'); m = AutoModelForCausalLM.from_config(c, dtype=torch.float32)
m.save_pretrained('$W/smol'); AutoTokenizer.from_pretrained('$SMOL').save_pretrained('$W/smol')"
  step cud_speed_cuda python3 benchmarks/cud_speed.py --model "$W/smol" --split forget10 --device cuda
  cp benchmarks/results/cud_speed_cuda.json "$OUT/" 2>/dev/null
fi

# the unlearning and CUD end-to-end tests with CUDA visible
[ "${GPU_PATHS_TESTS:-1}" = 1 ] && step pytest_cuda timeout 300 python3 -m pytest -q -p no:cacheprovider --timeout 100 tests/e2e/test_cud_cli.py tests/e2e/test_unlearn_cli.py \
  tests/scorers/test_eap.py
python3 "$W/summary.py" "$W" "$OUT"
