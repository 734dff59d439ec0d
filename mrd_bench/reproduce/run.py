"""`mrd-bench reproduce`: run the study's stages in order, then write the report; or recompute the
report from a data folder alone (`--data`)."""
from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Optional

from mrd_bench.errors import ConfigError
from mrd_bench.io import check_output_path, write_json
from mrd_bench.reproduce.study import Context, Study, run_stage


def check_work(work) -> None:
    """--work must be a folder that can be written (or made), before any stage runs."""
    if Path(work).expanduser().exists() and not Path(work).expanduser().is_dir():
        raise ConfigError(f"--work {str(work)!r} is a file; give a folder for the stages' outputs (it is made if "
                          "missing).")
    check_output_path(work, folder=True, flag="--work")


def reproduce(study: Study, out, *, work=None, stages: Optional[list[str]] = None, overwrite: bool = False,
              progress: bool = True, argv: Optional[list[str]] = None) -> Path:
    """Run the stages (all, or those named) in order, then rebuild the report in `out`."""
    from mrd_bench.reproduce import report
    from mrd_bench.reproduce.stages import STAGES

    names = [s.name for s in STAGES]
    unknown = [s for s in stages or [] if s not in names + ["report"]]
    if unknown:
        raise ConfigError(f"unknown stage(s) {', '.join(unknown)}; choose from {', '.join(names)} (or 'report' "
                          "to rebuild the report from the stages already done).")
    if work is not None:
        check_work(work)
    out = report.target(out, study=study, overwrite=overwrite)
    ctx = Context(study, Path(work).expanduser() if work else study.default_work(), progress)
    wanted = names if not stages else [n for n in names if n in stages]
    if wanted:  # `--stages report` only reads: a new --work stays unmade
        ctx.work.mkdir(parents=True, exist_ok=True)
        write_json(ctx.work / "study.json", asdict(study))
    for stage in STAGES:
        if stage.name.startswith("updates_") and stage.name[len("updates_"):] not in study.method_list:
            continue
        if stage.name in wanted:
            run_stage(ctx, stage)
    return report.write(ctx, out, argv=argv if argv is not None else sys.argv)


def from_data(folder, out, *, overwrite: bool = False, argv: Optional[list[str]] = None) -> Path:
    """`mrd-bench reproduce --data`: the report, results.json included, from a data folder alone."""
    from mrd_bench.errors import DataError
    from mrd_bench.outputs import folder_target
    from mrd_bench.reproduce import report

    folder = Path(folder).expanduser()
    if not (folder / "study.json").is_file():
        raise DataError(f"--data {str(folder)!r} holds no study data (no study.json); give the data folder of a "
                        "report, e.g. reports/reproduction/data.")
    target, source = Path(out).expanduser().resolve(), folder.resolve()
    if target == source.parent or target == source or source in target.parents:
        raise ConfigError("--out is the report that holds --data, or lies inside it; write the recomputed report "
                          "elsewhere, e.g. --out /tmp/recomputed.")
    out = folder_target(out, overwrite, **report.REPORT)
    return report.write_from_data(folder, out, argv=argv if argv is not None else sys.argv)
