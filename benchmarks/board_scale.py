"""Leaderboard cost at its limits, timed as whole commands with /usr/bin/time -v:

- `validate`: one submission of the TOFU board (four tasks) at the size limits (four samples
  files of just under 32 MiB each, just under 128 MiB in all), holding the board's ids and
  about 2 million more; it must be refused (ids not in the board's split) in under a minute on
  2 cores;
- `build`: a board of 200 synthetic entries (copies of a real submission with seeded noise and a
  shift towards worse, results files stating the new figures: each validates like a genuine
  entry) with B = 1000 paired resamples.

    python benchmarks/board_scale.py [--entries 200] [--out benchmarks/results/board_scale.json]

It works on copies of leaderboards/tofu_subset5_forget01 (validate) and
leaderboards/fictitious_forget20 (build) in a temporary folder.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mrd_bench.leaderboard import untrusted  # noqa: E402
from mrd_bench.leaderboard.board import load_board  # noqa: E402
from mrd_bench.provenance import record  # noqa: E402
from tests.leaderboard.synthetic import synthetic_entry  # noqa: E402


def timed(argv: list[str]) -> dict:
    """Exit code, wall seconds and peak RSS (GB) of a whole command."""
    proc = subprocess.run(["/usr/bin/time", "-v", *argv], capture_output=True, text=True)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    h, m, s = (float(x) if x else 0.0 for x in wall.groups())
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    tail = [line for line in proc.stderr.splitlines() if "mrd-bench: error" in line]
    return {"argv": argv[1:], "exit": proc.returncode, "wall_s": round(h * 3600 + m * 60 + s, 2),
            "peak_rss_gb": round(rss / 2 ** 20, 3), "error_line": tail[-1][:300] if tail else None}


def at_the_limits(board_dir: Path) -> tuple[Path, int]:
    """A copy of a real submission whose samples files (one per board task) are padded with rows
    of made-up member ids to just under the per-file limit and the whole submission to just under
    its limit; returns it and the number of ids it holds."""
    sub = board_dir / "submissions" / "at_limits"
    shutil.copytree(next(p for p in sorted((board_dir / "submissions").iterdir()) if p.is_dir()), sub)
    spec = json.loads((sub / "submission.json").read_text())
    files = [sub / name for name in spec["samples"].values()]
    others = sum(p.stat().st_size for p in sub.iterdir() if p not in files)
    budget = min(untrusted.MAX_FILE_BYTES, (untrusted.MAX_TOTAL_BYTES - others) // len(files)) - 4096
    ids = 0
    for f in files:
        size = f.stat().st_size
        ids += sum(1 for _ in f.open())
        with f.open("a") as out:
            i = 0
            while size < budget - 200:
                line = json.dumps({"doc": {"sample_id": f"pad:{f.stem[-6:]}:{i:09d}", "member": 1}, "prob": 0.5}) + "\n"
                out.write(line)
                size += len(line)
                i += 1
            ids += i
    return sub, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--board", default=str(ROOT / "leaderboards" / "fictitious_forget20"))
    parser.add_argument("--limits-board", default=str(ROOT / "leaderboards" / "tofu_subset5_forget01"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "board_scale.json"))
    args = parser.parse_args()
    cli = [sys.executable, "-m", "mrd_bench.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        limits_dir = Path(tmp) / "limits"
        shutil.copytree(args.limits_board, limits_dir, ignore=shutil.ignore_patterns("index.*", "*.png"))
        sub, ids = at_the_limits(limits_dir)
        total = sum(p.stat().st_size for p in sub.iterdir())
        validate = {**timed([*cli, "leaderboard", "validate", str(sub), "--board", str(limits_dir)]),
                    "ids": ids, "bytes": total, "largest_file_bytes": max(p.stat().st_size for p in sub.iterdir())}
        shutil.rmtree(limits_dir)
        board_dir = Path(tmp) / "board"
        shutil.copytree(args.board, board_dir, ignore=shutil.ignore_patterns("scores.json", "index.*", "*.png"))
        board = load_board(board_dir)
        subs = board_dir / "submissions"
        source = Path(tmp) / "source"
        shutil.copytree(subs / "ga_uniform", source)
        for p in list(subs.iterdir()):
            shutil.rmtree(p)
        for i in range(args.entries):
            synthetic_entry(board, source, subs / f"synthetic_{i:03d}", seed=i, name=f"synthetic {i}",
                            shift=0.001 * i)
        build = {**timed([*cli, "leaderboard", "build", str(board_dir), "--no-progress"]), "entries": args.entries,
                 "B": board["bootstrap"]["B"]}
        scores = json.loads((board_dir / "scores.json").read_text())
        build["ranked"] = len(scores["entries"])
        build["rejected"] = len(scores["rejected"])
    result = {"validate_at_limits": validate, "build": build,
              "limits": {"file_bytes": untrusted.MAX_FILE_BYTES, "submission_bytes": untrusted.MAX_TOTAL_BYTES},
              "provenance": record()}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"validate_at_limits": validate, "build": build}, indent=2))


if __name__ == "__main__":
    main()
