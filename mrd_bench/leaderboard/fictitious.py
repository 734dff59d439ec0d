"""The board on the embedded fictitious authors (forget20), which the main job builds: define it
for an original model and its MRD scores, then seed entries end to end (unlearn -> lm-eval
through the stratified tasks -> submit -> build).

The same steps as `leaderboards/seed.py` runs through the CLI for the TOFU board, in one process
(no interpreter start-up per step), so that `make demo` stays within minutes.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from mrd_bench.io import write_json

TASKS = ["tofu_forget_mrd_mia", "tofu_retain_qa_prob"]
NAMES = {"ga": "GA", "graddiff": "GradDiff", "po": "PO", "npo": "NPO", "cga": "CGA"}


def retain_of(forget: str) -> str:
    """The retain split beside a forget split: retain80 for forget20, as TOFU names them."""
    return f"retain{100 - int(forget.removeprefix('forget'))}"


def define(folder: Path, *, original: str, original_hash: str, original_how: str, scores: Path,
           chat_template: bool, forget: str = "forget20", B: int = 1000, seed: int = 0,
           notes: tuple[str, ...] = (), utility_rule: dict | None = None) -> dict:
    """Annotate the forget split with `scores` into `folder`/annotation.json and write board.json.
    Utility enters the rank through the forget-utility Pareto front unless `utility_rule` says
    otherwise (a floor needs the original model's evaluation: `leaderboard reference`)."""
    utility_rule = utility_rule or {"kind": "pareto"}
    from mrd_bench.annotate import annotate
    from mrd_bench.data import load
    from mrd_bench.leaderboard.board import define_board

    folder.mkdir(parents=True, exist_ok=True)
    split, holdout, retain = forget, forget.replace("forget", "holdout"), retain_of(forget)
    forget = load("fictitious", split)["sample_id"]
    ann = annotate(scores, forget, folder / "annotation.json", overwrite=True,
                   source={"benchmark": "fictitious", "split": split})
    board = define_board(
        folder, name=f"fictitious_{split}", title=f"Embedded fictitious authors, {split}",
        description=(f"The embedded 12-author fictitious QA set: the original model is fine-tuned on authors 0-9 "
                     f"(full); unlearn {split} ({len(forget)} QA pairs, the last authors of full); non-members are "
                     f"{holdout}; utility is the answer probability on {retain} (what the original model learned "
                     f"and should keep). Difficulty: MRD of the original model on {split}, tertile bins."),
        benchmark="fictitious", forget_split=split, original_name=original, original_hash=original_hash,
        original_how=original_how, annotation=ann,
        splits={"forget": list(forget), "holdout": list(load("fictitious", holdout)["sample_id"]),
                "utility": list(load("fictitious", retain)["sample_id"])},
        tasks=[{"task": "tofu_forget_mrd_mia", "split": "forget", "nonmember_split": "holdout", "metrics": [
                    {"name": "prob", "direction": "lower", "label": "forget answer probability", "range": [0, 1]},
                    {"name": "ua", "direction": "higher", "label": "forget UA (1 - token accuracy)", "range": [0, 1]},
                    {"name": "extraction_strength", "direction": "lower", "label": "forget extraction strength",
                     "range": [0, 1]},
                    {"name": "min_k_auc", "direction": "lower", "statistic": "auc", "range": [-1e6, 0],
                     "label": "Min-K% MIA AUC vs holdout (0.5 = like unseen data)"}]},
               {"task": "tofu_retain_qa_prob", "split": "utility", "metrics": [
                    {"name": "prob", "direction": "higher", "label": "retain answer probability", "range": [0, 1]}]}],
        eval_args={"tasks": TASKS, "metadata": {"benchmark": "fictitious", "split": split, "retain_split": retain},
                   "apply_chat_template": chat_template,
                   "gen_kwargs": None},
        primary="tofu_forget_mrd_mia/prob", utility="tofu_retain_qa_prob/prob", utility_rule=utility_rule,
        B=B, seed=seed, notes=list(notes))
    write_json(folder / "board.json", board)
    return board


def evaluate(board_folder: Path, model: str, out: Path, *, batch_size: int = 16, progress: bool = True) -> Path:
    """The board's lm-eval tasks on `model`, with --log_samples, through `mrd-bench eval`."""
    from mrd_bench.lmeval.run import evaluate as run

    board = json.loads((board_folder / "board.json").read_text())
    metadata = {**board["eval"]["metadata"], "difficulty": str(board_folder / board["annotation"]["path"])}
    run(model, board["eval"]["tasks"], metadata, out, chat_template=board["eval"]["apply_chat_template"],
        batch_size=batch_size, gen_kwargs=board["eval"].get("gen_kwargs"))
    return out


def seed(board_folder: Path, original: str, scores: Path, work: Path, runs: list[tuple[str, str]], *,
         steps: int, batch_size: int, lr: float, progress: bool = True, keep_models: bool = True) -> dict[str, float]:
    """Unlearn, evaluate and submit one entry per (method, sampler); returns each step's wall time.
    Without `keep_models`, each unlearned model's weights are deleted once it is evaluated (its
    run record stays)."""
    from mrd_bench.leaderboard.board import load_board
    from mrd_bench.leaderboard.submission import submit
    from mrd_bench.methods import METHODS
    from mrd_bench.methods.loop import LoopConfig
    from mrd_bench.unlearn import Inputs, Settings, run_unlearn

    board = load_board(board_folder)
    times = {}
    for method, sampler in runs:
        slug = f"{method}_{sampler}"
        start = time.perf_counter()
        split = board["forget_split"]
        retain = retain_of(split) if METHODS.get(method).retain == "required" else None
        run, _ = run_unlearn(
            Inputs(model=original, benchmark="fictitious", forget=split, retain=retain, scores=str(scores)),
            Settings(method=method, sampler=sampler),
            LoopConfig(lr=lr, max_steps=steps, batch_size=batch_size, seed=0, save_every=0),
            work / "runs" / slug, overwrite=True, progress=progress)
        times[f"{slug}/unlearn_s"] = time.perf_counter() - start
        start = time.perf_counter()
        evald = evaluate(board_folder, str(run), work / "eval" / slug, progress=progress)
        times[f"{slug}/eval_s"] = time.perf_counter() - start
        submit(board, evald, board_folder / "submissions" / slug, name=f"{NAMES[method]} + {sampler}",
               description=f"mrd-bench unlearn --method {method} --sampler {sampler}: {steps} updates of "
                           f"{batch_size}, lr {lr:g}, seed 0", overwrite=True)
        if not keep_models:
            for weights in run.glob("*.safetensors"):
                weights.unlink()
    return times
