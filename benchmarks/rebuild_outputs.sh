#!/usr/bin/env bash
# Rebuilds every committed output that is built from committed inputs, with its time stamps fixed
# (SOURCE_DATE_EPOCH, the reproducible-builds convention), then prints what changed. A change
# meant to keep behaviour (a refactor) must leave the list empty: `git status` shows nothing.
#
#   bash benchmarks/rebuild_outputs.sh            # uses .venv/bin, ../shared/data
#
# Rebuilt: the leaderboards (`mrd-bench leaderboard build`), the example audits (`mrd-bench audit`),
# the benchmark summary (`benchmarks/summarize.py`) and, when its data folder is committed, the
# reproduction report (`mrd-bench reproduce --data`, compared file by file with the committed one).
# Outputs that need training or scoring runs (the boards' entries, the benchmarks' results, the
# study's runs) are measurements: their commands are in benchmarks/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1796515200}   # 2026-12-06T00:00:00Z
export MRD_BENCH_DATA_DIR=${MRD_BENCH_DATA_DIR:-$(cd .. && pwd)/shared/data}
for board in leaderboards/*/board.json; do
  "$BIN/mrd-bench" leaderboard build "$(dirname "$board")" >/dev/null
done
for claim in leaderboards/audits/*/*.json; do
  case "$claim" in */times.json) continue ;; esac
  "$BIN/mrd-bench" audit "$claim" --overwrite >/dev/null
done
"$BIN/python" benchmarks/summarize.py >/dev/null
if [ -f reports/reproduction/data/study.json ]; then
  tmp=$(mktemp -d)
  "$BIN/mrd-bench" reproduce --data reports/reproduction/data --out "$tmp/report" >/dev/null
  diff -r -x data -x run_record.json reports/reproduction "$tmp/report" && echo "reproduction report: identical"
  rm -rf "$tmp"
fi
echo "changed by the rebuild (empty when every output is byte-identical):"
git status --porcelain -- leaderboards benchmarks/results reports
