"""`mrd-bench audit`: how hard a published claim's forget set is, and what its metric would be at
the reference difficulty mix."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from mrd_bench.commands import no_progress_opt, overwrite_opt
from mrd_bench.config import opt


@dataclass(frozen=True)
class Config:
    claim: str = opt(None, "the claim (JSON; see docs in mrd_bench/audit.py)", positional=True)
    out: Optional[str] = opt(None, "output folder (default: <claim>_audit beside the claim)")
    permutations: int = opt(10000, "random subsets for the percentile")
    bootstrap: int = opt(2000, "bootstrap resamples for the CIs")
    seed: int = opt(0, "seed of the subsets and resamples")
    overwrite: bool = overwrite_opt()
    no_progress: bool = no_progress_opt()


def run(c: Config) -> None:
    from mrd_bench.audit import audit

    audit(c.claim, c.out, permutations=c.permutations, bootstrap=c.bootstrap, seed=c.seed, overwrite=c.overwrite)
