"""A board that hostile or careless entries cannot top, block or slow down: ranges, stated figures,
near-copies, the utility rules, bounded memory, and a board of good and hostile entries together."""
from __future__ import annotations

import json
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from mrd_bench import stats
from mrd_bench.leaderboard.board import load_board
from mrd_bench.leaderboard.build import build
from mrd_bench.leaderboard.submission import validate
from tests.leaderboard.synthetic import synthetic_entry
from tests.leaderboard.synthetic import put
from mrd_bench.leaderboard.submission import value_of

MIA = "samples_tofu_forget_mrd_mia.jsonl"


# ----------------------------------------------------------------------------- statistics by hand

def test_pareto_dominance_by_hand():
    # forget: lower is better; utility: higher is better; three resamples
    forget = np.array([[0.1, 0.1, 0.1],    # a: best forget, worst utility
                       [0.5, 0.5, 0.5],    # b: dominated by c on every resample
                       [0.4, 0.4, 0.6]])   # c: beats b on forget in 2 of 3, ties... see below
    utility = np.array([[0.2, 0.2, 0.2],
                        [0.8, 0.8, 0.8],
                        [0.9, 0.9, 0.9]])
    shares = stats.dominance_shares(forget, utility, "lower", "higher")
    # c dominates b where c's forget <= b's (0.4, 0.4 <= 0.5; 0.6 > 0.5) and utility 0.9 > 0.8: 2 of 3
    assert shares[1, 2] == pytest.approx(2 / 3)
    # nobody dominates a (best forget), and a dominates nobody (worst utility)
    assert shares[0].sum() == 0 and shares[:, 0].sum() == 0
    assert stats.ranks(shares, level=0.6) == [1, 2, 1]
    assert stats.ranks(shares) == [1, 1, 1]  # at 97.5% nothing is separated


def test_utility_floor_by_hand():
    reference = np.array([1.0, 1.0, 1.0, 1.0])
    utility = np.array([[0.95, 0.95, 0.95, 0.95],   # above 0.9
                        [0.5, 0.5, 0.5, 0.5],       # below on every resample
                        [0.85, 0.85, 0.85, 0.95]])  # below in 3 of 4 only
    assert stats.below_floor(utility, reference, 0.9).tolist() == [False, True, False]
    assert stats.below_floor(utility, reference, 0.9, level=0.75).tolist() == [False, True, True]
    # the unranked entry neither takes a rank nor counts against the others
    shares = np.array([[0, 1.0, 0], [0, 0, 0], [1.0, 1.0, 0]])  # b beats a; b and a beat c
    assert stats.ranks(shares, ranked=np.array([True, False, True])) == [1, None, 2]


def test_near_copy_rule_by_hand():
    rng = np.random.default_rng(0)
    a = {"m/x": rng.random(20), "m/y": rng.random(20)}
    scaled = {k: 0.9 * v + 0.01 for k, v in a.items()}  # affine: r = 1
    assert "affine (r = 1.00000)" in stats.near_copy(a, scaled)
    assert stats.near_copy(a, {k: v.copy() for k, v in a.items()}) == "m/x identical; m/y identical"
    other = {"m/x": 0.9 * a["m/x"], "m/y": rng.random(20)}  # one metric tells them apart
    assert stats.near_copy(a, other) is None
    noisy = {k: v + rng.normal(0, 0.2, 20) for k, v in a.items()}
    assert stats.near_copy(a, noisy) is None
    assert [(i, j) for i, j, _ in stats.near_copies([a, other, scaled])] == [(0, 2)]


def test_ranking_memory_is_linear_in_entries():
    """entries × entries × B would be 400 · 400 · 1000 bools = 160 MB; the streamed shares stay
    within a few entries × B arrays."""
    sampled = np.random.default_rng(0).random((400, 1000))
    tracemalloc.start()
    shares = stats.win_shares(sampled, "lower")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert shares.shape == (400, 400)
    assert peak < 20 * 400 * 1000  # bytes: a handful of 400 × 1000 arrays, never 400 × 400 × 1000
    assert np.allclose(shares[:5, :5], (sampled[None, :5] < sampled[:5, None]).mean(axis=2))


# ----------------------------------------------------------------------------- validate and build

def test_values_outside_a_metrics_range_are_refused(board_copy):
    sub = board_copy / "submissions" / "ga_uniform"
    rows = [json.loads(line) for line in (sub / MIA).read_text().splitlines()]
    for r in rows:
        if r["doc"]["member"]:
            put(r, "prob", -1.0)  # a "perfect" forget probability that no model can have
    (sub / MIA).write_text("".join(json.dumps(r) + "\n" for r in rows))
    problems, entry = validate(sub, load_board(board_copy))
    assert entry is None and any("prob: -1.0: outside the metric's range [0, 1]" in p for p in problems), problems


def test_near_copies_are_flagged_on_the_page(board_copy):
    board = load_board(board_copy)
    copy = synthetic_entry(board, board_copy / "submissions" / "ga_uniform", board_copy / "submissions" / "zz_copy",
                           seed=0, name="GA, but better", shift=0.0, noise=0.0)
    rows = [json.loads(line) for line in (copy / MIA).read_text().splitlines()]
    for r in rows:  # every value x 0.9: ahead of the original on the forget probability
        put(r, "prob", value_of(r, "prob") * 0.9)
    (copy / MIA).write_text("".join(json.dumps(r) + "\n" for r in rows))
    synthetic_entry(board, copy, board_copy / "submissions" / "zz_copy2", seed=0, name="GA, but better", noise=0.0)
    shutil.rmtree(copy)
    (board_copy / "submissions" / "zz_copy2").rename(copy)  # its results file now states the x0.9 figures
    assert validate(copy, board)[0] == []
    build(board_copy, progress=False)
    scores = json.loads((board_copy / "scores.json").read_text())
    by_id = {e["id"]: e for e in scores["entries"]}
    assert any("near-copy of 'zz_copy'" in f and "tofu_forget_mrd_mia/prob affine" in f for f in by_id["ga_uniform"]["flags"])
    assert any("near-copy of 'ga_uniform'" in f for f in by_id["zz_copy"]["flags"])
    assert not by_id["npo_uniform"]["flags"]
    assert "near-copy of" in (board_copy / "index.html").read_text()
    assert "near-copy of" in (board_copy / "index.md").read_text()


def _good_board(board_copy: Path, n: int) -> list[str]:
    """n synthetic good entries beside the seeded three (which are removed)."""
    board = load_board(board_copy)
    subs = board_copy / "submissions"
    source = subs / "ga_uniform"
    shutil.copytree(source, board_copy / "source")
    for p in list(subs.iterdir()):
        shutil.rmtree(p)
    names = [f"good_{i}" for i in range(n)]
    for i, name in enumerate(names):
        synthetic_entry(board, board_copy / "source", subs / name, seed=i, name=f"good {i}", shift=0.02 * i)
    shutil.rmtree(board_copy / "source")
    return names


def _hostile(sub: Path, kind: str) -> None:
    mia = sub / MIA
    if kind == "deep nesting":
        (sub / "run_record.json").write_text("[" * 100_000 + "]" * 100_000)
    elif kind == "huge integer":
        results = json.loads((sub / "results.json").read_text(), parse_constant=float)
        text = json.dumps(results).replace('"prob,none": ', '"prob,none": ' + "9" * 5000 + ", \"x\": ", 1)
        (sub / "results.json").write_text(text)
    elif kind == "out of range":
        rows = [json.loads(line) for line in mia.read_text().splitlines()]
        put(rows[0], "prob", 1e308)
        mia.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif kind == "1e999":  # in a member's row: a value the board scores
        lines = mia.read_text().splitlines()
        i = next(i for i, line in enumerate(lines) if json.loads(line)["doc"]["member"])
        row = json.loads(lines[i])
        put(row, "prob", "PLACEHOLDER")
        lines[i] = json.dumps(row).replace('"PLACEHOLDER"', "1e999")
        mia.write_text("\n".join(lines) + "\n")
    elif kind == "stated missing":
        results = json.loads((sub / "results.json").read_text(), parse_constant=float)
        results["results"] = {task: {} for task in results["results"]}
        (sub / "results.json").write_text(json.dumps(results))
    elif kind == "pickle":
        (sub / "results.json").write_bytes(b"\x80\x04\x95")
    elif kind == "mathtext name":
        s = json.loads((sub / "submission.json").read_text())
        s["method"]["name"] = r"$\frac{a}{0}$ \x1b[31m"
        (sub / "submission.json").write_text(json.dumps(s))
        return
    else:
        raise AssertionError(kind)


HOSTILE = ["deep nesting", "huge integer", "out of range", "1e999", "stated missing", "pickle"]


def test_hostile_entries_never_block_the_board_nor_move_the_good_ones(board_copy):
    names = _good_board(board_copy, 8)
    build(board_copy, progress=False)
    before = {e["id"]: e["rank"] for e in json.loads((board_copy / "scores.json").read_text())["entries"]}
    assert set(before) == set(names) and max(r["reweighted"] for r in before.values()) > 1
    subs = board_copy / "submissions"
    for i, kind in enumerate(HOSTILE):
        target = subs / f"zz_hostile_{i}"
        shutil.copytree(subs / "good_0", target)
        _hostile(target, kind)
    build(board_copy, overwrite=True, progress=False)
    scores = json.loads((board_copy / "scores.json").read_text())
    assert {e["id"]: e["rank"] for e in scores["entries"]} == before
    rejected = {r["submission"]: r["problems"] for r in scores["rejected"]}
    assert sorted(rejected) == [f"zz_hostile_{i}" for i in range(len(HOSTILE))]
    assert all(len(x) < 400 and "\n" not in x for p in rejected.values() for x in p)
    page = (board_copy / "index.html").read_text()
    for name in rejected:
        assert name in page


def test_a_utility_floor_marks_and_unranks_a_broken_model(board_copy, tiny_checkpoint, tmp_path):
    from mrd_bench.cli import main

    spec = json.loads((board_copy / "board.json").read_text())
    spec["utility_rule"] = {"kind": "floor", "relative": 0.9, "reference": "reference"}
    (board_copy / "board.json").write_text(json.dumps(spec))
    with pytest.raises(Exception, match="leaderboard reference"):
        build(board_copy, progress=False)  # a floor needs the original model's evaluation first
    assert main(["leaderboard", "reference", str(board_copy), "--model", str(tiny_checkpoint),
                 "--work", str(tmp_path / "work")]) == 0
    board = load_board(board_copy)
    assert validate(board_copy / "reference", board)[0] == []
    # an entry whose every value is the original's, and one that broke the model (utility -0.5)
    synthetic_entry(board, board_copy / "reference", board_copy / "submissions" / "as_original", seed=0,
                    name="nothing unlearned", noise=0.0)
    synthetic_entry(board, board_copy / "submissions" / "ga_uniform", board_copy / "submissions" / "broken",
                    seed=0, name="broken", shift=0.5, noise=0.0)
    build(board_copy, progress=False)
    scores = json.loads((board_copy / "scores.json").read_text())
    by_id = {e["id"]: e for e in scores["entries"]}
    ref = scores["utility_rule"]["reference_scores"]
    assert ref["floor"] == pytest.approx(0.9 * ref["utility"]["value"])
    assert by_id["as_original"]["ranked"] and by_id["as_original"]["rank"]["reweighted"] >= 1
    assert not by_id["broken"]["ranked"] and by_id["broken"]["rank"] == {"reweighted": None, "overall": None}
    assert scores["entries"][-1]["id"] == "broken"  # unranked entries come last
    ranked = [e["rank"]["reweighted"] for e in scores["entries"] if e["ranked"]]
    assert min(ranked) == 1 and max(ranked) <= len(ranked)
    page = (board_copy / "index.html").read_text()
    assert "below the utility floor: shown, not ranked" in page and "Utility rule: a floor at 90%" in page
