"""Membership metrics on a board (`statistic: auc | privleak`): the AUC of the forget split's
attack scores against the non-member split's, overall, per bin and reweighted, with paired
resamples; privleak in open-unlearning's arithmetic. Checked by hand (sklearn's ROC AUC and
the formulas written out here), then end to end on the tiny seeded board, whose lm-eval run
states the same AUCs from its own aggregation."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mrd_bench.errors import ConfigError
from mrd_bench.leaderboard.board import load_board
from mrd_bench.leaderboard.build import build
from mrd_bench.stats import auc_points, auc_stratified, bin_indices, draws, interval, resampled_auc
from mrd_bench.leaderboard.submission import validate, value_of
from mrd_bench.leaderboard.verify import compare, sample_documents
from tests.leaderboard.synthetic import put


def _auc(members, nonmembers) -> float:
    return float(roc_auc_score([1] * len(members) + [0] * len(nonmembers), [*members, *nonmembers]))


def _ou_privleak(auc: float, ref: float) -> float:
    # open-unlearning: its AUC is on losses with forget labelled 0, i.e. 1 - ours; privleak = (score - ref) / ref * 100
    score, reference = 1 - auc, 1 - ref
    return (score - reference) / (reference + 1e-10) * 100


def test_row_wise_auc_is_sklearns_with_ties():
    rng = np.random.default_rng(3)
    members = rng.integers(0, 6, size=(7, 9)).astype(float)  # small integers: many ties
    nonmembers = rng.integers(0, 6, size=(7, 5)).astype(float)
    got = resampled_auc(members, nonmembers)
    assert got == pytest.approx([_auc(m, n) for m, n in zip(members, nonmembers)], abs=1e-12)


def test_auc_points_overall_per_bin_reweighted_and_privleak_by_hand():
    rng = np.random.default_rng(0)
    bins = ["easy"] * 6 + ["medium"] * 5 + ["hard"] * 4
    members = rng.normal(size=15) + np.array([1.0] * 6 + [0.3] * 5 + [-0.5] * 4)
    nonmembers = rng.normal(size=11)
    groups = bin_indices(bins)
    weights = {"easy": 0.5, "medium": 0.3, "hard": 0.2}
    got = auc_points(members, nonmembers, groups, weights)
    per_bin = {b: _auc(members[[i for i, x in enumerate(bins) if x == b]], nonmembers) for b in weights}
    assert got["overall"] == pytest.approx(_auc(members, nonmembers), abs=1e-12)
    for b in weights:
        assert got[b] == pytest.approx(per_bin[b], abs=1e-12)
    assert got["reweighted"] == pytest.approx(sum(weights[b] * per_bin[b] for b in weights), abs=1e-12)
    assert got["easy"] > got["hard"]  # the easy bin's members were drawn higher
    leak = auc_points(members, nonmembers, groups, weights, transform=lambda a: _ou_privleak(a, 0.6))
    for key in ("overall", "easy", "reweighted"):
        assert leak[key] == pytest.approx(_ou_privleak(got[key], 0.6), abs=1e-6)
    # an empty bin with weight > 0: its AUC and the reweighted value are NaN, overall is not
    empty = auc_points(members[:11], nonmembers, bin_indices(bins[:11]), weights)
    assert math.isnan(empty["hard"]) and math.isnan(empty["reweighted"]) and not math.isnan(empty["overall"])


def test_resampled_auc_is_paired_and_its_interval_covers_the_point():
    rng = np.random.default_rng(1)
    bins = ["easy"] * 20 + ["medium"] * 20 + ["hard"] * 20
    members, nonmembers = rng.normal(0.4, 1, 60), rng.normal(0, 1, 40)
    groups = bin_indices(bins)
    weights = {"easy": 1 / 3, "medium": 1 / 3, "hard": 1 / 3}
    resamples, by_split = draws(groups, {"holdout": 40}, 400, 0)
    a = auc_stratified(members, nonmembers, groups, weights, resamples, by_split["holdout"])
    b = auc_stratified(members + 0.2, nonmembers, groups, weights, resamples, by_split["holdout"])
    low, high = interval(a["overall"][1])
    assert low <= a["overall"][0] <= high and high - low < 0.5
    # the same draws: shifting every member up can only raise each resample's AUC
    assert np.all(b["overall"][1] >= a["overall"][1]) and np.all(b["reweighted"][1] >= a["reweighted"][1])
    r = 0  # one resample by hand: its members (drawn within bins) against its non-members
    idx = np.concatenate([resamples[k][r] for k in ("easy", "medium", "hard")])
    assert a["overall"][1][r] == pytest.approx(_auc(members[idx], nonmembers[by_split["holdout"][r]]), abs=1e-12)


def _with_auc_metrics(board_dir):
    """The seeded board (which lists Min-K% AUC and extraction strength) with privleak added."""
    path = board_dir / "board.json"
    board = json.loads(path.read_text())
    task = next(t for t in board["tasks"] if t["task"] == "tofu_forget_mrd_mia")
    assert {"min_k_auc", "extraction_strength"} <= {m["name"] for m in task["metrics"]}  # the board's own
    task["metrics"] += [
        {"name": "privleak", "direction": "higher", "label": "privleak", "range": [-1e6, 0], "statistic": "privleak"}]
    path.write_text(json.dumps(board))
    return board


def test_a_board_scores_membership_aucs_as_lm_eval_states_them(board_copy):
    _with_auc_metrics(board_copy)
    board = load_board(board_copy)
    sub = board_copy / "submissions" / "ga_uniform"
    problems, entry = validate(sub, board)
    assert problems == []  # the results file's lm-eval AUCs (sklearn, in the task) match the board's recomputation
    rows = [json.loads(x, parse_constant=float) for x in (sub / "samples_tofu_forget_mrd_mia.jsonl").read_text().splitlines()]
    members = [value_of(r, "min_k_auc") for r in rows if r["doc"]["member"]]
    others = [value_of(r, "min_k_auc") for r in rows if not r["doc"]["member"]]
    stated = json.loads((sub / "results.json").read_text())["results"]["tofu_forget_mrd_mia"]
    assert stated["min_k_auc,none"] == pytest.approx(_auc(members, others), abs=1e-9)
    assert stated["privleak,none"] == pytest.approx(_ou_privleak(_auc(members, others), 0.5), abs=1e-6)
    assert len(entry.nonmembers["tofu_forget_mrd_mia/min_k_auc"]) == len(board["splits"]["holdout"])
    out = build(board_copy, overwrite=True, progress=False)
    scores = json.loads((out if out.name == "scores.json" else board_copy / "scores.json").read_text())
    e = next(x for x in scores["entries"] if x["id"] == "ga_uniform")
    auc = e["scores"]["tofu_forget_mrd_mia/min_k_auc"]
    assert auc["overall"]["value"] == pytest.approx(_auc(members, others), abs=1e-9)
    assert auc["overall"]["ci"][0] <= auc["overall"]["value"] <= auc["overall"]["ci"][1]
    assert e["scores"]["tofu_forget_mrd_mia/privleak"]["overall"]["value"] == pytest.approx(
        _ou_privleak(auc["overall"]["value"], 0.5), abs=1e-6)
    page = (board_copy / "index.html").read_text()
    assert 'id="membership"' in page and "fallback" in page and "Min-K% MIA AUC" in page


def test_forged_nonmember_scores_are_refused_or_caught_by_verification(board_copy):
    """Non-member scores decide an AUC: moving them without restating the AUC is refused; the
    verification re-evaluates sampled non-members too, so a consistent forgery fails there."""
    _with_auc_metrics(board_copy)
    board = load_board(board_copy)
    sub = board_copy / "submissions" / "ga_uniform"
    path = sub / "samples_tofu_forget_mrd_mia.jsonl"
    rows = [json.loads(x, parse_constant=float) for x in path.read_text().splitlines()]
    for r in rows:
        if not r["doc"]["member"]:
            put(r, "min_k_auc", value_of(r, "min_k_auc") + 0.5)  # non-members look more familiar: AUC falls
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    problems, _ = validate(sub, board)
    assert any("min_k_auc" in p and "recomputed" in p for p in problems), problems
    sampled = sample_documents(board, fraction=0.05, minimum=4, seed=0)
    assert sampled.get("holdout"), "the verification samples non-members for an AUC metric"
    sid = sampled["holdout"][0]
    forged = {r["doc"]["sample_id"]: r for r in rows if not r["doc"]["member"]}
    original = value_of(forged[sid], "min_k_auc") - 0.5
    holdout = board["splits"]["holdout"]
    submitted_non = {f"tofu_forget_mrd_mia/{m}": np.array([value_of(forged[s], m) for s in holdout])
                     for m in ("min_k_auc", "privleak")}
    ours_non = {"tofu_forget_mrd_mia": {sid: {m: {"value": original, "bin": ""} for m in ("min_k_auc", "privleak")}}}
    members = {m: np.zeros(len(board["splits"]["forget"])) for m in ("prob", "ua", "min_k_auc", "privleak",
                                                                       "extraction_strength")}
    result = compare(board, {"holdout": [sid]}, {f"tofu_forget_mrd_mia/{k}": v for k, v in members.items()}, {},
                     1e-4, submitted_non, ours_non)
    assert result["per_metric"]["tofu_forget_mrd_mia/min_k_auc"]["over_tolerance"] == 1
    assert result["per_metric"]["tofu_forget_mrd_mia/prob"]["n"] == 0  # no member was sampled here
    assert any(sid in r for r in result["reasons"])


def test_a_membership_metric_needs_a_non_member_split(board_copy):
    _with_auc_metrics(board_copy)
    board = json.loads((board_copy / "board.json").read_text())
    next(t for t in board["tasks"] if t["task"] == "tofu_forget_mrd_mia").pop("nonmember_split")
    (board_copy / "board.json").write_text(json.dumps(board))
    with pytest.raises(ConfigError, match="nonmember_split"):
        load_board(board_copy)
