"""`mrd-bench circuits`: one sample's CUD circuit beside the easy and hard anchors (PNG)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from mrd_bench.commands import no_progress_opt, overwrite_opt
from mrd_bench.config import opt


@dataclass(frozen=True)
class Config:
    sample_id: str = opt(None, "the sample's id, as the scores file holds it", positional=True)
    scores: str = opt(None, "scores file from `mrd-bench score --metric cud`", required=True)
    out: Optional[str] = opt(None, "PNG to write (default: circuit_<SAMPLE_ID>.png)")
    overwrite: bool = overwrite_opt()
    no_progress: bool = no_progress_opt()


def run(c: Config) -> None:
    from mrd_bench.io import guard_output
    from mrd_bench.report.circuits import draw_circuit

    target = c.out or "circuit_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", c.sample_id) + ".png"
    guard_output(target, c.overwrite, what="a plot", inputs={"--scores": c.scores})
    out = draw_circuit(c.scores, c.sample_id, target)
    print(f"Wrote {c.sample_id}'s circuit beside the easy and hard anchors to {out}")
