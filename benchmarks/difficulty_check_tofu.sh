#!/usr/bin/env bash
# Which difficulty signal predicts forgetting on TOFU forget10 (issue #28): the embedded model
# fine-tuned as in the reproduction study (lr 1e-4, 5 epochs; here on TOFU's last 30 authors, so
# that forget10's 20 authors have 10 retain authors beside them for GradDiff), then
# `mrd-bench difficulty-check` for GA, GradDiff and NPO on n = 200 of forget10's 400 samples
# (the study's updates settings: lr 1.5e-5, NPO 4e-5, at most 60 updates).
#
#   WORK=/path/to/work MRD_BENCH_DATA_DIR=../shared/data bash benchmarks/difficulty_check_tofu.sh
#
# SIDE_BY_SIDE=1 measures NPO in a second one-thread process beside GA and GradDiff (how the
# recorded result was measured; once GradDiff had finished, the NPO samples left were shared out
# to further one-thread processes by hand). Each sample is measured from the original weights
# with the same seed, so which process measures it does not change its count.
#
# Every step resumes where it stopped (finetune's saved state, the check's per-sample files), so
# the script can be run again after an interruption. Many hours on 2 CPU cores (GradDiff and NPO
# take 0.5-2.5 minutes a sample). It ends by
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
check() {  # OUT METHODS [flags]: the check's settings, on the methods given
  local out=$1 methods=$2
  shift 2
  "$MRD" difficulty-check --model "$WORK/original" --benchmark tofu --split forget10 --retain retain90 \
    --subset-authors 30 --methods "$methods" --lr 1.5e-5 --max-updates 60 --n 200 --out "$out" "$@"
}
if [ "${SIDE_BY_SIDE:-0}" = 1 ] && [ ! -f "$WORK/check/updates_npo.jsonl" ]; then
  # Two one-thread processes, one per core (single-sample updates are small for two threads):
  # GA and GradDiff in $WORK/check, NPO in $WORK/check_npo, whose finished file then joins the
  # others (a check folder takes one run at a time).
  mkdir -p "$WORK/check_npo"
  OMP_NUM_THREADS=1 check "$WORK/check" ga,graddiff --overwrite &
  first=$!
  until [ -f "$WORK/check/scores.meta.json" ] || ! kill -0 "$first" 2>/dev/null; do sleep 10; done
  cp -n "$WORK/check/scores.jsonl" "$WORK/check/scores.meta.json" "$WORK/check_npo/"  # scored once, used by both
  OMP_NUM_THREADS=1 check "$WORK/check_npo" npo --lr-by-method npo=4e-5 --overwrite &
  wait
  cp "$WORK/check_npo/updates_npo.jsonl" "$WORK/check_npo/updates_npo.meta.json" "$WORK/check/"
fi
/usr/bin/time -v "$MRD" difficulty-check --model "$WORK/original" --benchmark tofu --split forget10 \
  --retain retain90 --subset-authors 30 --methods ga,graddiff,npo --lr 1.5e-5 --lr-by-method npo=4e-5 \
  --max-updates 60 --n 200 --out "$WORK/check" --overwrite 2> >(tee "$WORK/check.time" >&2)
for ext in json md png; do
  cp "$WORK/check/check.$ext" "$HERE/results/difficulty_check_tofu_forget10.$ext"
done
