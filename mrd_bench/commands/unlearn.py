"""`mrd-bench unlearn`: unlearn a forget set with a reference method and sampler; writes a
checkpoint and its run record (or replays a run record)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from mrd_bench.commands import main_print, no_progress_opt, overwrite_opt
from mrd_bench.config import opt, part
from mrd_bench.methods.loop import LoopConfig
from mrd_bench.unlearn import Inputs, Settings


@dataclass(frozen=True)
class Config:
    inputs: Inputs = part(Inputs)
    settings: Settings = part(Settings)
    loop: LoopConfig = part(LoopConfig)
    replay: Optional[str] = opt(None, "run a run_record.json (or its checkpoint folder) again; the other flags are "
                                "ignored")
    out: str = opt(None, "checkpoint folder to write", required=True)
    overwrite: bool = overwrite_opt()
    no_progress: bool = no_progress_opt()


def run(c: Config) -> None:
    from mrd_bench.unlearn import replay, run_unlearn

    if c.replay:
        out, new, old = replay(c.replay, c.out, overwrite=c.overwrite, progress=not c.no_progress)
        same = new["model_hash"]["final"] == old["model_hash"]["final"]
        main_print(f"Replayed {c.replay} into {out}: the final weights "
                   f"{'match the record' if same else 'DIFFER from the record (non-deterministic hardware?)'} "
                   f"(sha256 {new['model_hash']['final'][:12]})")
        return
    out, rec = run_unlearn(c.inputs, c.settings, c.loop, c.out, overwrite=c.overwrite, progress=not c.no_progress)
    reached = rec["updates_to_threshold"]
    stop = f"; reached the stopping threshold after {reached} updates" if reached is not None else ""
    main_print(f"Wrote the unlearned checkpoint and its run record to {out} ({rec['steps']} steps{stop}); "
               f"evaluate it with mrd-bench eval --model hf-mrd --model_args pretrained={out} ...")
