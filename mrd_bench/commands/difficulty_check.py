"""`mrd-bench difficulty-check`: which difficulty signal predicts forgetting for this model and
these methods (each signal's Spearman with measured updates-to-forget)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from mrd_bench.commands import main_print, no_progress_opt, overwrite_opt
from mrd_bench.config import opt, part
from mrd_bench.difficulty_check import CheckConfig
from mrd_bench.unlearn import Inputs


@dataclass(frozen=True)
class Config:
    inputs: Inputs = part(Inputs, skip=("scores",), flags={"forget": (
        "--split", "the forget split whose samples are measured, e.g. forget10")})
    check: CheckConfig = part(CheckConfig)
    scores: Optional[str] = opt(None, "scores.jsonl of the split from `mrd-bench score` on the same model (default: "
                                "the check scores it, and reuses OUT/scores.jsonl)")
    out: str = opt("difficulty_check", "folder of the check")
    overwrite: bool = overwrite_opt()
    no_progress: bool = no_progress_opt()


def run(c: Config) -> None:
    from mrd_bench.difficulty_check import run_check

    out = run_check(c.inputs, c.check, c.out, scores=c.scores, overwrite=c.overwrite, progress=not c.no_progress)
    main_print(f"Check: {out} (and check.md, check.png beside it)")
