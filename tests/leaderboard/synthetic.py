"""Synthetic board entries: a copy of a real submission whose per-sample values are moved by
seeded noise (kept in each metric's range) and whose results file states the figures of the new
values, so that it validates like a genuine entry. Used by the board-level tests and by
benchmarks/board_scale.py (a 200-entry board)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from mrd_bench.leaderboard.board import metrics
from mrd_bench.stats import auc_points, bin_indices, points, transform_of
from mrd_bench.leaderboard.submission import value_of


def put(row: dict, metric: str, value) -> None:
    """Set a document's value of `metric`, in either form a submission logs: a plain number, or a
    stratified item's `value` (mrd_bench.leaderboard.submission.value_of reads both)."""
    if isinstance(row[metric], dict):
        row[metric]["value"] = value
    else:
        row[metric] = value


def _rows(path: Path) -> list[dict]:
    return [json.loads(line, parse_constant=float) for line in path.read_text().splitlines() if line.strip()]


def synthetic_entry(board: dict, source: Path, out: Path, *, seed: int, name: str, shift: float = 0.0,
                    noise: float = 0.05) -> Path:
    """`out`: `source` with every board metric's per-sample values v -> clip(v ± shift + noise·z),
    the shift towards worse (up for a lower-is-better metric, down for a higher-is-better one)."""
    rng = np.random.default_rng(seed)
    shutil.copytree(source, out)
    sub = json.loads((out / "submission.json").read_text())
    sub["method"]["name"] = name
    (out / "submission.json").write_text(json.dumps(sub))
    results = json.loads((out / sub["results"]).read_text(), parse_constant=float)
    annotation = board["_annotation"]
    groups = bin_indices([annotation["samples"][s]["bin"] for s in board["splits"]["forget"]])
    by_task = {m["task"]: [] for m in metrics(board)}
    for m in metrics(board):
        by_task[m["task"]].append(m)
    for task, specs in by_task.items():
        path = out / sub["samples"][task]
        rows = _rows(path)
        split = board["splits"][specs[0]["split"]]
        members = {r["doc"]["sample_id"]: r for r in rows if r["doc"].get("member", 1) != 0}
        for m in specs:
            low, high = m["range"]
            worse = shift if m["direction"] == "lower" else -shift
            values = []
            for sid in split:
                row = members[sid]
                old = value_of(row, m["name"])
                new = float(np.clip(old + worse + noise * rng.standard_normal(), low, high))
                put(row, m["name"], new)
                values.append(new)
            values = np.asarray(values)
            if m["statistic"] != "mean":  # an AUC: the members' moved scores against the non-members' own
                others = {r["doc"]["sample_id"]: r for r in rows if r["doc"].get("member", 1) == 0}
                nonmembers = np.asarray([value_of(others[s], m["name"]) for s in board["splits"][m["nonmember_split"]]])
                stated = auc_points(values, nonmembers, groups, annotation["reference_weights"], transform_of(m))
            elif m["stratified"]:
                stated = points(values, groups, annotation["reference_weights"])
            else:
                stated = {"overall": float(values.mean())}
            for key, value in stated.items():
                field = m["name"] if key == "overall" else f"{m['name']}_{key}"
                results["results"][task][f"{field},none"] = value
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / sub["results"]).write_text(json.dumps(results))
    return out
