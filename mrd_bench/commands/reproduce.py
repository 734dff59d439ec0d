"""`mrd-bench reproduce`: the reproduction study of the MRD and CUD papers' claims (cached,
resumable stages, then a report with a verdict per claim), or its report from a data folder."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from mrd_bench import commands
from mrd_bench.commands import main_print, no_progress_opt, overwrite_opt
from mrd_bench.config import opt, part
from mrd_bench.reproduce.study import Study


@dataclass(frozen=True)
class Config:
    study: Study = part(Study)
    out: str = opt("reports/reproduction", "report folder")
    work: Optional[str] = opt(None, "folder of the stages' outputs (default: a folder under the mrd_bench cache, "
                              "named by the setting)")
    stages: Optional[str] = opt(None, "comma-separated stages to run (default: all); 'report' only rebuilds the "
                                "report from the stages already done")
    data: Optional[str] = opt(None, "recompute the report from a study's data folder alone (e.g. "
                              "reports/reproduction/data): no stage runs, no model is loaded")
    overwrite: bool = overwrite_opt()
    no_progress: bool = no_progress_opt()


def run(c: Config) -> None:
    from mrd_bench.reproduce.run import from_data, reproduce

    argv = ["mrd-bench", *commands.invocation]
    if c.data:
        out = from_data(c.data, c.out, overwrite=c.overwrite, argv=argv)
        main_print(f"Recomputed the reproduction report from {c.data} into {out / 'README.md'}")
        return
    stages = [s.strip() for s in c.stages.split(",") if s.strip()] if c.stages else None
    out = reproduce(c.study, c.out, work=c.work, stages=stages, overwrite=c.overwrite, progress=not c.no_progress,
                    argv=argv)
    main_print(f"Wrote the reproduction report to {out / 'README.md'} (figures in results.json)")
