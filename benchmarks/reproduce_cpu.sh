#!/usr/bin/env bash
# The reproduction study on this project's 2-core CPU machines, a few hours at a time.
# Each stage resumes from its own files, and the stage folders live in the repository
# (reports/study_stages/, the fine-tuned checkpoint excepted), so a session that ends
# mid-study commits them and the next one picks up where it stopped:
#   nice -n 19 bash benchmarks/reproduce_cpu.sh > run.log 2>&1 &
# The fine-tuned original is rebuilt in each fresh checkout; the stage refuses to go on
# if its weights' hash differs from the one recorded beside the stages (a run that mixed
# two originals would be meaningless).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-reports/study_stages}
BIN=${BIN:-.venv/bin}
export MRD_BENCH_DATA_DIR=${MRD_BENCH_DATA_DIR:-$(cd .. && pwd)/shared/data}
ORDER="original baselines mrd_definition updates_ga calibrate stability sensitivity labels cud updates_npo mrd_alg1
       updates_graddiff mrd_hutchinson subsets samplers"
for stage in $ORDER; do
  echo "== $(date -u +%FT%TZ) $stage"
  "$BIN/mrd-bench" reproduce --work "$WORK" --stages "$stage" --out /tmp/study_report --overwrite
  if [ "$stage" = original ]; then
    "$BIN/python" - "$WORK" <<'PY'
import json, sys
from pathlib import Path
work = Path(sys.argv[1])
now = json.loads((work / "original" / "done.json").read_text())["result"]["model_hash"]
pin = work / "original_hash.json"
if pin.is_file() and json.loads(pin.read_text()) != now:
    sys.exit(f"the fine-tuned original's weights differ from the ones the committed stages used ({pin}); "
             "the stages cannot be mixed: move reports/study_stages aside and start over")
pin.write_text(json.dumps(now, indent=1) + "\n")
print("original's weights:", now)
PY
  fi
done
echo "== $(date -u +%FT%TZ) all stages done"
