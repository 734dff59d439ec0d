"""Do the speed paths change any generated text? (a check on the embedded model, not a test)

    MRD_BENCH_DATA_DIR=../shared/data python benchmarks/same_texts.py [--limit N]

Runs the generation tasks of the `tofu_mrd` group (forget, retain, real authors and world facts
ROUGE: every greedy generation the suite makes) on forget10 through `mrd-bench eval --model hf-mrd
--log_samples`, the settings of `tofu_eval_speed.py` (embedded model, float32, chat template,
batch 32), once with the speed paths on (`after`) and once off (`before`: reuse_prefix=False,
drop_finished=False, so lm-eval's HFLM generates in batches of 32), and compares every logged
response, document by document. Each command's output folder is kept in the cache folder under
a key of the settings, the weights and the mrd_bench source, so a restart skips a finished one.
Writes benchmarks/results/same_texts[_N].json (replaced only with --overwrite).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from tofu_eval_speed import BEFORE, RESULTS, source_hash

from mrd_bench.cache import cache_dir
from mrd_bench.io import guard_output, write_json
from mrd_bench.leaderboard.untrusted import sha256
from mrd_bench.models import EMBEDDED, export_model
from mrd_bench.provenance import record
from mrd_bench.reproduce.study import key_hash

TASKS = "tofu_forget_mrd_rouge,tofu_retain_mrd_rouge,tofu_real_authors_rouge,tofu_world_facts_rouge"


def responses(out: Path) -> dict[str, dict[int, str]]:
    """task -> doc_id -> the generated text, from lm-eval's samples files in `out`."""
    texts: dict[str, dict[int, str]] = {}
    for path in sorted(out.rglob("samples_*.jsonl")):
        task = path.name[len("samples_"):].rsplit("_", 1)[0]
        for line in path.read_text().splitlines():
            row = json.loads(line)
            texts.setdefault(task, {})[row["doc_id"]] = row["resps"][0][0]
    return texts


def evaluate(checkpoint: Path, out: Path, split: str, limit: int | None, extra: str) -> dict:
    if not (out / "done").is_file():
        cmd = [sys.executable, "-m", "mrd_bench.cli", "eval", "--model", "hf-mrd",
               "--model_args", f"pretrained={checkpoint},dtype=float32{extra}", "--tasks", TASKS,
               "--batch_size", "32", "--device", "cpu", "--output_path", str(out), "--log_samples",
               "--apply_chat_template", "--metadata", json.dumps({"split": split})]
        if limit:
            cmd += ["--limit", str(limit)]
        subprocess.run(cmd, check=True)
        (out / "done").write_text("")
    return responses(out)


def compare(after: dict[str, dict[int, str]], before: dict[str, dict[int, str]]) -> dict:
    """Per task: documents compared, how many texts differ, and the first few that do."""
    rows = {}
    for task in sorted(after.keys() | before.keys()):
        a, b = after.get(task, {}), before.get(task, {})
        differ = [d for d in sorted(a.keys() & b.keys()) if a[d] != b[d]]
        rows[task] = {"compared": len(a.keys() & b.keys()), "only_one_side": len(a.keys() ^ b.keys()),
                      "differ": len(differ), "examples": [{"doc_id": d, "after": a[d], "before": b[d]}
                                                          for d in differ[:5]]}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="forget10")
    parser.add_argument("--limit", type=int, help="first N documents of each task (a trial run)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing results file")
    args = parser.parse_args()
    name = f"same_texts{'_' + str(args.limit) if args.limit else ''}.json"
    guard_output(RESULTS / name, args.overwrite)
    checkpoint = cache_dir() / "models" / EMBEDDED
    if not (checkpoint / "model.safetensors").is_file():
        export_model(EMBEDDED, checkpoint)
    settings = {"split": args.split, "limit": args.limit, "tasks": TASKS, "batch_size": 32,
                "weights_sha256": sha256(checkpoint / "model.safetensors"), "source_sha256": source_hash()}
    work = cache_dir() / "benchmarks" / "same_texts" / key_hash(settings)[:16]
    after = evaluate(checkpoint, work / "after", args.split, args.limit, "")
    before = evaluate(checkpoint, work / "before", args.split, args.limit, BEFORE)
    tasks = compare(after, before)
    total = sum(t["compared"] for t in tasks.values())
    differ = sum(t["differ"] + t["only_one_side"] for t in tasks.values())
    out = write_json(RESULTS / name, record(settings=settings, before_model_args=BEFORE.lstrip(","),
                                            texts_compared=total, texts_differ=differ, tasks=tasks))
    print(f"{total} generated texts compared, {differ} differ -> {out}")


if __name__ == "__main__":
    main()
