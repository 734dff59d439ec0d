"""Leaderboards end to end on the tiny model, and every untrusted-input rejection."""
from __future__ import annotations

import json
import math
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from mrd_bench.leaderboard import untrusted
from mrd_bench.leaderboard.board import load_board
from mrd_bench.leaderboard.build import build
from mrd_bench.leaderboard.submission import validate
from tests.e2e.test_cli import assert_one_line_error, mrd_bench
from mrd_bench.leaderboard.submission import value_of

ROOT = Path(__file__).resolve().parents[2]


def _samples(folder: Path, task: str) -> list[dict]:
    return [json.loads(line, parse_constant=float) for line in (folder / f"samples_{task}.jsonl").read_text().splitlines()]


def test_build_recomputes_every_figure_from_the_samples(board_copy):
    page = build(board_copy, progress=False)
    scores = json.loads((board_copy / "scores.json").read_text())
    board = json.loads((board_copy / "board.json").read_text())
    annotation = json.loads((board_copy / "annotation.json").read_text())
    assert page.name == "index.html" and (board_copy / "index.md").is_file()
    assert (board_copy / "scatter.png").stat().st_size > 1000 and (board_copy / "bins.png").stat().st_size > 1000
    assert len(scores["entries"]) == 3 and scores["rejected"] == []
    assert {"versions", "hardware"} <= set(scores["provenance"])
    for entry in scores["entries"]:
        rows = [r for r in _samples(board_copy / "submissions" / entry["id"], "tofu_forget_mrd_mia") if r["doc"]["member"]]
        by_bin = {}
        for r in rows:
            by_bin.setdefault(annotation["samples"][r["doc"]["sample_id"]]["bin"], []).append(value_of(r, "prob"))
        s = entry["scores"]["tofu_forget_mrd_mia/prob"]
        assert len(rows) == len(board["splits"]["forget"]) == 20
        assert s["overall"]["value"] == pytest.approx(np.mean([value_of(r, "prob") for r in rows]), rel=1e-12)
        for b, vals in by_bin.items():
            assert s[b]["value"] == pytest.approx(np.mean(vals), rel=1e-12)
            assert s[b]["ci"][0] <= s[b]["value"] <= s[b]["ci"][1]
        w = annotation["reference_weights"]
        assert s["reweighted"]["value"] == pytest.approx(sum(w[b] * np.mean(v) for b, v in by_bin.items()), rel=1e-12)
        utility = [r["prob"] for r in _samples(board_copy / "submissions" / entry["id"], "tofu_retain_qa_prob")]
        assert entry["scores"]["tofu_retain_qa_prob/prob"]["overall"]["value"] == pytest.approx(np.mean(utility))
        assert entry["flags"] == [] and entry["ranked"]  # no near-copies; the Pareto rule ranks every entry
        assert 1 <= entry["rank"]["reweighted"] <= 3
    page_text = (board_copy / "index.html").read_text()
    assert scores["utility_rule"] == {"kind": "pareto"} and "Pareto front" in page_text
    assert "Rank = 1 + the number of entries that dominate this one" in page_text
    shares = np.array(scores["pairwise_win_share"]["reweighted"])
    assert np.allclose(shares + shares.T + np.eye(3), 1.0) or (shares + shares.T <= 1.0 + 1e-12).all()


def test_stated_numbers_that_disagree_or_are_missing_refuse_the_entry(board_copy):
    sub = board_copy / "submissions" / "ga_uniform"
    results = json.loads((sub / "results.json").read_text(), parse_constant=float)
    results["results"]["tofu_forget_mrd_mia"]["prob,none"] = 0.0  # a flattering summary
    (sub / "results.json").write_text(json.dumps(results))
    problems, entry = validate(sub, load_board(board_copy))
    assert entry is None and len(problems) == 1
    assert "tofu_forget_mrd_mia/prob (overall): 0.0: differs from the recomputed" in problems[0]
    build(board_copy, progress=False)
    scores = json.loads((board_copy / "scores.json").read_text())
    assert "ga_uniform" not in [e["id"] for e in scores["entries"]] and len(scores["entries"]) == 2
    assert [r["submission"] for r in scores["rejected"]] == ["ga_uniform"]
    assert "differs from the recomputed" in (board_copy / "index.html").read_text()
    # emptied results objects switch nothing off: every figure the board scores must be stated
    results["results"] = {task: {} for task in results["results"]}
    (sub / "results.json").write_text(json.dumps(results))
    problems, _ = validate(sub, load_board(board_copy))
    assert len(problems) == 5 and all("the results file must state every figure" in p for p in problems)
    assert "(5 of 5 figures of tofu_forget_mrd_mia/prob)" in problems[0]


def test_submit_and_validate_through_the_cli(seeded, board_copy, tmp_path):
    out = tmp_path / "sub"
    args = ("leaderboard", "submit", "--board", str(board_copy), "--run", str(seeded["eval"] / "ga_mrd"),
            "--name", "GA again", "--link", "https://example.org/ga", "--out", str(out))
    proc = mrd_bench(*args)
    assert proc.returncode == 0 and "valid" in proc.stdout, proc.stderr
    sub = json.loads((out / "submission.json").read_text())
    assert sub["method"] == {"name": "GA again", "link": "https://example.org/ga", "description": ""}
    assert set(sub["samples"]) == {"tofu_forget_mrd_mia", "tofu_retain_qa_prob"}
    assert json.loads((out / "run_record.json").read_text())["settings"]["sampler"] == "mrd"
    assert_one_line_error(mrd_bench(*args), "already holds a submission", "--overwrite")  # nothing is lost
    proc = mrd_bench("leaderboard", "validate", str(out), "--board", str(board_copy))
    assert proc.returncode == 0 and "valid" in proc.stdout


# ----------------------------------------------------------------------------- untrusted input

def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text(), parse_constant=float)
    change(data)
    path.write_text(json.dumps(data))


def _edit_samples(path: Path, change) -> None:
    rows = [json.loads(line, parse_constant=float) for line in path.read_text().splitlines()]
    rows = change(rows)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _set(key, value):
    def change(d):
        node = d
        for k in key[:-1]:
            node = node[k]
        node[key[-1]] = value
    return change


MIA = "samples_tofu_forget_mrd_mia.jsonl"
CASES = {
    # JSON only: no pickle, no YAML, no object-building tags
    "pickle": (lambda s: (s / "results.json").write_bytes(pickle.dumps({"results": {}})), "pickled data"),
    "yaml": (lambda s: (s / "submission.json").write_text("schema_version: 1\nboard: x\n"), "not JSON"),
    "yaml tag": (lambda s: (s / "submission.json").write_text("!!python/object/apply:os.system ['touch /tmp/x']"),
                 "not JSON"),
    # size limits
    "oversize file": (lambda s: os.truncate(s / MIA, untrusted.MAX_FILE_BYTES + 1), "byte limit per file"),
    # references that leave the folder
    "dotdot": (lambda s: _edit_json(s / "submission.json", _set(["samples", "tofu_forget_mrd_mia"], "../x.jsonl")),
               "'..' leaves the folder"),
    "absolute": (lambda s: _edit_json(s / "submission.json", _set(["results"], "/etc/passwd.json")), "absolute path"),
    "symlink": (lambda s: ((s / MIA).unlink(), (s / MIA).symlink_to(s.parent / "ga_mrd" / MIA)), "a symlink"),
    # NaN or infinity, duplicate ids, wrong types, unknown version
    "nan in submission": (lambda s: (s / "submission.json").write_text(
        (s / "submission.json").read_text().replace('"schema_version": 1', '"schema_version": NaN')),
        "not a finite number"),
    "infinity in samples": (lambda s: _edit_samples(s / MIA, lambda rows: [
        {**r, "prob": math.inf} if r["doc"]["member"] else r for r in rows]),
        "not a finite number"),
    "duplicate id": (lambda s: _edit_samples(s / MIA, lambda rows: rows + rows[:1]), "duplicate sample id"),
    "missing id": (lambda s: _edit_samples(s / MIA, lambda rows: [r for r in rows if r["doc"]["member"] == 0] +
                                           [r for r in rows if r["doc"]["member"]][1:]), "missing sample ids"),
    "extra id": (lambda s: _edit_samples(s / MIA, lambda rows: [
        {**r, "doc": {**r["doc"], "sample_id": "fictitious:000000000000"}} if i == 0 else r
        for i, r in enumerate(rows)]), "not in the board's split"),
    "wrong type": (lambda s: _edit_json(s / "submission.json", _set(["method", "name"], 7)), "is not of type 'string'"),
    "unknown version": (lambda s: _edit_json(s / "submission.json", _set(["schema_version"], 2)), "unknown"),
    "duplicate key": (lambda s: (s / "submission.json").write_text(
        (s / "submission.json").read_text().replace('{', '{"board": "a", ', 1)), "duplicate key"),
    "javascript link": (lambda s: _edit_json(s / "submission.json", _set(["method", "link"], "javascript:alert(1)")),
                        "does not match"),
    # the checks beyond the schema
    "annotation hash": (lambda s: _edit_json(s / "submission.json", _set(["annotation_sha256"], "0" * 64)),
                        "not the board's annotation"),
    "wrong original": (lambda s: _edit_json(s / "run_record.json", _set(["model_hash", "initial"], "f" * 64)),
                       "did not start from the board's original model"),
    "wrong bins": (lambda s: _edit_samples(s / MIA, lambda rows: [
        {**r, "doc": {**r["doc"], "mrd_bin": "easy" if r["doc"]["mrd_bin"] != "easy" else "hard"}}
        if r["doc"]["member"] else r for r in rows]), "the board's annotation puts it in"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_untrusted_submissions_are_rejected_in_one_line(board_copy, case):
    corrupt, needle = CASES[case]
    sub = board_copy / "submissions" / "ga_uniform"
    corrupt(sub)
    problems, entry = validate(sub, load_board(board_copy))
    assert entry is None and problems
    assert all("\n" not in p and len(p) < 400 for p in problems)
    assert any(needle in p for p in problems), problems
    proc = mrd_bench("leaderboard", "validate", str(sub))
    assert proc.returncode == 2 and needle in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("mrd-bench: error: ")


def test_a_whole_submission_over_the_size_limit_is_rejected(board_copy, monkeypatch):
    monkeypatch.setattr(untrusted, "MAX_TOTAL_BYTES", 1000)
    problems, _ = validate(board_copy / "submissions" / "ga_uniform", load_board(board_copy))
    assert len(problems) == 1 and "byte limit" in problems[0]


def test_build_lists_rejected_submissions_and_never_runs_them(board_copy, tmp_path):
    bad = board_copy / "submissions" / "zz_bad"
    shutil.copytree(board_copy / "submissions" / "ga_uniform", bad)
    (bad / "results.json").write_bytes(pickle.dumps(os.system))  # would run code if unpickled
    build(board_copy, progress=False)
    scores = json.loads((board_copy / "scores.json").read_text())
    assert [r["submission"] for r in scores["rejected"]] == ["zz_bad"]
    assert "pickled data" in scores["rejected"][0]["problems"][0]
    assert len(scores["entries"]) == 3


def test_build_refuses_to_replace_a_file_it_did_not_write(board_copy):
    (board_copy / "scores.json").write_text('{"mine": true}')
    with pytest.raises(Exception, match="--overwrite"):
        build(board_copy, progress=False)
    build(board_copy, overwrite=True, progress=False)


def test_committed_boards_are_valid_and_their_scores_rebuild_exactly():
    """Every board under leaderboards/: its definition checks out, every committed submission
    validates, and re-scoring them reproduces the committed scores.json."""
    from mrd_bench.leaderboard.build import _reference, score_entries

    boards = sorted(p.parent for p in (ROOT / "leaderboards").glob("*/board.json"))
    assert {b.name for b in boards} >= {"tofu_subset5_forget01", "fictitious_forget20"}
    for folder in boards:
        board = load_board(folder)
        subs = sorted(p for p in (folder / "submissions").glob("*") if p.is_dir()) if (folder / "submissions").is_dir() else []
        entries = []
        for sub in subs:
            problems, entry = validate(sub, board)
            assert problems == [], (sub, problems)
            entries.append(entry)
        if not (folder / "scores.json").is_file():
            continue
        committed = json.loads((folder / "scores.json").read_text())
        again = json.loads(json.dumps(score_entries(board, entries, _reference(board, folder))))
        assert [e["id"] for e in again["entries"]] == [e["id"] for e in committed["entries"]]
        for a, c in zip(again["entries"], committed["entries"]):
            assert a["scores"] == c["scores"] and a["rank"] == c["rank"] and a["ranked"] == c["ranked"]
            assert c["verification"]["verified"] == (folder / "verifications" / f"{c['id']}.json").is_file()


def test_unlearn_reads_a_boards_annotation_as_its_scores(seeded):
    from mrd_bench.unlearn import read_scores

    ann = json.loads((seeded["board"] / "annotation.json").read_text())
    ids = list(ann["samples"])[::-1]
    from_scores = [json.loads(line) for line in seeded["scores"].read_text().splitlines()]
    by_id = {r["sample_id"]: r["score"] for r in from_scores}
    assert read_scores(str(seeded["board"] / "annotation.json"), ids) == [by_id[i] for i in ids]
