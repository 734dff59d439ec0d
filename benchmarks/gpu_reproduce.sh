#!/usr/bin/env bash
# Runs `mrd-bench reproduce` end to end on a CUDA machine.
# SETTINGS=tiny (the default): twice, once with --device cuda and once with --device cpu (CUDA
#   hidden), at the tiny settings of tests/reproduce/test_reproduce_cli.py, on a tiny Llama built
#   like the tests' one; checks that every stage runs with the GPU (each stage's hardware record
#   says cuda: true) and prints both runs' verdicts side by side.
# SETTINGS=real: the study itself at its real settings (the embedded model, every default of
#   `mrd-bench reproduce`: n = 200, 5 seeds, calibrated protocol runs) with --device cuda, resumable
#   (WORK keeps the stages); writes the report and its data folder to $OUT/report.
# Usage (mrd_bench importable; TOFU under $MRD_BENCH_DATA_DIR): OUT=folder bash benchmarks/gpu_reproduce.sh
# Writes $OUT/{cuda,cpu}_results.json, $OUT/{cuda,cpu}_run_record.json, $OUT/cuda_README.md and
# $OUT/gpu_reproduce.log (tiny), or $OUT/report/ and $OUT/gpu_reproduce_real.log (real).
set -u
OUT=${OUT:-benchmarks/results/gpu_reproduce}
mkdir -p "$OUT"
if [ "${SETTINGS:-tiny}" = real ]; then
  WORK=${WORK:-$OUT/work}
  { nvidia-smi -L
    /usr/bin/time -v python3 -m mrd_bench.cli reproduce --device cuda --work "$WORK" --out "$OUT/report" --overwrite
    echo "rc $?"
  } 2>&1 | tee "$OUT/gpu_reproduce_real.log"
  exit 0
fi
W=$(mktemp -d)
TINY=(--authors 3 --forget-authors 2 --seeds 2 --pairs 2 --alg1-draws 2 --hutchinson-draws 2
      --sensitivity-samples 6 --max-updates 6 --horizon 2 --finetune-epochs 1 --updates-lr 1e-3
      --variance-subsets 2 --variance-size 6 --variance-seeds 2 --protocol-max-updates 4 --protocol-check-every 1
      --calibrate-runs 1 --calibrate-levels 2 --calibrate-start ga=1e-3,graddiff=1e-3,npo=1e-3
      --sampling-methods ga --sampling-seeds 1 --stability-samples 6 --stability-draws 4 --label-seeds 2
      --cud-label-methods ga,npo --cud-label-steps 2 --cud-label-lr 1e-3 --cud-steps 1
      --cud-top-edges 5 --cud-folds 2 --no-progress)
{
  nvidia-smi -L
  python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())"
  python3 -c "
from tests.conftest import build_model, build_tokenizer
t = build_tokenizer(); m = build_model(len(t)); m.save_pretrained('$W/base'); t.save_pretrained('$W/base')"
  for dev in cuda cpu; do
    echo "== reproduce --device $dev"
    t0=$(date +%s)
    if [ "$dev" = cpu ]; then hide=(env CUDA_VISIBLE_DEVICES=); else hide=(); fi
    "${hide[@]}" python3 -m mrd_bench.cli reproduce --model "$W/base" "${TINY[@]}" --device "$dev" \
      --work "$W/work_$dev" --out "$W/out_$dev"
    echo "   rc $? in $(( $(date +%s) - t0 )) s"
    cp "$W/out_$dev/results.json" "$OUT/${dev}_results.json"
    cp "$W/out_$dev/run_record.json" "$OUT/${dev}_run_record.json"
  done
  cp "$W/out_cuda/README.md" "$OUT/cuda_README.md"
  python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
rec = {d: json.load(open(f"{out}/{d}_run_record.json")) for d in ("cuda", "cpu")}
for d, r in rec.items():
    print(d, {name: (s["hardware"].get("cuda"), s["wall_s"]) for name, s in r["stages"].items()})
res = {d: json.load(open(f"{out}/{d}_results.json"))["claims"] for d in ("cuda", "cpu")}
for claim in res["cuda"]:
    print(claim, res["cuda"][claim].get("verdict"), "|", res["cpu"][claim].get("verdict"))
EOF
} 2>&1 | tee "$OUT/gpu_reproduce.log"
