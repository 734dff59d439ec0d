"""`mrd-bench leaderboard verify` on the tiny seeded board: a genuine entry verifies, an altered
value or another checkpoint does not, a replay from the original model verifies, and a
verification is void once a submission file changes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mrd_bench.errors import ConfigError, DataError, OutputExistsError
from mrd_bench.leaderboard.board import load_board
from mrd_bench.leaderboard.submission import validate
from mrd_bench.leaderboard.verify import compare, record_path, sample_documents, status, verify
from tests.e2e.test_cli import assert_one_line_error, mrd_bench
from tests.leaderboard.synthetic import put
from mrd_bench.leaderboard.submission import value_of

FEW = {"fraction": 0.05, "minimum": 4}  # 6 of the tiny board's 120 scored documents: 1 forget, 1 holdout, 4 utility


def _board(sizes: dict[str, int]) -> dict:
    def metric(direction: str) -> list[dict]:
        return [{"name": "prob", "direction": direction, "label": "p", "range": [0, 1]}]

    return {"splits": {s: [f"{s}:{i}" for i in range(n)] for s, n in sizes.items()},
            "tasks": [{"task": "mia", "split": "forget", "nonmember_split": "holdout", "metrics": metric("lower")},
                      {"task": "qa", "split": "utility", "metrics": metric("higher")}]}


def test_the_sample_is_ten_percent_at_least_twenty_of_the_scored_documents_by_split():
    board = _board({"forget": 40, "holdout": 40, "utility": 60})
    s = sample_documents(board, fraction=0.1, minimum=20, seed=0)
    assert set(s) == {"forget", "utility"}  # non-members carry no board metric
    assert (len(s["forget"]), len(s["utility"])) == (8, 12)  # 20 of 100, in proportion
    assert s == sample_documents(board, fraction=0.1, minimum=20, seed=0)
    assert s != sample_documents(board, fraction=0.1, minimum=20, seed=1)
    big = sample_documents(_board({"forget": 400, "utility": 600}), fraction=0.1, minimum=20, seed=0)
    assert (len(big["forget"]), len(big["utility"])) == (40, 60)
    small = sample_documents(_board({"forget": 5, "utility": 7}), fraction=0.1, minimum=20, seed=0)
    assert small == {"forget": [f"forget:{i}" for i in range(5)], "utility": [f"utility:{i}" for i in range(7)]}


def test_compare_names_the_metric_and_the_sample_that_differ():
    board = _board({"forget": 3, "utility": 2})
    sampled = {"forget": ["forget:0", "forget:2"], "utility": ["utility:1"]}
    submitted = {"mia/prob": np.array([0.5, 0.1, 0.25]), "qa/prob": np.array([0.9, 0.8])}
    ours = {"mia": {"forget:0": {"prob": {"value": 0.50002, "bin": "easy"}}, "forget:2": {"prob": {"value": 0.3}}},
            "qa": {"utility:1": {"prob": 0.8}}}
    result = compare(board, sampled, submitted, ours, 1e-4)
    assert result["per_metric"]["mia/prob"] == {"n": 2, "max_abs_diff": pytest.approx(0.05), "over_tolerance": 1}
    assert result["per_metric"]["qa/prob"] == {"n": 1, "max_abs_diff": 0.0, "over_tolerance": 0}
    assert len(result["reasons"]) == 1 and "mia/prob" in result["reasons"][0] and "forget:2" in result["reasons"][0]
    del ours["qa"]["utility:1"]  # a document the re-evaluation did not return fails too
    assert "qa/prob" in " ".join(compare(board, sampled, submitted, ours, 1e-4)["reasons"])


def test_a_genuine_entry_verifies_and_a_changed_file_voids_it(seeded, board_copy):
    checkpoint = seeded["runs"] / "ga_uniform"
    assert (checkpoint / "model.safetensors").is_file()  # the seeded board keeps its checkpoints
    board, sub = load_board(board_copy), board_copy / "submissions" / "ga_uniform"
    rec = verify(sub, board, str(checkpoint), **FEW, progress=False)
    assert rec["verified"] and rec["reasons"] == [] and rec["hash_match"] and not rec["replayed"]
    # 4 metrics on the forget document, the Min-K% AUC's score on the holdout one, 1 on each utility one
    assert rec["n_documents"] == 6 and rec["n_values"] == 1 * 4 + 1 * 1 + 4 * 1
    assert all(d <= rec["tolerance"] for d in rec["max_abs_diff"].values())
    assert json.loads(record_path(board_copy, "ga_uniform").read_text()) == rec
    assert {"versions", "hardware", "submission_sha256", "sampled", "date"} <= set(rec)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        verify(sub, board, str(checkpoint), **FEW, progress=False)
    got = status(board_copy, "ga_uniform", sub)
    assert got["verified"] and got["n"] == 6 and got["fraction"] == 0.05 and got["tolerance"] == rec["tolerance"]
    assert status(board_copy, "npo_uniform", board_copy / "submissions" / "npo_uniform") == {
        "verified": False, "reason": "no verification record"}
    results = sub / "results.json"
    results.write_text(results.read_text() + " ")
    got = status(board_copy, "ga_uniform", sub)
    assert not got["verified"] and "results.json changed" in got["reason"]


def test_an_altered_sampled_value_fails_naming_the_metric_and_the_sample(seeded, board_copy):
    board, sub = load_board(board_copy), board_copy / "submissions" / "ga_uniform"
    sid = sample_documents(board, fraction=0.05, minimum=4, seed=0)["forget"][0]
    path = sub / "samples_tofu_forget_mrd_mia.jsonl"
    rows = [json.loads(line, parse_constant=float) for line in path.read_text().splitlines()]
    row = next(r for r in rows if r["doc"]["sample_id"] == sid and r["doc"]["member"])
    other = next(r for r in rows if r["doc"]["member"] and r["doc"]["mrd_bin"] == row["doc"]["mrd_bin"]
                 and r["doc"]["sample_id"] != sid)
    shift = value_of(row, "prob") / 2  # a better forget score than the model gives, moved to an unsampled
    put(row, "prob", value_of(row, "prob") - shift)  # document of the same bin: every stated mean holds
    put(other, "prob", value_of(other, "prob") + shift)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert validate(sub, board)[0] == []
    proc = mrd_bench("leaderboard", "verify", str(sub), "--model", str(seeded["runs"] / "ga_uniform"),
                     "--fraction", "0.05", "--min-docs", "4", "--seed", "0", "--no-progress")
    assert_one_line_error(proc, "NOT verified", "tofu_forget_mrd_mia/prob", sid)
    rec = json.loads(record_path(board_copy, "ga_uniform").read_text())
    assert not rec["verified"] and rec["hash_match"]  # the record is written, marked unverified
    assert [(m["metric"], m["sample_id"]) for m in rec["mismatches"]] == [("tofu_forget_mrd_mia/prob", sid)]
    assert status(board_copy, "ga_uniform", sub)["verified"] is False


def test_another_checkpoint_fails_the_hash_check(seeded, board_copy):
    board = load_board(board_copy)
    rec = verify(board_copy / "submissions" / "ga_uniform", board, str(seeded["runs"] / "npo_uniform"), **FEW,
                 progress=False)
    assert not rec["verified"] and not rec["hash_match"]
    assert "run record's final hash" in rec["reasons"][0]


def test_a_replay_from_the_original_model_verifies(seeded, board_copy, tiny_checkpoint, tmp_path):
    board = load_board(board_copy)
    rec = verify(board_copy / "submissions" / "ga_mrd", board, replay=True, original=str(tiny_checkpoint),
                 work=tmp_path, **FEW, progress=False)
    assert rec["verified"], rec["reasons"]
    assert rec["replayed"] and rec["replay"]["matches_record"]
    assert Path(rec["checkpoint"]) == tmp_path / "ga_mrd" / "checkpoint"
    from mrd_bench.leaderboard.page import verification_text

    shown = status(board_copy, "ga_mrd", board_copy / "submissions" / "ga_mrd")
    assert "replayed from the original model" in verification_text({"verification": shown})
    assert "replayed" not in verification_text({"verification": {**shown, "replayed": False}})
    with pytest.raises(ConfigError, match="not the board's original model"):
        verify(board_copy / "submissions" / "ga_mrd", board, replay=True, original=str(seeded["runs"] / "ga_uniform"),
               work=tmp_path, overwrite=True, **FEW, progress=False)


@pytest.mark.parametrize("args, needle", [
    ([], "--model CHECKPOINT is missing"),
    (["--model", "{ckpt}", "--fraction", "0"], "--fraction must lie in (0, 1]"),
    (["--model", "{ckpt}", "--min-docs", "0"], "--min-docs"),
    (["--replay"], "--replay needs --original"),
    (["--model", "{ckpt}", "--replay", "--original", "{ckpt}"], "not both"),
])
def test_bad_inputs_are_one_line_errors(seeded, board_copy, args, needle, capsys):
    from mrd_bench.cli import main

    ckpt = str(seeded["runs"] / "ga_uniform")
    code = main(["leaderboard", "verify", str(board_copy / "submissions" / "ga_uniform"),
                 *[a.format(ckpt=ckpt) for a in args]])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("mrd-bench: error:") and needle in err[0], err
    assert not record_path(board_copy, "ga_uniform").exists()


def test_an_invalid_submission_is_refused(seeded, board_copy):
    sub = board_copy / "submissions" / "ga_uniform"
    (sub / "run_record.json").write_text("{}")
    with pytest.raises(DataError, match="not a valid submission"):
        verify(sub, load_board(board_copy), str(seeded["runs"] / "ga_uniform"), **FEW, progress=False)
