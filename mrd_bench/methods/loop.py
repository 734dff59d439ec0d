"""The one training loop every method (and fine-tuning) runs on, through accelerate.

Each step the sampler picks forget samples, the method turns them into per-sample losses,
and AdamW takes a step on their mean. Under several processes (`accelerate launch`,
`torchrun`) every process draws the same global batch from the same seeded generator and
trains on its share of it; accelerate averages the gradients. DeepSpeed and FSDP come
from an accelerate config, LoRA from peft (`lora_rank`).

Optional, inside the loop:
- MRD refreshed every `refresh_every` steps with the current weights (the MRD paper's
  Algorithm 2, lines 8–9); the optimiser state is kept.
- The early-stopping check (stopping.py) every `check_every` steps; the step at which
  the forget set first falls below the threshold is `updates_to_threshold`, and checks
  end there (with `stop_early`, so does training; with `plateau`, training also stops once
  that many checks in a row found no lower MA: `plateau_at`).
"""
from __future__ import annotations

import copy
import math
import os
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch
from tqdm.auto import tqdm

from mrd_bench.config import opt
from mrd_bench.errors import ConfigError, DataError, MrdBenchWarning, TrainingDiverged
from mrd_bench.methods.base import Batch
from mrd_bench.methods.stopping import Memorization, Threshold, plateaued
from mrd_bench.models import Encoded, collate
from mrd_bench.samplers.uniform import Uniform


SEEDS = 2 ** 64  # torch's generators take seeds modulo 2^64; derived seeds wrap there too
ADAMW = ("default", "fused")  # run records made before the choice existed used torch's default
ADAM_FIRST_STEP = 1 / (1 - 0.9)  # AdamW's bias-corrected step size at step 1, per unit of lr (beta1 = 0.9)


@dataclass(frozen=True)
class LoopConfig:
    """Optimisation settings shared by unlearning and fine-tuning."""

    lr: float = opt(5e-5, "AdamW learning rate")
    epochs: int = opt(5, "passes over the forget set (steps = epochs x ceil(n / batch size))")
    max_steps: Optional[int] = opt(None, "a fixed number of steps instead of --epochs")
    batch_size: int = opt(8, "forget samples per step (over all processes)")
    retain_batch_size: Optional[int] = opt(None, "retain samples per step (default: --batch-size)")
    weight_decay: float = opt(0.01, "AdamW weight decay")
    warmup_steps: int = opt(0, "linear warm-up steps, then a constant rate")
    seed: int = opt(0, "seed of the weights' noise, the sampler and the retain order")
    refresh_every: int = opt(0, "re-score MRD with the current weights every m steps (0: never)")
    check_every: int = opt(1, "steps between early-stopping checks")
    save_every: int = opt(25, "save the training state (weights, optimiser, sampler, random generators) "
                          "every N steps into <out>.partial, from which the same command resumes (0: never)")
    adamw: str = opt("default", "AdamW's implementation: default (torch's own choice: a loop over the tensors on a "
                     "CPU) or fused (one kernel over all weights; its step is about 4x faster on a CPU, the same "
                     "update up to float rounding, ~1e-7: a run's weights then differ in the last bits, so a "
                     "checkpoint's hash differs from one trained with the default)")

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "check_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1; got {getattr(self, name)}.")
        for name in ("max_steps", "retain_batch_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1; got {getattr(self, name)}.")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be a positive number; got {self.lr}.")
        if self.lr * ADAM_FIRST_STEP >= torch.finfo(torch.float32).max:
            raise ConfigError(f"--lr {self.lr:g} is too large: AdamW's first step, lr / (1 - beta1) = "
                              f"{self.lr * ADAM_FIRST_STEP:.3g}, overflows a float32 (max 3.4e38); learning rates "
                              "are around 1e-6 to 1e-3.")
        if self.adamw not in ADAMW:
            raise ConfigError(f"--adamw must be one of {', '.join(ADAMW)}; got {self.adamw!r}.")
        if self.warmup_steps < 0 or self.refresh_every < 0 or self.save_every < 0:
            raise ConfigError(f"--warmup-steps, --refresh-every and --save-every must be >= 0; got "
                              f"{self.warmup_steps}, {self.refresh_every}, {self.save_every}.")

    def keyed(self) -> dict:
        """The settings as a resume key holds them: `adamw` only when not the default, so the keys of
        partial runs made before the option existed still match."""
        return {k: v for k, v in asdict(self).items() if not (k == "adamw" and v == ADAMW[0])}

    def total_steps(self, n: int) -> int:
        return self.max_steps or self.epochs * math.ceil(n / self.batch_size)


@dataclass
class Stopper:
    """The early-stopping rule: measures on the forget items against a fixed threshold."""

    memorization: Memorization
    threshold: Threshold
    eos_id: Optional[int]
    with_el: bool = True  # False: MA alone

    def check(self, model, items: Sequence[Encoded]) -> dict:
        return self.memorization.check(model, items, self.eos_id, self.threshold, self.with_el)


@dataclass
class LoopResult:
    steps: int = 0
    losses: list[float] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)  # {"step", "ma", "el", "below"}
    refreshes: list[int] = field(default_factory=list)  # steps at which MRD was re-scored
    updates_to_threshold: Optional[int] = None
    plateau_at: Optional[int] = None  # the check at which MA had settled above the threshold (stopped there)
    wall_time_s: float = 0.0


@dataclass(frozen=True)
class Resume:
    """Where `train` keeps its state: `folder/state.pt`, every `every` steps.

    The caller opens the folder under the key of its inputs, settings and starting weights
    (io.open_partial), so a state found there belongs to the same run."""

    folder: Path
    every: int
    keep_final: bool = False  # also save after the last step, so that a later call with more steps goes on from there

    @property
    def path(self) -> Path:
        return self.folder / "state.pt"

    def load(self) -> Optional[dict]:
        # our own file, in the folder the key check opened: it holds the sampler object (pickled)
        return torch.load(self.path, weights_only=False) if self.path.is_file() else None

    def save(self, state: dict) -> None:
        tmp = self.path.with_name(".state.pt.tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.path)  # a kill mid-save leaves the previous state


def nonfinite_weights(model: torch.nn.Module, accelerator) -> str:
    """'' if every trained weight is finite, else which are not ("3 of 24 weight tensors hold NaN or
    Inf, e.g. 'lm_head.weight'"). Summed over processes, so that all of them stop together."""
    params = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    finite = torch.stack([torch.isfinite(p.detach()).all() for _, p in params]).cpu().tolist()  # one sync
    bad = [name for (name, _), ok in zip(params, finite) if not ok]
    if not accelerator.reduce(torch.tensor(float(len(bad)), device=accelerator.device), "sum"):
        return ""
    return f"{len(bad)} of {len(params)} weight tensors hold NaN or Inf" + (f", e.g. {bad[0]!r}" if bad else "")


def diverged(step: int, what: str, cfg: LoopConfig, resume: Optional[Resume], accelerator) -> None:
    """Stop a run whose loss or weights left the finite numbers: its saved state would only diverge
    again, so it goes too, and nothing is written as if the run were fine."""
    if resume is not None and accelerator.is_main_process:
        shutil.rmtree(resume.folder, ignore_errors=True)
    raise TrainingDiverged(f"training diverged at step {step}: {what}; no checkpoint was written. Lower --lr "
                           f"(now {cfg.lr:g}) or add --warmup-steps, and run again.")


def plain(model: torch.nn.Module, accelerator=None) -> torch.nn.Module:
    """The bare transformers model inside data-parallel and LoRA wrappers (same parameters)."""
    if accelerator is not None:
        model = accelerator.unwrap_model(model)
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def train(model: torch.nn.Module, items: Sequence[Encoded], method, sampler, cfg: LoopConfig, *,
          retain: Optional[Sequence[Encoded]] = None, refusals: Optional[Sequence[Sequence[Encoded]]] = None,
          stopper: Optional[Stopper] = None, stop_early: bool = False,
          rescore: Optional[Callable[[torch.nn.Module], Sequence[float]]] = None,
          resume: Optional[Resume] = None, plateau: int = 0,
          watch: Optional[Callable[[int, Batch], bool]] = None,
          progress: bool = True, desc: str = "unlearn") -> tuple[torch.nn.Module, LoopResult]:
    """Train `model` with `method`'s loss on `items` drawn by `sampler`; returns the bare model.

    `retain`: the retain set (drawn uniformly, without replacement per pass); `refusals`:
    for each item, the refusal answers one is drawn from; `stopper`: check the stopping
    rule (and stop there if `stop_early`, or after `plateau` checks without a lower MA);
    `rescore(model)`: fresh MRD scores for the sampler;
    `resume`: save the whole state there every `resume.every` steps, and start from a state
    found there (the weights then match an uninterrupted run's bit for bit on a CPU);
    `watch(updates, batch)`: called once the step's loss is computed and before its update, with
    the number of updates so far and the step's batch (whose forward it may read: the per-sample
    trajectories measure there at no extra cost); True stops training before the update. One
    process only (each process would decide alone), and without `resume` (the stopped step has
    already drawn its samples).
    """
    from accelerate import Accelerator

    if not items:
        raise DataError("the forget set is empty; check the split and --subset-authors.")
    started = time.perf_counter()
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    world, rank = accelerator.num_processes, accelerator.process_index
    if watch is not None and (world > 1 or resume is not None):
        raise ConfigError("a watched run (per-sample trajectories) runs in one process and without resume; "
                          "start it without accelerate launch / torchrun.")
    torch.manual_seed(cfg.seed)
    draw = torch.Generator().manual_seed(cfg.seed)
    draw_retain = torch.Generator().manual_seed((cfg.seed + 1) % SEEDS)
    draw_refusal = torch.Generator().manual_seed((cfg.seed + 2) % SEEDS)
    pad = getattr(model.config, "pad_token_id", None) or 0
    reference = None
    if method.needs_reference:  # a frozen copy of the starting weights
        reference = copy.deepcopy(plain(model)).eval().requires_grad_(False).to(accelerator.device)
    retain_order = Uniform(len(retain)) if retain else None
    trained = [p for p in model.parameters() if p.requires_grad]
    fused = cfg.adamw == "fused"
    if fused and not all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in trained):
        raise ConfigError("--adamw fused needs floating-point weights on a CPU or CUDA device; drop --adamw fused.")
    optimizer = torch.optim.AdamW(trained, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused or None)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / (cfg.warmup_steps + 1)))
    result = LoopResult()
    saved = resume.load() if resume is not None else None
    if saved is not None:  # everything the next step reads, as the interrupted run left it
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        sampler, retain_order, result = saved["sampler"], saved["retain_order"], saved["result"]
        for generator, name in ((draw, "draw"), (draw_retain, "draw_retain"), (draw_refusal, "draw_refusal")):
            generator.set_state(saved[name])
        torch.set_rng_state(saved["torch_rng"])
        if rescore is not None and hasattr(rescore, "calls"):
            rescore.calls[:] = saved["rescore_calls"]
    model, optimizer, schedule = accelerator.prepare(model, optimizer, schedule)
    total = cfg.total_steps(len(items))
    if cfg.warmup_steps >= total and saved is None:
        warnings.warn(f"--warmup-steps {cfg.warmup_steps} is not below the {total} step(s) run: the learning rate "
                      f"never reaches --lr {cfg.lr:g} (at most {cfg.lr * total / (cfg.warmup_steps + 1):.3g}), so "
                      "the weights barely move; lower --warmup-steps or run more steps.", MrdBenchWarning, stacklevel=2)
    first = result.steps + 1
    elapsed = result.wall_time_s

    def save_state() -> None:
        if accelerator.is_main_process:
            resume.save({"model": accelerator.unwrap_model(model).state_dict(), "optimizer": optimizer.state_dict(),
                         "schedule": schedule.state_dict(), "sampler": sampler, "retain_order": retain_order,
                         "result": result, "draw": draw.get_state(), "draw_retain": draw_retain.get_state(),
                         "draw_refusal": draw_refusal.get_state(), "torch_rng": torch.get_rng_state(),
                         "rescore_calls": list(getattr(rescore, "calls", []))})
        accelerator.wait_for_everyone()

    def to_device(batch_items: Sequence[Encoded]) -> dict[str, torch.Tensor]:
        return {k: v.to(accelerator.device) for k, v in collate(batch_items, pad).items()}

    def check(step: int) -> bool:
        bare = plain(model, accelerator).eval()
        entry = {"step": step, **stopper.check(bare, items)}
        bare.train()
        result.checks.append(entry)
        if entry["below"] and result.updates_to_threshold is None:
            result.updates_to_threshold = step
        if not entry["below"] and stop_early and plateaued(result.checks, plateau):
            result.plateau_at = step
            return True
        return entry["below"]

    model.train()
    bar = tqdm(total=total, initial=result.steps, desc=desc, unit="step",
               disable=not (progress and accelerator.is_main_process))
    if saved is not None:
        bar.write(f"Resuming after step {result.steps} from {resume.path}")
    elif stopper is not None and check(0) and stop_early:
        total = 0
    for step in range(first, total + 1):
        chosen = sampler.next_batch(cfg.batch_size, draw)  # the global batch, the same on every process
        positions = [i % len(chosen) for i in range(rank, max(len(chosen), world), world)]  # this one's share
        batch = Batch(model, to_device([items[chosen[p]] for p in positions]), reference=reference)
        if retain_order is not None:
            picked = retain_order.next_batch(cfg.retain_batch_size or cfg.batch_size, draw_retain)
            batch.retain = to_device([retain[i] for i in picked])
        if refusals is not None:
            which = torch.randint(len(refusals[0]), (len(chosen),), generator=draw_refusal).tolist()
            batch.refusal = to_device([refusals[chosen[p]][which[p]] for p in positions])
        loss = method.per_sample_loss(batch).mean()
        if watch is not None and watch(step - 1, batch):
            break
        mean_loss = float(accelerator.reduce(loss.detach(), "mean"))
        if not math.isfinite(mean_loss):
            diverged(step, f"the loss is {mean_loss}", cfg, resume, accelerator)
        accelerator.backward(loss)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        broken = nonfinite_weights(model, accelerator)
        if broken:
            diverged(step, f"after the update (loss {mean_loss:.4g}), {broken}", cfg, resume, accelerator)
        result.losses.append(mean_loss)
        result.steps = step
        bar.set_postfix(loss=f"{result.losses[-1]:.3f}")
        bar.update()
        if rescore is not None and cfg.refresh_every and step % cfg.refresh_every == 0 and step < total:
            bare = plain(model, accelerator)
            sampler.update(rescore(bare))
            bare.train()
            result.refreshes.append(step)
        if (stopper is not None and result.updates_to_threshold is None and step % cfg.check_every == 0
                and check(step) and stop_early):
            break
        if resume is not None and resume.every and step % resume.every == 0 and step < total:
            result.wall_time_s = elapsed + time.perf_counter() - started
            save_state()
    bar.close()
    result.wall_time_s = elapsed + time.perf_counter() - started
    if resume is not None and resume.keep_final:
        save_state()
    accelerator.wait_for_everyone()
    bare = accelerator.unwrap_model(model)
    if hasattr(bare, "merge_and_unload"):  # LoRA: fold the adapters into the weights
        bare = bare.merge_and_unload()
    return bare.eval(), result
