"""TOFU evaluation speed against open-unlearning's (a measurement, not a test).

    MRD_BENCH_DATA_DIR=../shared/data python benchmarks/tofu_eval_speed.py [--before] [--per-task]
        [--tasks tofu_mrd,wmdp_cyber_mrd,whp_forget_mrd] [--limit N] [--other-limit N]

The `tofu_mrd` group (forget, retain, real authors, world facts: every metric) on forget10
through `mrd-bench eval --model hf-mrd` on the embedded model (float32, chat template, batch
32), one command under /usr/bin/time: its wall time and peak resident memory (`wall_s`,
`peak_rss_gb`). In the same run, the bare floors: the answer log-likelihoods of the split's
questions in batches of 32 (`floor_loglik_s`) and padded greedy generation of up to 200 tokens
for each of them (`floor_generate_s`), as open-unlearning generates; with `--suite-floors`, the
same two floors over all the suite's work, every request lm-eval builds for forget, retain, real
authors and world facts (`floor_suite_loglik_s`, `floor_suite_generate_s`). `--before` also runs each
command with the speed paths off (model_args reuse_prefix=False,drop_finished=False) and
compares the metrics; `--per-task` times each TOFU subgroup alone too. Tasks other than TOFU's
run on their first `--other-limit` documents (default 50: WMDP-cyber's 1,987 long questions
would take hours a run on 2 cores). With `--ou-repo OU_CLONE` (a git clone of open-unlearning),
the same run also times open-unlearning's own TOFU evaluation of the same checkpoint and split
(benchmarks/ou_tofu_eval.py: its pinned commit, its own virtual environment, the local TOFU
files), so `ratio_to_ou` compares two times from one machine and one run. Results:
benchmarks/results/tofu_eval_speed.json (tofu_eval_speed_<limit>.json with --limit); an
existing one is replaced only with --overwrite.

The whole measurement takes hours on 2 cores, so it is resumable: each finished step (the
floors, each command) is kept in the cache folder under a key of the settings, the weights and
the mrd_bench source it timed; the same command started again skips those steps. A change to
mrd_bench's code starts it over (--overwrite discards a partial run on purpose). Each step
records when and where it ran. `--redo floors,tofu_mrd/after` measures those finished steps
again (say, when the machine was not idle while they ran); the new rows replace the old.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import torch

import mrd_bench
from mrd_bench.errors import MrdBenchError
from mrd_bench.leaderboard.untrusted import sha256
from mrd_bench.io import drop_torn_tail, guard_output, open_partial, read_partial_rows, write_json
from mrd_bench.cache import cache_dir
from mrd_bench.models import EMBEDDED, export_model, weights_hash
from mrd_bench.provenance import record
from mrd_bench.reproduce.study import key_hash

RESULTS = Path(__file__).parent / "results"
SUBGROUPS = ["tofu_forget_mrd", "tofu_retain_mrd", "tofu_real_authors", "tofu_world_facts"]
BEFORE = ",reuse_prefix=False,drop_finished=False"
# open-unlearning's evaluation as an earlier session recorded it on another machine: context only (CPU times do
# not carry across machines); the goal is judged on `ou_wall_s`, measured in the same run (--ou-repo)
OPEN_UNLEARNING = {"wall_s": 2809.5, "peak_rss_gb": 5.41, "floor_loglik_s": [57, 90], "floor_generate_s": 508}
GOAL = {"ratio_to_ou": 0.25, "peak_rss_gb": 2.5}


def run(checkpoint: Path, task: str, split: str, limit: int | None, extra: str) -> dict:
    """One `mrd-bench eval` command under /usr/bin/time -v: wall, peak RSS, metrics."""
    with tempfile.TemporaryDirectory() as out:
        cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "mrd_bench.cli", "eval", "--model", "hf-mrd",
               "--model_args", f"pretrained={checkpoint},dtype=float32{extra}", "--tasks", task,
               "--batch_size", "32", "--device", "cpu", "--output_path", out]
        if task.startswith("tofu"):  # chat prompts, as the embedded model answers; WMDP and WHP as shipped
            cmd += ["--apply_chat_template", "--metadata", json.dumps({"split": split})]
        if limit:
            cmd += ["--limit", str(limit)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{task} failed:\n{proc.stderr[-3000:]}")
        peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
        result = json.loads(next(Path(out).rglob("results_*.json")).read_text())
    metrics = {f"{t}/{k.split(',')[0]}": v for t, block in result["results"].items() for k, v in block.items()
               if "," in k and "stderr" not in k and isinstance(v, (int, float))}
    print(f"{task:22s}{' (before)' if extra else '         '} {wall:8.1f} s  {peak_kb / 2**20:.2f} GB", flush=True)
    return {"task": task, "wall_s": round(wall, 1), "peak_rss_gb": round(peak_kb / 2**20, 3), "metrics": metrics}


# open-unlearning's name for a value (TOFU_EVAL.json) -> the same quantity in `tofu_mrd`'s results
OU_NAMES = {
    "forget_Q_A_Prob": "tofu_forget_mrd_mia/prob", "forget_Q_A_ROUGE": "tofu_forget_mrd_rouge/rougeL_recall",
    "forget_truth_ratio": "tofu_forget_mrd_tr/truth_ratio", "forget_Q_A_PARA_Prob": "tofu_forget_mrd_tr/para_prob",
    "forget_Q_A_PERT_Prob": "tofu_forget_mrd_tr/pert_prob",
    "extraction_strength": "tofu_forget_mrd_mia/extraction_strength", "mia_min_k": "tofu_forget_mrd_mia/min_k_auc",
    "privleak": "tofu_forget_mrd_mia/privleak",
    "retain_Q_A_Prob": "tofu_retain_mrd_prob/prob", "retain_Q_A_ROUGE": "tofu_retain_mrd_rouge/rougeL_recall",
    "retain_Truth_Ratio": "tofu_retain_mrd_prob/truth_ratio",
    "ra_Q_A_Prob_normalised": "tofu_real_authors_prob/prob", "ra_Q_A_ROUGE": "tofu_real_authors_rouge/rougeL_recall",
    "ra_Truth_Ratio": "tofu_real_authors_prob/truth_ratio",
    "wf_Q_A_Prob_normalised": "tofu_world_facts_prob/prob", "wf_Q_A_ROUGE": "tofu_world_facts_rouge/rougeL_recall",
    "wf_Truth_Ratio": "tofu_world_facts_prob/truth_ratio",
}
UTILITY = ["retain_Q_A_Prob", "retain_Q_A_ROUGE", "retain_Truth_Ratio", "ra_Q_A_Prob_normalised", "ra_Q_A_ROUGE",
           "ra_Truth_Ratio", "wf_Q_A_Prob_normalised", "wf_Q_A_ROUGE", "wf_Truth_Ratio"]


def versus_ou(ours: dict, ou_values: dict) -> list[dict]:
    """Each value open-unlearning reports beside ours for the same quantity (model utility: the
    harmonic mean of our nine), with the gap relative to the larger where it is above 1."""
    from mrd_bench.metrics.model_utility import model_utility

    mine = {name: ours.get(key) for name, key in OU_NAMES.items()}
    if all(isinstance(mine[name], (int, float)) for name in UTILITY):
        mine["model_utility"] = model_utility({name: mine[name] for name in UTILITY})
    rows = []
    for name, value in mine.items():
        theirs = ou_values.get(name)
        if isinstance(value, (int, float)) and isinstance(theirs, (int, float)):
            rows.append({"ou": name, "ours": OU_NAMES.get(name, "harmonic mean of the nine"), "ou_value": theirs,
                         "our_value": value, "gap": largest_gap({"v": value}, {"v": theirs})})
    return rows


def largest_gap(a: dict, b: dict) -> float:
    """The largest difference of two runs' metrics, relative where a value is above 1 (NaN = NaN)."""
    gaps = [0.0]
    for key in a.keys() & b.keys():
        x, y = float(a[key]), float(b[key])
        if x != x and y != y:
            continue
        gaps.append(abs(x - y) / max(1.0, abs(x), abs(y)))
    return max(gaps)


@torch.no_grad()
def loglik_floor(model, pairs: list, pad: int) -> float:
    """Seconds to score every (context ids, continuation ids) pair in one forward each, longest first in
    batches of 32, through the full-vocabulary log-softmax."""
    order = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][0]) - len(pairs[i][1]))
    start = time.perf_counter()
    for at in range(0, len(order), 32):
        batch = [pairs[i][0] + pairs[i][1] for i in order[at:at + 32]]
        width = max(map(len, batch))
        ids = torch.tensor([b + [pad] * (width - len(b)) for b in batch])
        mask = torch.tensor([[1] * len(b) + [0] * (width - len(b)) for b in batch])
        logp = model(input_ids=ids, attention_mask=mask).logits.log_softmax(-1)
        for r, i in enumerate(order[at:at + 32]):
            n, m = len(pairs[i][0]), len(pairs[i][1])
            logp[r, n - 1:n + m - 1].gather(-1, ids[r, n:n + m, None]).sum()
    return time.perf_counter() - start


def generate_floor(model, tok, prompts: list[str], budget, pad: int) -> float:
    """Seconds of Hugging Face's padded greedy generate over `prompts` in batches of 32, in their order,
    `budget(chunk)` new tokens at most per batch."""
    tok.padding_side = "left"
    start = time.perf_counter()
    for at in range(0, len(prompts), 32):
        chunk = prompts[at:at + 32]
        enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
        model.generate(**enc, max_new_tokens=budget(chunk), do_sample=False, pad_token_id=pad)
    return time.perf_counter() - start


def floors(checkpoint: Path, split: str, limit: int | None) -> dict:
    """The bare cost of the two kinds of work: answer log-likelihoods, padded greedy generation."""
    from mrd_bench.data import load
    from mrd_bench.models import load_model

    model, tok = load_model(str(checkpoint))
    rows = load("tofu", split)
    rows = rows.select(range(min(limit, len(rows)))) if limit else rows
    prompts = [tok.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True, tokenize=False)
               for q in rows["question"]]
    pairs = [(tok(p, add_special_tokens=False).input_ids, tok(a, add_special_tokens=False).input_ids)
             for p, a in zip(prompts, rows["answer"])]
    loglik = loglik_floor(model, pairs, tok.pad_token_id)
    generate = generate_floor(model, tok, prompts, lambda chunk: 200, tok.pad_token_id)
    print(f"floors: log-likelihoods {loglik:.1f} s, generation {generate:.1f} s ({len(pairs)} questions)", flush=True)
    return {"floor_loglik_s": round(loglik, 1), "floor_generate_s": round(generate, 1), "floor_questions": len(pairs),
            "model_hash": weights_hash(model)}


def suite_requests(checkpoint: Path, split: str, limit: int | None):
    """Every request lm-eval builds for the tofu_mrd group, as `mrd-bench eval` has it (chat template,
    this split): the distinct (context, continuation) token pairs of the log-likelihoods, and the
    distinct generation prompts with their token budgets; and the model (hf-mrd) that encoded them."""
    from lm_eval.api.registry import get_model
    from lm_eval.tasks import TaskManager

    import mrd_bench.lmeval.model  # noqa: F401  (registers hf-mrd)
    from mrd_bench.lmeval.paths import tasks_dir

    lm = get_model("hf-mrd").create_from_arg_string(f"pretrained={checkpoint},dtype=float32",
                                                    {"batch_size": 32, "device": "cpu"})
    manager = TaskManager(include_path=str(tasks_dir()), metadata={"pretrained": str(checkpoint), "split": split})
    loglik, generate = {}, {}
    for task in manager.load(["tofu_mrd"])["tasks"].values():
        task.build_all_requests(limit=limit, apply_chat_template=True, chat_template=lm.apply_chat_template,
                                tokenizer_name=lm.tokenizer_name)
        for instance in task.instances:
            if instance.request_type == "loglikelihood":
                loglik[tuple(instance.args)] = None
            elif instance.request_type == "generate_until":
                generate[instance.args[0]] = instance.args[1].get("max_gen_toks", lm.max_gen_toks)
    return lm, [lm._encode_pair(c, x) for c, x in loglik], generate


def suite_floors(checkpoint: Path, split: str, limit: int | None) -> dict:
    """The bare cost of all the suite's work: every distinct log-likelihood request (context and
    continuation in one forward, sorted batches of 32) and every generation prompt (padded greedy
    generation with Hugging Face's generate, batches of 32, its token budget), as plain HF runs them."""
    lm, pairs, generate = suite_requests(checkpoint, split, limit)
    model, tok = lm.model.eval(), lm.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    tokens = sum(len(c) + len(x) for c, x in pairs)
    prompts = sorted(generate, key=lambda p: (-len(tok(p, add_special_tokens=False).input_ids), p))
    with torch.no_grad():
        loglik = loglik_floor(model, pairs, pad)
        generation = generate_floor(model, tok, prompts, lambda chunk: max(generate[p] for p in chunk), pad)
    print(f"suite floors: log-likelihoods {loglik:.1f} s ({len(pairs)} requests, {tokens} tokens), generation "
          f"{generation:.1f} s ({len(prompts)} prompts)", flush=True)
    return {"floor_suite_loglik_s": round(loglik, 1), "floor_suite_generate_s": round(generation, 1),
            "suite_loglik_requests": len(pairs), "suite_loglik_tokens": tokens, "suite_generations": len(prompts)}


def source_hash() -> str:
    """sha256 over mrd_bench's Python source and ou_tofu_eval.py (open-unlearning's step): a timing
    belongs to the code that was timed."""
    digest = hashlib.sha256()
    root = Path(mrd_bench.__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    digest.update((Path(__file__).parent / "ou_tofu_eval.py").read_bytes())
    return digest.hexdigest()


class Steps:
    """The benchmark's finished steps, one fsynced JSON line each, kept across restarts."""

    def __init__(self, partial: Path, key: str, overwrite: bool, redo: Sequence[str] = (), **info) -> None:
        open_partial(partial, key, overwrite, **info)
        self.path = partial / "rank-0.jsonl"
        drop_torn_tail(self.path)
        self.done = read_partial_rows(partial)
        for name in redo:  # measured again; the new row is appended and wins over the old one
            if self.done.pop(name, None) is not None:
                print(f"measuring again: {name}", flush=True)
            else:
                print(f"--redo {name}: no such finished step (steps: floors, <task>/after, <task>/before, "
                      "open_unlearning)", flush=True)
        self.resumed = sorted(self.done)  # steps an earlier start of the same command finished
        if self.done:
            print(f"resuming: {len(self.done)} finished step(s) from {partial}", flush=True)

    def get(self, name: str, work) -> dict:
        if name in self.done:
            return self.done[name]["result"]
        started = time.time()
        result = work()
        row = {"sample_id": name, "result": result, "started": round(started), "finished": round(time.time()),
               "host": platform.node(), "cpu_count": os.cpu_count()}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.done[name] = row
        return result

    def log(self) -> list[dict]:
        return [{k: v for k, v in row.items() if k != "result"} for row in self.done.values()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="forget10")
    parser.add_argument("--tasks", default="tofu_mrd", help="comma-separated: each runs as one command")
    parser.add_argument("--before", action="store_true", help="also run each with the speed paths off")
    parser.add_argument("--per-task", action="store_true", help="also time each TOFU subgroup alone")
    parser.add_argument("--limit", type=int, help="first N documents of each task (a trial run)")
    parser.add_argument("--other-limit", type=int, default=50,
                        help="first N documents of each task that is not TOFU's (0: all)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing results file, and discard a partial run")
    parser.add_argument("--ou-repo", default=os.environ.get("OU_REPO"),
                        help="a git clone of open-unlearning: also time its own TOFU evaluation in this run")
    parser.add_argument("--suite-floors", action="store_true",
                        help="also the floors of all the suite's work: every log-likelihood request and every "
                             "generation of forget, retain, real authors and world facts (about half an hour)")
    parser.add_argument("--redo", default="",
                        help="comma-separated finished steps of a partial run to measure again (for example "
                             "floors,tofu_mrd/after when the machine was not idle while they ran)")
    args = parser.parse_args()
    if args.ou_repo:
        from ou_tofu_eval import HOLDOUT

        if args.split not in HOLDOUT:
            raise SystemExit(f"--split {args.split}: open-unlearning evaluates {', '.join(sorted(HOLDOUT))}")
    name = f"tofu_eval_speed{'_' + str(args.limit) if args.limit else ''}.json"
    guard_output(RESULTS / name, args.overwrite)
    checkpoint = cache_dir() / "models" / EMBEDDED
    if not (checkpoint / "model.safetensors").is_file():
        export_model(EMBEDDED, checkpoint)

    settings = {"split": args.split, "limit": args.limit, "other_limit": args.other_limit, "batch_size": 32,
                "weights_sha256": sha256(checkpoint / "model.safetensors"), "source_sha256": source_hash()}
    key = key_hash(settings)[:16]
    steps = Steps(cache_dir() / "benchmarks" / (Path(name).stem + ".partial"), key, args.overwrite,
                  redo=[s for s in args.redo.split(",") if s], **settings)
    result = steps.get("floors", lambda: floors(checkpoint, args.split, args.limit))
    tasks = args.tasks.split(",")
    runs = []
    for task in tasks + (SUBGROUPS if args.per_task and "tofu_mrd" in tasks else []):
        limit = args.limit if task.startswith("tofu") else min(filter(None, (args.limit, args.other_limit)),
                                                                 default=None)
        after = steps.get(f"{task}/after", lambda: run(checkpoint, task, args.split, limit, ""))
        row = {"task": task, "limit": limit, "after_s": after["wall_s"], "after_peak_rss_gb": after["peak_rss_gb"]}
        if args.before:
            before = steps.get(f"{task}/before", lambda: run(checkpoint, task, args.split, limit, BEFORE))
            row.update(before_s=before["wall_s"], before_peak_rss_gb=before["peak_rss_gb"],
                       speedup=round(before["wall_s"] / after["wall_s"], 2),
                       metrics_compared=len(after["metrics"].keys() & before["metrics"].keys()),
                       largest_metric_gap=largest_gap(after["metrics"], before["metrics"]))
        row["metrics"] = after["metrics"]
        runs.append(row)
    if args.suite_floors:  # after the commands: the longest step, and not needed by the ratio
        result.update(steps.get("suite_floors", lambda: suite_floors(checkpoint, args.split, args.limit)))
    main_run = next((r for r in runs if r["task"] == "tofu_mrd"), runs[0])
    ou = {}
    if args.ou_repo:
        from ou_tofu_eval import evaluate as ou_evaluate

        data_dir = Path(os.environ.get("MRD_BENCH_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
        measured = steps.get("open_unlearning", lambda: ou_evaluate(
            Path(args.ou_repo), checkpoint, args.split, args.limit, cache_dir() / "open_unlearning", data_dir))
        ratio = main_run["after_s"] / measured["wall_s"]
        ou = {"ou_wall_s": measured["wall_s"], "ou_peak_rss_gb": measured["peak_rss_gb"],
              "ratio_to_ou": round(ratio, 3), "ou": measured,
              "versus_ou": versus_ou(main_run["metrics"], measured.get("values", {})),
              "within_goal": ratio <= GOAL["ratio_to_ou"] and main_run["after_peak_rss_gb"] <= GOAL["peak_rss_gb"]}
    out = write_json(RESULTS / name, record(
        kind="tofu_eval_speed", model=EMBEDDED, split=args.split, limit=args.limit, batch_size=32,
        wall_s=main_run["after_s"], peak_rss_gb=main_run["after_peak_rss_gb"], **result,
        goal=GOAL, **(ou or {"within_goal": None, "null_reasons": {
            "within_goal": "open-unlearning was not timed in this run (give --ou-repo)"}}),
        open_unlearning_elsewhere=OPEN_UNLEARNING,
        runs=runs, steps=steps.log(), resumed_steps=steps.resumed,
        source_sha256=settings["source_sha256"], command="MRD_BENCH_DATA_DIR=../shared/data python "
        "benchmarks/tofu_eval_speed.py " +
        " ".join(sys.argv[1:])))
    versus = (f", open-unlearning {ou['ou_wall_s']:.1f} s, {ou['ou_peak_rss_gb']:.2f} GB: ratio {ou['ratio_to_ou']:.3f} "
              f"(goal <= {GOAL['ratio_to_ou']}, <= {GOAL['peak_rss_gb']} GB)") if ou else ""
    print(f"tofu_mrd on {args.split}: {main_run['after_s']:.1f} s, {main_run['after_peak_rss_gb']:.2f} GB peak"
          f"{versus}. Wrote {out}")


if __name__ == "__main__":
    try:
        main()
    except MrdBenchError as err:  # a clear one-line error, as the CLI gives
        raise SystemExit(f"error: {err}") from None
