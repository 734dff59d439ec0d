"""Seed a board's entries end to end, through the CLI a user runs: unlearn -> `mrd-bench eval`
-> `mrd-bench leaderboard submit`, then the original model's evaluation that the utility floor
is relative to (`mrd-bench leaderboard reference`) -> `mrd-bench leaderboard build`. Each step is skipped when
its output exists (so a killed run resumes); the wall time of every step goes into
`<board>/seed_times.json`.

The TOFU board (5-author setting, forget01) is defined here as well (`--define`), from an
original model fine-tuned with
    mrd-bench finetune --benchmark tofu --split full --subset-authors 5 --lr 1e-4 --epochs 5 --out ORIGINAL

    MRD_BENCH_DATA_DIR=../shared/data python leaderboards/seed.py --original ORIGINAL --work WORK --define \
        --evidence benchmarks/results/difficulty_check_tofu_forget10.json

The board stratifies by the signal that difficulty check chose (`--signal` names another, with
`--why`); the check is copied into the board folder, and the page shows its evidence in one line.
A board re-defined with another signal is annotated again, and every entry is evaluated again
against the new bins (its checkpoint is kept).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mrd_bench.methods import METHODS as REGISTRY

HERE = Path(__file__).parent
BOARD = HERE / "tofu_subset5_forget01"
METHODS = ("ga", "graddiff", "po", "npo")
SAMPLERS = ("uniform", "mrd")
SUBSET = 5
TASKS = ["tofu_forget_mrd_mia", "tofu_forget_mrd_rouge", "tofu_retain_qa_prob", "tofu_retain_qa_rouge"]
METADATA = {"split": "forget01", "retain_split": "retain99", "subset_authors": SUBSET}
# Utility enters the rank as a floor: an entry whose retain answer probability is below 90% of the
# original model's (in >= 97.5% of the paired resamples) is shown, marked and not ranked. Fixed
# before the original model's reference evaluation was run.
UTILITY_RULE = {"kind": "floor", "relative": 0.9, "reference": "reference"}


def cli(*args: str) -> None:
    cmd = [sys.executable, "-m", "mrd_bench.cli", *args]
    print("$ mrd-bench " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True)


def timed(times: dict, key: str, done: bool, step) -> None:
    if done:
        print(f"[skip] {key}: already done", flush=True)
        return
    start = time.perf_counter()
    step()
    times[key] = round(time.perf_counter() - start, 1)
    (BOARD / "seed_times.json").write_text(json.dumps(times, indent=2) + "\n")


EVIDENCE = "difficulty_check.json"


def define(original: Path, work: Path, times: dict, evidence: Path | None, signal: str | None, why: str | None) -> None:
    """Score the subset's 100 trained QA pairs (the pool the bins and the reference mix come
    from: MRD and its baseline columns), annotate them with the signal the difficulty check
    chose (or `signal`), and write board.json with the check beside it."""
    from mrd_bench.data import author_subset, load
    from mrd_bench.leaderboard.board import define_board
    from mrd_bench.io import write_json
    from mrd_bench.models import load_model, weights_hash

    scores = work / "scores_subset5_full.jsonl"
    timed(times, "define/score_mrd_pool", scores.is_file(), lambda: cli(
        "score", "--model", str(original), "--benchmark", "tofu", "--split", "full", "--subset-authors", str(SUBSET),
        "--k", "8", "--out", str(scores)))
    from mrd_bench.signals import SIGNALS

    check = json.loads(evidence.read_text()) if evidence else None
    signal = signal or (check["choice"]["signal"] if check else "mrd_definition")
    chosen = SIGNALS.get(signal)
    if check:
        shutil.copyfile(evidence, BOARD / EVIDENCE)
    ann = BOARD / "annotation.json"
    same = ann.is_file() and json.loads(ann.read_text()).get("signal") == signal
    timed(times, "define/annotate", same, lambda: cli(
        "annotate", "--scores", str(scores), "--signal", signal, "--benchmark", "tofu", "--split", "full",
        "--subset-authors", str(SUBSET), "--out", str(ann), "--overwrite"))
    subset = set(author_subset("tofu", SUBSET))
    ids = {split: [s for s in load("tofu", split)["sample_id"] if split.startswith("holdout") or s in subset]
           for split in ("forget01", "holdout01", "retain99")}
    model, _ = load_model(str(original))
    board = define_board(
        BOARD, name=BOARD.name, title="TOFU, 5-author setting, forget01 (embedded SmolLM2-135M-Instruct)",
        description=("SmolLM2-135M-Instruct fine-tuned on TOFU's last 5 authors (100 QA pairs); unlearn forget01 "
                     f"(the last 2 authors, 40 QA pairs). Difficulty: {chosen.axis()} of the original model over the "
                     "subset's 100 trained QA pairs (MRD: definition estimator, sigma 1e-4, K = 8); the bins are "
                     "tertiles of that pool and the reweighted column is each metric at the pool's difficulty mix."),
        benchmark="tofu", forget_split="forget01", original_name="smollm2-135m-instruct, TOFU last 5 authors",
        original_hash=weights_hash(model),
        original_how="mrd-bench finetune --benchmark tofu --split full --subset-authors 5 --lr 1e-4 --epochs 5",
        annotation=ann,
        splits={"forget": ids["forget01"], "holdout": ids["holdout01"], "utility": ids["retain99"]},
        tasks=[{"task": "tofu_forget_mrd_mia", "split": "forget", "nonmember_split": "holdout", "metrics": [
                   {"name": "prob", "direction": "lower", "label": "forget answer probability", "range": [0, 1]},
                   {"name": "ua", "direction": "higher", "label": "forget UA (1 - token accuracy)", "range": [0, 1]}]},
               {"task": "tofu_forget_mrd_rouge", "split": "forget", "metrics": [
                   {"name": "rougeL_recall", "direction": "lower", "label": "forget ROUGE-L recall", "range": [0, 1]}]},
               {"task": "tofu_retain_qa_prob", "split": "utility", "metrics": [
                   {"name": "prob", "direction": "higher", "label": "retain answer probability", "range": [0, 1]}]},
               {"task": "tofu_retain_qa_rouge", "split": "utility", "metrics": [
                   {"name": "rougeL_recall", "direction": "higher", "label": "retain ROUGE-L recall", "range": [0, 1]}]}],
        eval_args={"tasks": TASKS, "metadata": {**METADATA}, "apply_chat_template": True, "gen_kwargs": None},
        primary="tofu_forget_mrd_mia/prob", utility="tofu_retain_qa_prob/prob",
        utility_rule=UTILITY_RULE,
        notes=["Utility is measured on the 60 retain QA pairs of the 3 subset authors outside forget01 "
               "(what the original model learned), not on TOFU's 400 retain_perturbed questions, most of which "
               "are about authors it never saw.",
               "Seed entries: 10 updates of 4 samples at lr 2e-5, seed 0 (leaderboards/seed.py)."])
    if check:
        board["annotation"]["evidence"] = EVIDENCE
    if why:
        board["annotation"]["why"] = why
    write_json(BOARD / "board.json", board)


def drop_stale(board: dict, work: Path) -> None:
    """Entries (and the reference) evaluated against another annotation than the board's are
    evaluated again: their submission, evaluation and verification are removed here (the
    unlearned checkpoints are kept)."""
    for sub in sorted((BOARD / "submissions").glob("*/submission.json")) + [BOARD / "reference" / "submission.json"]:
        if sub.is_file() and json.loads(sub.read_text())["annotation_sha256"] != board["annotation"]["sha256"]:
            slug = sub.parent.name
            print(f"[stale] {slug}: evaluated against another annotation; evaluating it again", flush=True)
            shutil.rmtree(sub.parent)
            if slug != "reference":
                shutil.rmtree(work / "eval" / slug, ignore_errors=True)
            (BOARD / "verifications" / f"{slug}.json").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--original", required=True, help="the board's original model (checkpoint folder)")
    parser.add_argument("--work", required=True, help="folder for checkpoints and eval outputs (not committed)")
    parser.add_argument("--define", action="store_true", help="(re)write board.json and its annotation first")
    parser.add_argument("--evidence", type=Path, help="with --define: the difficulty check (check.json) that chose "
                        "the board's signal; it is copied into the board folder")
    parser.add_argument("--signal", help="with --define: stratify by this signal instead of the check's choice "
                        "(give the reason with --why)")
    parser.add_argument("--why", help="with --signal: why the board keeps a signal the check did not choose")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--samplers", default=",".join(SAMPLERS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-5)
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    BOARD.mkdir(exist_ok=True)
    times_file = BOARD / "seed_times.json"
    times = json.loads(times_file.read_text()) if times_file.is_file() else {}
    if args.define:
        define(Path(args.original), work, times, args.evidence, args.signal, args.why)
    board = json.loads((BOARD / "board.json").read_text())
    drop_stale(board, work)
    scores = work / "scores_subset5_full.jsonl"
    for method in args.methods.split(","):
        for sampler in args.samplers.split(","):
            slug = f"{method}_{sampler}"
            run, evald, sub = work / "runs" / slug, work / "eval" / slug, BOARD / "submissions" / slug
            retain = ["--retain", "retain99"] if REGISTRY.get(method).retain == "required" else []
            timed(times, f"{slug}/unlearn", (run / "run_record.json").is_file(), lambda: cli(
                "unlearn", "--model", args.original, "--benchmark", "tofu", "--forget", "forget01", *retain,
                "--subset-authors", str(SUBSET), "--method", method, "--sampler", sampler, "--scores", str(scores),
                "--max-steps", str(args.steps), "--batch-size", str(args.batch_size), "--lr", str(args.lr),
                "--seed", "0", "--no-progress", "--out", str(run)))
            timed(times, f"{slug}/eval", any(evald.rglob("results_*.json")), lambda: (
                shutil.rmtree(evald, ignore_errors=True), cli(
                    "eval", "--model", "hf-mrd", "--model_args", f"pretrained={run},dtype=float32",
                    "--tasks", ",".join(board["eval"]["tasks"]),
                    "--metadata", json.dumps({**board["eval"]["metadata"], "difficulty": str(BOARD / "annotation.json")}),
                    "--apply_chat_template", "--batch_size", "16", "--output_path", str(evald), "--log_samples")))
            name = {"ga": "GA", "graddiff": "GradDiff", "po": "PO", "npo": "NPO"}[method] + f" + {sampler}"
            timed(times, f"{slug}/submit", (sub / "submission.json").is_file(), lambda: cli(
                "leaderboard", "submit", "--board", str(BOARD), "--run", str(evald), "--name", name,
                "--description", f"mrd-bench unlearn --method {method} --sampler {sampler}: {args.steps} updates of "
                                 f"{args.batch_size}, lr {args.lr:g}, seed 0 (seed entry made by leaderboards/seed.py)",
                "--out", str(sub)))
    reference = BOARD / board["utility_rule"]["reference"]
    timed(times, "reference", (reference / "submission.json").is_file(), lambda: cli(
        "leaderboard", "reference", str(BOARD), "--model", args.original, "--work", str(work), "--overwrite"))
    timed(times, "build", False, lambda: cli("leaderboard", "build", str(BOARD), "--overwrite"))


if __name__ == "__main__":
    main()
