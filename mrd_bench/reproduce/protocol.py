"""The MRD paper's protocol for claims 1 and 4: unlearn until the forget set's memorisation
accuracy (MA) falls below the threshold (the mean MA of TOFU's never-trained holdout on the
original model), with a learning rate per method calibrated first so that at least 80% of runs
get there within the update budget.

- `calibrate`: per method, a rising grid of rates (×2 from the method's start); at each rate,
  `calibrate_runs` random forget subsets (seeds 1000+, apart from the study's subsets) are
  unlearned until the threshold; the first rate at which the share that reached it is at least
  `calibrate_reach` is the method's rate. A run whose MA settles above the threshold stops after
  `protocol_patience` checks without a lower MA (censored).
- claims 1 (claims/variance.py, random forget subsets) and 4 (claims/sampling.py, the samplers)
  unlearn with these rates until the threshold, through `until_threshold`.

Every run stops at the study's threshold (the mean MA of the holdout beside the whole forget
set), the one the calibration used: forget01's own holdout (40 questions) would give a noisier
estimate of the same quantity and a rate calibrated for another target.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from mrd_bench.io import append_jsonl, read_json, write_json
from mrd_bench.reproduce import common
from mrd_bench.reproduce.original import threshold
from mrd_bench.reproduce.study import Context, Stage, names, rates, settings_of


@dataclass(frozen=True)
class Calibrate:
    """The protocol of claims 1 and 4 (flags of the same names)."""

    calibrate_start: str
    calibrate_runs: int
    calibrate_levels: int
    calibrate_reach: float
    variance_size: int
    protocol_max_updates: int
    protocol_check_every: int
    protocol_patience: int
    sampling_methods: str

    @property
    def methods(self) -> list[str]:
        """The methods calibrated: claim 4's and claim 1's (GradDiff, NPO)."""
        return sorted(set(names(self.sampling_methods)) | {"graddiff", "npo"},
                      key=["ga", "graddiff", "npo", "po"].index)

    def start_for(self, method: str) -> float:
        return rates(self.calibrate_start, "--calibrate-start")[method]


def until_threshold(model, original, items, method: str, sampler: str, *, lr: float, seed: int, threshold: float,
                    protocol: Calibrate, eos_id, retain=None, refusals=None, scores=None):
    """Unlearn from `original` until MA < threshold, or the budget, or MA settles (then censored)."""
    from mrd_bench.reproduce.unlearning import unlearn

    model, result = unlearn(model, original, items, method, sampler, steps=protocol.protocol_max_updates, lr=lr,
                            seed=seed, retain=retain, refusals=refusals if method == "po" else None, scores=scores,
                            threshold_ma=threshold, check_every=protocol.protocol_check_every, eos_id=eos_id,
                            stop_early=True, plateau=protocol.protocol_patience)
    reached = result.updates_to_threshold is not None
    return model, {"updates": result.updates_to_threshold if reached else result.steps, "censored": not reached,
                   "trained": result.steps, "forget_ma": result.checks[-1]["ma"] if result.checks else math.nan,
                   "checks": result.checks, "final_loss": result.losses[-1] if result.losses else math.nan}


def inputs(ctx: Context, forget):
    """The original model (and a copy of its weights), the forget items, the retain items and PO's refusals."""
    from mrd_bench.unlearn import Settings, refusal_items

    model, tok = ctx.load_original()
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    items = ctx.encode(tok, forget)
    retain = ctx.encode(tok, ctx.splits["retain"])
    refusals = refusal_items(tok, forget, "tofu", Settings(method="po"))
    return model, tok, original, items, retain, refusals


def run_calibrate(ctx: Context, folder: Path, s: Calibrate) -> dict:
    limit = threshold(ctx)
    forget = ctx.splits["forget"]
    model, tok, original, items, retain, refusals = inputs(ctx, forget)
    path, done = common.keyed_runs(folder, CALIBRATE.key(ctx.study))
    chosen, levels = {}, {}
    allowed_misses = math.floor((1 - s.calibrate_reach) * s.calibrate_runs + 1e-9)
    for method in tqdm(s.methods, desc="calibrating learning rates", unit="method", disable=not ctx.progress):
        lr = s.start_for(method)
        for level in range(s.calibrate_levels):
            misses, runs = 0, []
            for c in range(s.calibrate_runs):
                name = f"{method}/lr-{lr:.3g}/run-{c}"
                if name not in done:
                    pick = common.subset(1000 + c, len(items), s.variance_size)
                    started = time.perf_counter()
                    model, out = until_threshold(model, original, [items[i] for i in pick], method, "uniform", lr=lr,
                                                 seed=1000 + c, threshold=limit, protocol=s, eos_id=tok.eos_token_id,
                                                 retain=retain, refusals=[refusals[i] for i in pick])
                    done[name] = {"run": name, "method": method, "lr": lr, "level": level, "calibration_run": c,
                                  **out, "wall_s": time.perf_counter() - started}
                    append_jsonl(path, done[name])
                runs.append(done[name])
                misses += done[name]["censored"]
                if misses > allowed_misses:
                    break  # this rate cannot reach the share any more
            levels.setdefault(method, []).append({"lr": lr, "reached": sum(not r["censored"] for r in runs),
                                                  "runs": len(runs)})
            if misses <= allowed_misses:
                chosen[method] = lr
                break
            lr *= 2
    result = {"threshold_ma": limit, "lr": chosen, "levels": levels,
              "uncalibrated": [m for m in s.methods if m not in chosen]}
    write_json(folder / "calibration.json", result)
    return result


def calibrated_lr(ctx: Context, method: str) -> float:
    """The calibrated rate of `method` (GA's for CGA); the highest rate tried if none reached the share."""
    cal = read_json(ctx.work / "calibrate" / "calibration.json")
    base = "ga" if method == "cga" else method
    return cal["lr"].get(base) or max(level["lr"] for level in cal["levels"][base])


CALIBRATE = Stage("calibrate", "per method, the learning rate at which runs reach the MA threshold (claims 1 and 4)",
                  settings_of(Calibrate), run_calibrate)
