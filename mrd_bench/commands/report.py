"""`mrd-bench report`: markdown + HTML report with plots from an lm-eval output folder."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from mrd_bench.commands import no_progress_opt, overwrite_opt
from mrd_bench.config import opt


@dataclass(frozen=True)
class Config:
    output_dir: str = opt(None, "lm-eval's --output_path (run with --log_samples for the plots)", positional=True)
    out: Optional[str] = opt(None, "report folder (default: OUTPUT_DIR/mrd_report)")
    retain_reference: Optional[str] = opt(None, "retain model's truth ratios, to compute forget quality if the run "
                                          "had none (samples_tofu_forget_mrd_tr_*.jsonl or a truth_ratios JSON)")
    overwrite: bool = overwrite_opt()
    no_progress: bool = no_progress_opt()


def output(c: Config) -> str:
    return c.out or os.path.join(c.output_dir, "mrd_report")


def run(c: Config) -> None:
    from mrd_bench.report.lmeval_report import build_report

    out = build_report(c.output_dir, c.out, retain_reference=c.retain_reference, overwrite=c.overwrite)
    print(f"Report: {out / 'report.md'} and {out / 'report.html'} (plots and report.json beside them)")
