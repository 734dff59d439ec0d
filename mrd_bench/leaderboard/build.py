"""`mrd-bench leaderboard build BOARD`: score every accepted submission from its per-sample
outputs (never from the numbers it states), with bootstrap CIs and paired-bootstrap ranks.

- Every metric overall, per difficulty bin, and reweighted to the annotation's mix
  (Σ_b w_b · mean_b, w = the annotation's reference weights).
- 95% percentile CIs over B resamples of the samples, stratified by bin (each bin's samples are
  resampled within the bin; the utility split is resampled as one group).
- Ranks from a paired bootstrap: every entry is scored on the same resampled samples, and
  rank(a) = 1 + #{b : b beats a in at least 97.5% of resamples}; entries no test separates
  share a rank (Chatbot Arena's "1 + number of models statistically better", paired). The
  board's utility rule (stats.py) either leaves out entries under a utility floor or ranks
  along the forget-utility Pareto front ("beats" becomes "dominates").
Outputs: scores.json (every figure, with provenance), index.md, index.html and two plots.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from mrd_bench.errors import ConfigError, MrdBenchError, OutputExistsError
from mrd_bench.io import write_json, writing_together
from mrd_bench.leaderboard.evidence import evidence
from mrd_bench.leaderboard.board import load_board, metrics
from mrd_bench.stats import (BINS, LEVEL, auc_stratified, below_floor, bin_indices, dominance_shares,
                                         draws, interval, near_copies, near_copy, plain, ranks, stratified,
                                         transform_of, win_shares)
from mrd_bench.leaderboard.submission import Entry, validate
from mrd_bench.provenance import now

SCORES = "scores.json"


# ----------------------------------------------------------------------------- build

def score_entries(board: dict, entries: list[Entry], reference: Entry | None = None) -> dict:
    """Every figure of scores.json for the accepted entries (pure: no files). `reference` is the
    original model's evaluation, which a utility floor is relative to."""
    annotation = board["_annotation"]
    groups = bin_indices([annotation["samples"][sid]["bin"] for sid in board["splits"]["forget"]])
    weights = annotation["reference_weights"]
    B, seed = board["bootstrap"]["B"], board["bootstrap"]["seed"]
    specs = metrics(board)
    scored = {m["split"]: len(board["splits"][m["split"]]) for m in specs if not m["stratified"]}
    scored.update({m["nonmember_split"]: len(board["splits"][m["nonmember_split"]]) for m in specs
                   if m["statistic"] != "mean"})
    resamples, by_split = draws(groups, scored, B, seed)

    def stats_of(e: Entry, m: dict) -> dict:
        if m["statistic"] != "mean":
            return auc_stratified(e.values[m["id"]], e.nonmembers[m["id"]], groups, weights, resamples,
                                  by_split[m["nonmember_split"]], transform_of(m))
        return stratified(e.values[m["id"]], groups, weights, resamples) if m["stratified"] \
            else plain(e.values[m["id"]], by_split[m["split"]])

    per_entry, sampled = [], {}
    for e in entries:
        scores = {}
        for m in specs:
            stats = stats_of(e, m)
            scores[m["id"]] = {k: {"value": v, "ci": interval(s)} for k, (v, s) in stats.items()}
            for k, (_, s) in stats.items():
                sampled.setdefault((m["id"], k), []).append(s)
        per_entry.append(scores)
    primary = next(m for m in specs if m["id"] == board["primary_metric"])
    utility = next(m for m in specs if m["id"] == board["utility_metric"])
    rule, ref_summary = board["utility_rule"], None
    util = np.stack(sampled[(utility["id"], "overall")]) if entries else np.zeros((0, B))
    ranked = np.ones(len(entries), dtype=bool)
    if rule["kind"] == "floor":
        if reference is None:
            raise ValueError("a utility floor needs the original model's evaluation (reference)")
        ref_value, ref_sampled = stats_of(reference, utility)["overall"]
        ranked = ~below_floor(util, ref_sampled, rule["relative"])
        ref_summary = {"utility": {"value": ref_value, "ci": interval(ref_sampled)},
                       "floor": rule["relative"] * ref_value}
    rank_of, pairwise = {}, {}
    for key in ("reweighted", "overall"):
        if not entries:
            break
        forget = np.stack(sampled[(primary["id"], key)])
        shares = dominance_shares(forget, util, primary["direction"], utility["direction"]) \
            if rule["kind"] == "pareto" else win_shares(forget, primary["direction"])
        rank_of[key] = ranks(shares, ranked=ranked)
        pairwise[key] = [[float(x) for x in row] for row in shares]
    flags = _copy_flags(entries)
    out_entries = [{
        "id": Path(e.folder).name, "method": e.method, "run": _run_summary(e.record),
        "scores": per_entry[i], "rank": {k: r[i] for k, r in rank_of.items()},
        "ranked": bool(ranked[i]), "flags": flags.get(i, [])} for i, e in enumerate(entries)]
    order = sorted(range(len(out_entries)), key=lambda i: (
        not out_entries[i]["ranked"], out_entries[i]["rank"].get("reweighted") or 0,
        _oriented(out_entries[i]["scores"][primary["id"]]["reweighted"]["value"], primary["direction"])))
    return {
        "board": board["name"], "title": board["title"], "description": board.get("description", ""),
        "notes": board.get("notes", []), "benchmark": board["benchmark"], "forget_split": board["forget_split"],
        "original_model": board["original_model"], "annotation": board["annotation"],
        "bins": list(BINS), "bin_counts": {b: int(len(groups[b])) for b in BINS},
        "reference_weights": {b: float(weights.get(b, 0.0)) for b in BINS},
        "bootstrap": {"B": B, "seed": seed, "stratified_by": "difficulty bin", "paired": True, "level": LEVEL},
        "metrics": specs, "primary_metric": board["primary_metric"], "utility_metric": board["utility_metric"],
        "utility_rule": {**rule, **({"reference_scores": ref_summary} if ref_summary else {})},
        "max_entries": board["max_entries"],
        "entries": [out_entries[i] for i in order],
        "pairwise_win_share": {"entries": [out_entries[i]["id"] for i in range(len(out_entries))],
                               "kind": "dominance" if rule["kind"] == "pareto" else "win", **pairwise},
        "order_changes": _order_changes(out_entries, primary),
        "rank_inversions": _rank_inversions([out_entries[i] for i in order], primary),
    }


def _copy_flags(entries: list[Entry]) -> dict[int, list[str]]:
    """Each entry's near-copy flags: 'near-copy of X: ...' on both sides of a pair."""
    flags: dict[int, list[str]] = {}
    for i, j, why in near_copies([e.values for e in entries]):
        a, b = Path(entries[i].folder).name, Path(entries[j].folder).name
        flags.setdefault(i, []).append(f"near-copy of {ascii(b)}: {why}")
        flags.setdefault(j, []).append(f"near-copy of {ascii(a)}: {why}")
    return flags


def copies_of(submission: str | Path, board: dict) -> list[str]:
    """The near-copy flags of one submission against the other valid submissions beside it."""
    submission = Path(submission).resolve()
    problems, entry = checked(submission, board)
    if problems:
        return []
    others = [p for p in sorted(submission.parent.glob("*"))
              if p.is_dir() and p.resolve() != submission and not p.name.endswith(".partial")]
    flags = []
    for other in others[:board["max_entries"]]:
        found, twin = checked(other, board)
        why = None if found else near_copy(twin.values, entry.values)
        if why:
            flags.append(f"near-copy of {ascii(other.name)}: {why}")
    return flags


def _rank_inversions(ordered: list[dict], primary: dict) -> list[dict]:
    """Pairs where an entry holds a better rank than one with a better reweighted value: the
    rank counts entries that beat it significantly, so fewer such wins can sit beside a worse mean."""
    out = []
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            ra, rb = a["rank"].get("reweighted"), b["rank"].get("reweighted")
            va = _oriented(a["scores"][primary["id"]]["reweighted"]["value"], primary["direction"])
            vb = _oriented(b["scores"][primary["id"]]["reweighted"]["value"], primary["direction"])
            if ra is not None and rb is not None and ra < rb and vb < va:
                out.append({"better_rank": a["id"], "better_value": b["id"]})
    return out


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
            before = (_oriented(sa["overall"]["value"], primary["direction"])
                      - _oriented(sb["overall"]["value"], primary["direction"]))
            after = (_oriented(sa["reweighted"]["value"], primary["direction"])
                     - _oriented(sb["reweighted"]["value"], primary["direction"]))
            if before * after < 0:
                changes.append({"a": a["id"], "b": b["id"],
                                "overall_ahead": a["id"] if before < 0 else b["id"],
                                "reweighted_ahead": a["id"] if after < 0 else b["id"]})
    return changes


def _run_summary(record: dict) -> dict:
    settings = record.get("settings") if isinstance(record.get("settings"), dict) else {}
    loop = record.get("loop") if isinstance(record.get("loop"), dict) else {}
    hashes = record.get("model_hash") if isinstance(record.get("model_hash"), dict) else {}
    def kept(value):  # the submitter's words: short strings and numbers only
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else \
            value[:80] if isinstance(value, str) else None

    return {k: kept(v) for k, v in {
        "method": settings.get("method"), "sampler": settings.get("sampler"), "steps": record.get("steps"),
        "lr": loop.get("lr"), "batch_size": loop.get("batch_size"), "seed": record.get("seed"),
        "initial_weights_sha256": hashes.get("initial"), "final_weights_sha256": hashes.get("final")}.items()}


def build(board_path: str | Path, *, overwrite: bool = False, progress: bool = True, page_line: bool = True) -> Path:
    """Validate every submission under BOARD/submissions/, leave out (and list) those that fail,
    score the rest, and write scores.json, index.md and index.html (with its plots). The summary
    printed ends with the page's path unless `page_line` is False (a board built in a folder that
    is moved afterwards names its page itself)."""
    from tqdm import tqdm

    from mrd_bench.leaderboard.page import PAGE_FILES, write_page
    from mrd_bench.leaderboard.verify import status
    from mrd_bench.provenance import record

    board = load_board(board_path)
    folder = Path(board["_folder"])
    previous = folder / SCORES
    if previous.is_file() and not overwrite and not _ours(previous):
        raise OutputExistsError(f"{str(previous)!r} exists and was not written by `leaderboard build`; "
                                "pass --overwrite to replace it.")
    subs = sorted(p for p in (folder / "submissions").glob("*") if p.is_dir() and not p.name.endswith(".partial")) \
        if (folder / "submissions").is_dir() else []
    if len(subs) > board["max_entries"]:
        raise ConfigError(f"{folder}: {len(subs)} submissions, over the board's cap of {board['max_entries']} "
                          "(board.json max_entries); archive some, or raise the cap.")
    reference = _reference(board, folder)
    entries, rejected = [], []
    for sub in tqdm(subs, desc="validate submissions", unit="submission", disable=not progress):
        problems, entry = checked(sub, board)
        if problems:
            rejected.append({"submission": sub.name, "problems": problems})
        else:
            entries.append(entry)
    scores = score_entries(board, entries, reference)
    for e, sub in zip(scores["entries"], [folder / "submissions" / e["id"] for e in scores["entries"]]):
        e["verification"] = status(folder, e["id"], sub)
    scores = {**scores, "rejected": rejected, "stratified_by": evidence(folder, board["annotation"]),
              "built": now(),
              "provenance": record(board_sha256=_sha(folder / "board.json"))}
    with writing_together(previous, *(folder / name for name in PAGE_FILES)) as (staged, *page_files):
        write_json(staged, scores)  # the scores, the page and the plots: one build's, never a mix
        write_page(scores, *page_files)
    page = folder / "index.html"
    _print_summary(scores, page if page_line else None)
    return page


def checked(sub: Path, board: dict) -> tuple[list[str], Entry | None]:
    """validate(), with whatever an unreadable submission raises turned into its reason: one
    entry never stops the board from being built."""
    try:
        return validate(sub, board)
    except (MrdBenchError, OSError, ValueError, OverflowError, RecursionError, MemoryError) as err:
        return [f"could not be read: {type(err).__name__}: {str(err)[:200]}"], None


def _reference(board: dict, folder: Path) -> Entry | None:
    """The original model's evaluation that a utility floor is relative to (a submission-shaped
    folder written by `mrd-bench leaderboard reference`)."""
    rule = board["utility_rule"]
    if rule["kind"] != "floor":
        return None
    if not (folder / rule["reference"]).is_dir():
        raise ConfigError(f"{folder}: utility_rule/reference: {rule['reference']!r}: no such folder beside the board; "
                          "evaluate the original model into it with `mrd-bench leaderboard reference BOARD --model "
                          "ORIGINAL`")
    problems, entry = validate(folder / rule["reference"], board)
    if problems:
        raise ConfigError(f"{folder / rule['reference']}: the original model's evaluation is not valid: {problems[0]}"
                          " (re-make it with `mrd-bench leaderboard reference`)")
    return entry


def _ours(path: Path) -> bool:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "entries" in data and "pairwise_win_share" in data


def _sha(path: Path) -> str:
    from mrd_bench.leaderboard.untrusted import sha256

    return sha256(path)


def _print_summary(scores: dict, page: Path | None) -> None:
    from mrd_bench.leaderboard.page import rule_line
    from mrd_bench.leaderboard.untrusted import printable

    primary = scores["primary_metric"]
    label = next(m["label"] for m in scores["metrics"] if m["id"] == primary)
    print(f"Leaderboard {scores['board']}: {len(scores['entries'])} entries, {len(scores['rejected'])} rejected; "
          f"ranked by {label} reweighted to the annotation's mix (95% CI, paired bootstrap B={scores['bootstrap']['B']})")
    print(f"  {rule_line(scores)}")
    for e in scores["entries"]:
        s = e["scores"][primary]
        rank = f"{e['rank']['reweighted']:>2}." if e["ranked"] else " -."
        marks = ("" if e["ranked"] else "  [below the utility floor: not ranked]") + \
            ("  [verified]" if e.get("verification", {}).get("verified") else "") + \
            "".join(f"  [{printable(f)}]" for f in e["flags"])
        print(f"  {rank} {printable(e['method']['name'])[:28]:<28} {s['reweighted']['value']:.4f} "
              f"[{s['reweighted']['ci'][0]:.4f}, {s['reweighted']['ci'][1]:.4f}]   overall {s['overall']['value']:.4f} "
              f"(rank {e['rank']['overall'] or '-'}){marks}")
    changes = scores["order_changes"]
    print("  order changes between overall and reweighted: " + ("; ".join(
        f"{ascii(c['a'])} vs {ascii(c['b'])} ({ascii(c['overall_ahead'])} ahead overall, "
        f"{ascii(c['reweighted_ahead'])} reweighted)" for c in changes) if changes else "none"))
    for r in scores["rejected"]:
        print(f"  rejected {ascii(r['submission'])}: {printable(r['problems'][0])}"
              + (f" (+{len(r['problems']) - 1} more)" if len(r["problems"]) > 1 else ""))
    if page is not None:
        print(f"Page: {page}")
