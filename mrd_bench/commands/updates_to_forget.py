"""`mrd-bench updates-to-forget`: per sample alone, the updates until its MA falls below the
threshold (MRD's ground truth)."""
from __future__ import annotations

from dataclasses import dataclass

from mrd_bench.commands import main_print, no_progress_opt, overwrite_opt
from mrd_bench.config import opt, part
from mrd_bench.methods.loop import LoopConfig
from mrd_bench.unlearn import Inputs, Settings


@dataclass(frozen=True)
class Config:
    inputs: Inputs = part(Inputs, flags={"forget": (
        "--split", "the split whose samples are unlearned one at a time, e.g. forget01")})
    settings: Settings = part(Settings, skip=("sampler", "tau", "floor", "mrd_sigma", "mrd_draws", "early_stop",
                                              "el_n", "el_stride", "el_horizon", "lora_rank", "lora_alpha"))
    loop: LoopConfig = part(LoopConfig, only=("lr", "weight_decay", "seed", "retain_batch_size"))
    max_updates: int = opt(50, "cap per sample; a sample still above the threshold is reported as censored")
    out: str = opt("updates.jsonl", "per-sample results")
    overwrite: bool = overwrite_opt()
    no_progress: bool = no_progress_opt()


def run(c: Config) -> None:
    from mrd_bench.io import read_json
    from mrd_bench.updates import run_updates

    out = run_updates(c.inputs, c.settings, c.loop, c.out, max_updates=c.max_updates, overwrite=c.overwrite,
                      progress=not c.no_progress)
    summary = read_json(out.with_name(out.stem + ".meta.json"))["summary"]
    main_print(f"Wrote per-sample updates to {out}: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float)
                                                                   else f"{k} {v}" for k, v in summary.items()))
