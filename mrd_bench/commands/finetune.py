"""`mrd-bench finetune`: fine-tune the original (full) or retain-only model on a split."""
from __future__ import annotations

from dataclasses import dataclass

from mrd_bench.commands import main_print, no_progress_opt, overwrite_opt
from mrd_bench.config import opt, part
from mrd_bench.methods.loop import LoopConfig
from mrd_bench.unlearn import FINETUNE_SETTINGS, Inputs, Settings


@dataclass(frozen=True)
class Config:
    inputs: Inputs = part(Inputs, skip=("retain", "scores", "threshold_split"), flags={"forget": (
        "--split", "the split to train on: full (the original model) or retain90/95/99 (the retain model)")})
    settings: Settings = part(Settings, only=FINETUNE_SETTINGS)
    loop: LoopConfig = part(LoopConfig, skip=("refresh_every", "check_every", "retain_batch_size"), lr=1e-5)
    out: str = opt(None, "checkpoint folder to write", required=True)
    overwrite: bool = overwrite_opt()
    no_progress: bool = no_progress_opt()


def run(c: Config) -> None:
    from mrd_bench.unlearn import run_finetune

    out, rec = run_finetune(c.inputs, c.settings, c.loop, c.out, overwrite=c.overwrite, progress=not c.no_progress)
    main_print(f"Wrote the fine-tuned checkpoint and its run record to {out} ({rec['steps']} steps, "
               f"final loss {rec['losses'][-1]:.3f})")
