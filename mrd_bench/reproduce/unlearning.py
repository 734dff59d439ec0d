"""One unlearning run of the study, in memory: a reference method (and sampler) from the original
weights for a fixed number of updates, optionally with the MA early-stopping check recorded
(not stopped at, or stopped at), then the model saved to a scratch folder for lm-eval and dropped
after it."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional, Sequence

from mrd_bench.models import Encoded


def unlearn(model, original: dict, items: Sequence[Encoded], method: str, sampler: str, *, steps: int, lr: float,
            seed: int, batch_size: int = 8, retain: Optional[Sequence[Encoded]] = None, refusals=None,
            scores: Optional[Sequence[float]] = None, threshold_ma: Optional[float] = None, check_every: int = 5,
            eos_id: Optional[int] = None, state: Optional[Path] = None, stop_early: bool = False, plateau: int = 0):
    """(model, LoopResult): `steps` updates of `batch_size`; with `threshold_ma`, the step at which the
    forget set's mean MA first falls below it is `updates_to_threshold` (training goes on unless
    `stop_early`; then it also stops after `plateau` checks without a lower MA). With `state` (a
    folder), the training state is kept there after the last step, and
    a call with more `steps` goes on from it: the same run as one uninterrupted call."""
    from mrd_bench.methods.loop import LoopConfig, Resume, Stopper, train
    from mrd_bench.methods.stopping import Memorization, Threshold
    from mrd_bench.unlearn import Settings

    settings = Settings(method=method, sampler=sampler)
    built = settings.build_method()
    model.load_state_dict(original)  # also NPO's reference, when the run goes on from `state`
    if state is not None:
        state.mkdir(parents=True, exist_ok=True)
    stopper = (Stopper(Memorization(), Threshold(ma=threshold_ma, el=float("nan")), eos_id, with_el=False)
               if threshold_ma is not None else None)
    return train(model, list(items), built, settings.build_sampler(len(items), scores),
                 LoopConfig(lr=lr, max_steps=steps, batch_size=batch_size, seed=seed, check_every=check_every,
                            save_every=0),
                 retain=retain if built.retain != "none" else None, refusals=refusals, stopper=stopper,
                 stop_early=stop_early, resume=Resume(state, every=0, keep_final=True) if state else None,
                 plateau=plateau, progress=False)


def evaluate_model(model, tokenizer, scratch: Path, out: Path, tasks: list[str], metadata: dict, *,
                   device: str) -> dict:
    """lm-eval's results for `model` (saved to `scratch`, removed afterwards)."""
    from mrd_bench.lmeval.run import evaluate
    from mrd_bench.checkpoints import save_checkpoint
    from mrd_bench.models import use_chat

    shutil.rmtree(scratch, ignore_errors=True)
    save_checkpoint(model, tokenizer, scratch)
    try:
        return evaluate(str(scratch), tasks, metadata, out, chat_template=use_chat(tokenizer),
                        device="cuda" if device.startswith("cuda") else "cpu")["results"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
