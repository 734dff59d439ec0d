"""Does the choice of difficulty signal change a board's order? The shipped TOFU board
(leaderboards/tofu_subset5_forget01) rebuilt with its forget split binned by each signal that
`mrd-bench score` measured over the board's pool (the original model's scores of its 100
trained QA pairs, kept in the board folder): each signal's reweighted ranking and reweighted
values, and every pair of entries whose order differs from the board's MRD order.

    python benchmarks/board_by_signal.py [--signals mrd_definition,mrd_per_token,nll,min_k,length]
                                         [--out benchmarks/results/board_by_signal.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mrd_bench.annotate import annotate  # noqa: E402
from mrd_bench.data import author_subset, load  # noqa: E402
from mrd_bench.leaderboard.board import load_board  # noqa: E402
from mrd_bench.leaderboard.build import score_entries  # noqa: E402
from mrd_bench.provenance import record  # noqa: E402

BOARD = ROOT / "leaderboards" / "tofu_subset5_forget01"


def entries_of(board: dict) -> tuple[list, object]:
    """The board's accepted entries and its reference (the original model's evaluation), as
    `leaderboard build` reads them."""
    from mrd_bench.leaderboard.build import _reference, checked

    folder = Path(board["_folder"])
    entries = []
    for sub in sorted(p for p in (folder / "submissions").iterdir() if p.is_dir()):
        problems, entry = checked(sub, board)
        if problems:
            raise SystemExit(f"{sub.name}: {problems[0]}")
        entries.append(entry)
    return entries, _reference(board, folder)


def rescored(board: dict, entries: list, reference, pool: list[str], signal: str, tmp: Path) -> dict:
    """score_entries (the build's pure scoring) with the forget split binned by `signal` over
    the board's pool: the per-sample values stay, the bins and the reference mix change."""
    ann = json.loads(annotate(BOARD / "scores_subset5_full.jsonl", pool, tmp / f"{signal}.json", signal=signal,
                              source={"benchmark": "tofu", "split": "full"}).read_text())
    other = {**board, "_annotation": ann,
             "annotation": {**board["annotation"], "bin_edges": ann["bin_edges"], "signal": signal,
                            "signal_label": ann["signal_label"], "higher_is": ann["higher_is"]}}
    return {**score_entries(other, entries, reference), "annotation": other["annotation"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--signals", default="mrd_definition,mrd_per_token,nll,min_k,length")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "board_by_signal.json"))
    args = parser.parse_args()
    signals = [s.strip() for s in args.signals.split(",")]
    result = {}
    board = load_board(BOARD)
    entries, reference = entries_of(board)
    subset = set(author_subset("tofu", 5))
    pool = [s for s in load("tofu", "full")["sample_id"] if s in subset]  # the board's 100 trained QA pairs
    with tempfile.TemporaryDirectory() as tmp:
        for signal in signals:
            scores = rescored(board, entries, reference, pool, signal, Path(tmp))
            primary = scores["primary_metric"]
            result[signal] = {
                "label": scores["annotation"]["signal_label"], "higher_is": scores["annotation"]["higher_is"],
                "bin_edges": scores["annotation"]["bin_edges"],
                "bin_counts": scores["bin_counts"],
                "entries": {e["method"]["name"]: {"rank": e["rank"]["reweighted"], "ranked": e["ranked"],
                                                  "reweighted": e["scores"][primary]["reweighted"]["value"],
                                                  "ci": e["scores"][primary]["reweighted"]["ci"]}
                            for e in scores["entries"]}}
    base = signals[0]
    for signal in signals[1:]:
        a, b = result[base]["entries"], result[signal]["entries"]
        flips = []
        for x, y in combinations(sorted(a), 2):  # lower is better: the order by reweighted value
            if (a[x]["reweighted"] - a[y]["reweighted"]) * (b[x]["reweighted"] - b[y]["reweighted"]) < 0:
                flips.append([x, y])
        rank_changes = [[n, a[n]["rank"], b[n]["rank"]] for n in sorted(a) if a[n]["rank"] != b[n]["rank"]]
        result[signal]["against_" + base] = {"value_order_flips": flips, "rank_changes": rank_changes}
    out = {"board": BOARD.name, "signals": result, "provenance": record()}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    for r in result.values():
        order = sorted(r["entries"], key=lambda n: r["entries"][n]["reweighted"])
        line = ", ".join(f"{n} {r['entries'][n]['reweighted']:.3f} (rank {r['entries'][n]['rank'] or '-'})" for n in order)
        print(f"{r['label']} (higher = {r['higher_is']}), bins {r['bin_counts']}: {line}")
        if "against_" + base in r:
            d = r["against_" + base]
            print(f"    vs {base}: {len(d['value_order_flips'])} pairs change order by value "
                  f"{d['value_order_flips']}; rank changes {d['rank_changes']}")


if __name__ == "__main__":
    main()
