#!/usr/bin/env bash
# Which difficulty signal predicts forgetting on TOFU forget10 (issue #28): the embedded model
# fine-tuned as in the reproduction study (lr 1e-4, 5 epochs; here on TOFU's last 30 authors, so
# that forget10's 20 authors have 10 retain authors beside them for GradDiff), then
# `mrd-bench difficulty-check` for GA, GradDiff and NPO on n = 200 of forget10's 400 samples
# (the study's updates settings: lr 1.5e-5, NPO 4e-5, at most 60 updates).
#
#   WORK=/path/to/work MRD_BENCH_DATA_DIR=../shared/data bash benchmarks/difficulty_check_tofu.sh
#
# Every step resumes where it stopped (finetune's saved state, the check's per-sample files), so
# the script can be run again after an interruption. About 3 hours on 2 CPU cores. It ends by
# copying the check's JSON, Markdown and plot into benchmarks/results/.
set -euo pipefail
WORK=${WORK:-difficulty_check_work}
HERE=$(cd "$(dirname "$0")" && pwd)
MRD=${MRD:-mrd-bench}
mkdir -p "$WORK"
if [ ! -f "$WORK/original/config.json" ]; then
  /usr/bin/time -v "$MRD" finetune --benchmark tofu --split full --subset-authors 30 --lr 1e-4 --epochs 5 \
    --out "$WORK/original" 2> >(tee "$WORK/finetune.time" >&2)
fi
/usr/bin/time -v "$MRD" difficulty-check --model "$WORK/original" --benchmark tofu --split forget10 \
  --retain retain90 --subset-authors 30 --methods ga,graddiff,npo --lr 1.5e-5 --lr-by-method npo=4e-5 \
  --max-updates 60 --n 200 --out "$WORK/check" --overwrite 2> >(tee "$WORK/check.time" >&2)
for ext in json md png; do
  cp "$WORK/check/check.$ext" "$HERE/results/difficulty_check_tofu_forget10.$ext"
done
