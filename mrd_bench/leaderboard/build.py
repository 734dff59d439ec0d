"""`mrd-bench leaderboard build BOARD`: score every accepted submission from its per-sample
outputs (never from the numbers it states), with bootstrap CIs and paired-bootstrap ranks.

- Every metric overall, per difficulty bin, and reweighted to the annotation's mix
  (Σ_b w_b · mean_b, w = the annotation's reference weights).
- 95% percentile CIs over B resamples of the samples, stratified by bin (each bin's samples are
  resampled within the bin; the utility split is resampled as one group).
- Ranks from a paired bootstrap: every entry is scored on the same resampled samples, and
  rank(a) = 1 + #{b : b beats a in at least 97.5% of resamples}; entries no test separates
  share a rank (Chatbot Arena's "1 + number of models statistically better", paired).
Outputs: scores.json (every figure, with provenance), index.md, index.html and two plots.
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from mrd_bench.errors import OutputExistsError
from mrd_bench.io import write_json
from mrd_bench.leaderboard.board import load_board, metrics
from mrd_bench.leaderboard.submission import Entry, validate
from mrd_bench.lmeval.aggregations import BINS

SCORES = "scores.json"
LEVEL = 0.975  # a pair is separated when one side wins at least this share of resamples
TOLERANCE = 1e-6


# ----------------------------------------------------------------------------- statistics (pure)

def bin_indices(bins: list[str]) -> dict[str, np.ndarray]:
    return {b: np.flatnonzero(np.asarray(bins) == b) for b in BINS}


def draws(groups: dict[str, np.ndarray], sizes: dict[str, int], B: int, seed: int
          ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The shared resamples: for each bin of the forget split, B × n_b indices into that split
    (drawn within the bin); for each other split, B × n indices. Every entry uses the same draws
    (paired)."""
    rng = np.random.default_rng(seed)
    by_bin = {b: idx[rng.integers(len(idx), size=(B, len(idx)))] for b, idx in groups.items() if len(idx)}
    by_split = {split: rng.integers(n, size=(B, n)) for split, n in sizes.items()}
    return by_bin, by_split


def stratified(values: np.ndarray, groups: dict[str, np.ndarray], weights: dict[str, float],
               resamples: dict[str, np.ndarray]) -> dict[str, tuple[float, np.ndarray]]:
    """Point value and B resampled values of the mean overall, per bin and reweighted."""
    B = next(iter(resamples.values())).shape[0]  # per bin, B × n_b
    out = {}
    total = sum(len(idx) for idx in groups.values())
    overall_point, overall_draws = 0.0, np.zeros(B)
    rew_point, rew_draws, rew_ok = 0.0, np.zeros(B), True
    for b in BINS:
        idx = groups[b]
        if not len(idx):
            out[b] = (math.nan, np.full(B, math.nan))
            rew_ok = rew_ok and not weights.get(b, 0) > 0
            continue
        point, sampled = float(values[idx].mean()), values[resamples[b]].mean(axis=1)
        out[b] = (point, sampled)
        overall_point += point * len(idx) / total
        overall_draws += sampled * len(idx) / total
        rew_point += weights.get(b, 0.0) * point
        rew_draws += weights.get(b, 0.0) * sampled
    out["overall"] = (overall_point, overall_draws)
    out["reweighted"] = (rew_point, rew_draws) if rew_ok else (math.nan, np.full(B, math.nan))
    return out


def plain(values: np.ndarray, resample: np.ndarray) -> dict[str, tuple[float, np.ndarray]]:
    return {"overall": (float(values.mean()), values[resample].mean(axis=1))}


def interval(sampled: np.ndarray) -> list[float]:
    if np.isnan(sampled).any():
        return [math.nan, math.nan]
    low, high = np.percentile(sampled, [2.5, 97.5])
    return [float(low), float(high)]


def win_shares(sampled: np.ndarray, direction: str) -> np.ndarray:
    """shares[a, b]: the share of resamples in which entry b is strictly better than entry a
    (sampled: entries × B, every row on the same resamples)."""
    sign = 1.0 if direction == "higher" else -1.0
    diff = sign * (sampled[None, :, :] - sampled[:, None, :])  # [a, b, r] = b − a, oriented
    return (diff > 0).mean(axis=2)


def ranks(shares: np.ndarray, level: float = LEVEL) -> list[int]:
    """1 + the number of entries that beat each entry in at least `level` of the resamples."""
    return [1 + int((shares[a] >= level).sum()) for a in range(shares.shape[0])]


# ----------------------------------------------------------------------------- build

def score_entries(board: dict, entries: list[Entry]) -> dict:
    """Every figure of scores.json for the accepted entries (pure: no files)."""
    annotation = board["_annotation"]
    bins = [annotation["samples"][sid]["bin"] for sid in board["splits"]["forget"]]
    groups = bin_indices(bins)
    weights = annotation["reference_weights"]
    B, seed = board["bootstrap"]["B"], board["bootstrap"]["seed"]
    specs = metrics(board)
    scored = {m["split"]: len(board["splits"][m["split"]]) for m in specs if not m["stratified"]}
    resamples, by_split = draws(groups, scored, B, seed)
    per_entry, sampled = [], {}
    for e in entries:
        scores = {}
        for m in specs:
            values = e.values[m["id"]]
            if m["stratified"]:
                stats = stratified(values, groups, weights, resamples)
            else:
                stats = plain(values, by_split[m["split"]])
            scores[m["id"]] = {k: {"value": v, "ci": interval(s)} for k, (v, s) in stats.items()}
            for k, (_, s) in stats.items():
                sampled.setdefault((m["id"], k), []).append(s)
        per_entry.append(scores)
    primary = next(m for m in specs if m["id"] == board["primary_metric"])
    out_entries, pairwise = [], {}
    rank_of = {}
    for key in ("reweighted", "overall"):
        if not entries:
            break
        shares = win_shares(np.stack(sampled[(primary["id"], key)]), primary["direction"])
        rank_of[key] = ranks(shares)
        pairwise[key] = [[float(x) for x in row] for row in shares]
    for i, e in enumerate(entries):
        out_entries.append({
            "id": Path(e.folder).name, "method": e.method, "run": _run_summary(e.record),
            "scores": per_entry[i], "rank": {k: r[i] for k, r in rank_of.items()},
            "discrepancies": _discrepancies(e, per_entry[i])})
    order = sorted(range(len(out_entries)), key=lambda i: (
        out_entries[i]["rank"].get("reweighted", 0),
        _oriented(out_entries[i]["scores"][primary["id"]]["reweighted"]["value"], primary["direction"])))
    return {
        "board": board["name"], "title": board["title"], "description": board.get("description", ""),
        "notes": board.get("notes", []), "benchmark": board["benchmark"], "forget_split": board["forget_split"],
        "original_model": board["original_model"], "annotation": board["annotation"],
        "bins": list(BINS), "bin_counts": {b: int(len(groups[b])) for b in BINS},
        "reference_weights": {b: float(weights.get(b, 0.0)) for b in BINS},
        "bootstrap": {"B": B, "seed": seed, "stratified_by": "difficulty bin", "paired": True, "level": LEVEL},
        "metrics": specs, "primary_metric": board["primary_metric"], "utility_metric": board["utility_metric"],
        "entries": [out_entries[i] for i in order],
        "pairwise_win_share": {"entries": [out_entries[i]["id"] for i in range(len(out_entries))], **pairwise},
        "order_changes": _order_changes(out_entries, primary),
    }


def _oriented(value: float, direction: str) -> float:
    if value is None or math.isnan(value):
        return math.inf
    return -value if direction == "higher" else value


def _order_changes(entries: list[dict], primary: dict) -> list[dict]:
    """Pairs whose order on the primary metric differs between the overall and the reweighted value."""
    changes = []
    for i, a in enumerate(entries):
        for b in entries[i + 1:]:
            sa, sb = a["scores"][primary["id"]], b["scores"][primary["id"]]
            before = _oriented(sa["overall"]["value"], primary["direction"]) - _oriented(sb["overall"]["value"], primary["direction"])
            after = _oriented(sa["reweighted"]["value"], primary["direction"]) - _oriented(sb["reweighted"]["value"], primary["direction"])
            if before * after < 0:
                changes.append({"a": a["id"], "b": b["id"],
                                "overall_ahead": a["id"] if before < 0 else b["id"],
                                "reweighted_ahead": a["id"] if after < 0 else b["id"]})
    return changes


def _discrepancies(entry: Entry, scores: dict) -> list[str]:
    lines = []
    for mid, stated in entry.stated.items():
        for key, value in stated.items():
            ours = scores.get(mid, {}).get(key, {}).get("value")
            if ours is None or (isinstance(value, float) and math.isnan(value) and math.isnan(ours)):
                continue
            if not (isinstance(value, (int, float)) and abs(value - ours) <= TOLERANCE * (1 + abs(ours))):
                lines.append(f"{mid} ({key}): the results file states {value!r}; recomputed from the samples: {ours!r}")
    return lines


def _run_summary(record: dict) -> dict:
    settings = record.get("settings") if isinstance(record.get("settings"), dict) else {}
    loop = record.get("loop") if isinstance(record.get("loop"), dict) else {}
    hashes = record.get("model_hash") if isinstance(record.get("model_hash"), dict) else {}
    return {"method": settings.get("method"), "sampler": settings.get("sampler"), "steps": record.get("steps"),
            "lr": loop.get("lr"), "batch_size": loop.get("batch_size"), "seed": record.get("seed"),
            "initial_weights_sha256": hashes.get("initial"), "final_weights_sha256": hashes.get("final")}


def build(board_path: str | Path, *, overwrite: bool = False, progress: bool = True) -> Path:
    """Validate every submission under BOARD/submissions/, score the accepted ones, and write
    scores.json, index.md and index.html (with its plots) into the board folder."""
    from tqdm import tqdm

    from mrd_bench.leaderboard.page import write_page
    from mrd_bench.provenance import record

    board = load_board(board_path)
    folder = Path(board["_folder"])
    previous = folder / SCORES
    if previous.is_file() and not overwrite and not _ours(previous):
        raise OutputExistsError(f"{str(previous)!r} exists and was not written by `leaderboard build`; "
                                "pass --overwrite to replace it.")
    subs = sorted(p for p in (folder / "submissions").glob("*") if p.is_dir() and not p.name.endswith(".partial")) \
        if (folder / "submissions").is_dir() else []
    entries, rejected = [], []
    for sub in tqdm(subs, desc="validate submissions", unit="submission", disable=not progress):
        problems, entry = validate(sub, board)
        if problems:
            rejected.append({"submission": sub.name, "problems": problems})
        else:
            entries.append(entry)
    scores = score_entries(board, entries)
    scores = {**scores, "rejected": rejected,
              "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "provenance": record(board_sha256=_sha(folder / "board.json"))}
    write_json(previous, scores)
    page = write_page(scores, folder)
    _print_summary(scores, page)
    return page


def _ours(path: Path) -> bool:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "entries" in data and "pairwise_win_share" in data


def _sha(path: Path) -> str:
    from mrd_bench.leaderboard.untrusted import sha256

    return sha256(path)


def _print_summary(scores: dict, page: Path) -> None:
    primary = scores["primary_metric"]
    label = next(m["label"] for m in scores["metrics"] if m["id"] == primary)
    print(f"Leaderboard {scores['board']}: {len(scores['entries'])} entries, {len(scores['rejected'])} rejected; "
          f"ranked by {label} reweighted to the annotation's mix (95% CI, paired bootstrap B={scores['bootstrap']['B']})")
    for e in scores["entries"]:
        s = e["scores"][primary]
        print(f"  {e['rank']['reweighted']:>2}. {e['method']['name']:<28} {s['reweighted']['value']:.4f} "
              f"[{s['reweighted']['ci'][0]:.4f}, {s['reweighted']['ci'][1]:.4f}]   overall {s['overall']['value']:.4f} "
              f"(rank {e['rank']['overall']})")
    changes = scores["order_changes"]
    print("  order changes between overall and reweighted: " + ("; ".join(
        f"{c['a']} vs {c['b']} ({c['overall_ahead']} ahead overall, {c['reweighted_ahead']} reweighted)"
        for c in changes) if changes else "none"))
    for r in scores["rejected"]:
        print(f"  rejected {r['submission']}: {r['problems'][0]}" + (f" (+{len(r['problems']) - 1} more)"
                                                                       if len(r["problems"]) > 1 else ""))
    for line in (d for e in scores["entries"] for d in e["discrepancies"]):
        print(f"  note: {line}")
    print(f"Page: {page}")
