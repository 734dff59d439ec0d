"""`mrd-bench annotate`: a difficulty signal joined to a split, with bins, for the tasks."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from mrd_bench.commands import no_progress_opt, overwrite_opt
from mrd_bench.commands._data import DataFlags, limited, load_split
from mrd_bench.config import opt, part
from mrd_bench.signals import SIGNALS


@dataclass(frozen=True)
class Config:
    scores: str = opt(None, "scores.jsonl from `mrd-bench score` on the original model, or the output of "
                      "`mrd-bench updates-to-forget`", required=True)
    signal: Optional[str] = opt(None, "the difficulty signal to bin by (default: the file's own: MRD by its "
                                "estimator, CUD, or updates); one of: " + ", ".join(SIGNALS.names()))
    bins: Optional[int] = opt(None, "number of equal-count bins (default: the scores file's own edges, or 3)")
    data: DataFlags = part(DataFlags)
    out: str = opt(None, "annotation JSON to write", required=True)
    overwrite: bool = overwrite_opt()
    no_progress: bool = no_progress_opt()


def run(c: Config) -> None:
    from mrd_bench.annotate import annotate
    from mrd_bench.io import read_json

    dataset = limited(load_split(c.data), c.data)
    out = annotate(c.scores, dataset["sample_id"], c.out, overwrite=c.overwrite, signal=c.signal, bins=c.bins,
                   source={"benchmark": c.data.benchmark, "split": c.data.split,
                           "subset_authors": c.data.subset_authors})
    made = read_json(out)
    print(f"Wrote the difficulty annotation of {c.data.benchmark}/{c.data.split} by {made['signal_label']} (higher = "
          f"{made['higher_is']}) to {out}; pass it to the tasks with --metadata '{{\"difficulty\": \"{out}\"}}'")
