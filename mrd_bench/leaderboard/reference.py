"""`mrd-bench leaderboard reference BOARD --model ORIGINAL`: the original model's evaluation on
the board's tasks, which a utility floor is relative to.

It is written as a submission-shaped folder (`BOARD/<utility_rule.reference>/`, validated like
any submission) whose run record says the weights were not changed: initial = final = the
board's original weights hash, checked on the model given.
"""
from __future__ import annotations

from pathlib import Path

from mrd_bench.errors import DataError
from mrd_bench.io import write_json

NAME = "original model (reference)"


def make_reference(board_path: str | Path, model: str, work: str | Path, *, overwrite: bool = False,
                   batch_size: int = 16) -> Path:
    """Evaluate `model` (the board's original) on the board's tasks and write the reference folder."""
    from mrd_bench.leaderboard.board import load_board
    from mrd_bench.leaderboard.fictitious import evaluate
    from mrd_bench.leaderboard.submission import submit, validate
    from mrd_bench.models import load_model, weights_hash
    from mrd_bench.provenance import record

    board = load_board(board_path)
    folder = Path(board["_folder"])
    rule = board["utility_rule"]
    if rule["kind"] != "floor":
        raise DataError(f"{folder}: utility_rule is {rule['kind']!r}; only a floor is relative to the original "
                        "model, so this board needs no reference.")
    loaded, _ = load_model(str(model))
    digest = weights_hash(loaded)
    del loaded
    if digest != board["original_model"]["weights_sha256"]:
        raise DataError(f"--model {str(model)!r}: weights sha256 {digest[:12]}…, not the board's original model "
                        f"({board['original_model']['weights_sha256'][:12]}…); give the board's original checkpoint.")
    work = Path(work)
    evald = evaluate(folder, str(model), work / "reference_eval", batch_size=batch_size)
    run_record = work / "reference_run_record.json"
    write_json(run_record, {**record(), "kind": "original", "model": str(model),
                            "model_hash": {"initial": digest, "final": digest}, "steps": 0})
    out = submit(board, evald, folder / rule["reference"], name=NAME, record=run_record,
                 description="the board's original model, before unlearning: the utility floor is relative to it",
                 overwrite=overwrite)
    problems, _ = validate(out, load_board(folder))
    if problems:
        raise DataError(f"the reference {out} is not valid: {problems[0]}")
    return out
