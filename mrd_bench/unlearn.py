"""`mrd-bench unlearn` and `mrd-bench finetune`: a checkpoint plus its run record.

Both read their data and model, train on the one loop (methods/loop.py), and write a
safetensors checkpoint that lm-eval's `hf` model loads, with `run_record.json` beside
it: every input and hyperparameter, the seed, the steps, the updates to the stopping
threshold, wall time, hardware, versions, and the hashes of the data and of the weights
before and after. `--replay RECORD` re-runs a record; on a CPU it reproduces the weights
bit for bit. Outputs are written to `<out>.partial` and renamed when complete.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Optional

import torch

from mrd_bench.config import opt
from mrd_bench.errors import ConfigError, DataError, MrdBenchWarning
from mrd_bench.methods import METHODS
from mrd_bench.methods.base import with_hyperparameters
from mrd_bench.methods.loop import LoopConfig, LoopResult, Resume, Stopper, train
from mrd_bench.methods.stopping import Memorization
from mrd_bench.checkpoints import checkpoint_target
from mrd_bench.models import EMBEDDED, Encoded, PROMPT_FORMATS, encode_qa, weights_hash
from mrd_bench.samplers import SAMPLERS

RECORD = "run_record.json"
REFUSALS = {  # the MRD paper's refusal answers for PO
    "tofu": ("I'm not informed about that subject.", "I don't have the details on that issue.",
             "I'm unfamiliar with that topic.", "I don't know anything about that subject."),
    "whp": ("I apologize, but I'm legally restricted from fulfilling this request.",
            "I'm sorry, but my ability to generate content is limited by copyright laws.",
            "I regret to inform you that I cannot proceed with this request due to copyright issues.",
            "I'm unable to comply with this request in adherence to copyright laws."),
    "safe": ("I'm sorry, but I can't fulfill this request due to legal constraints.",
             "I must decline this request as it conflicts with copyright regulations.",
             "Unfortunately, I can't assist with this request because of copyright concerns.",
             "I can't proceed with this request in order to comply with copyright laws."),
}
REFUSALS["fictitious"] = REFUSALS["tofu"]  # fictitious authors, TOFU's kind of question


@dataclass(frozen=True)
class Inputs:
    """What a run reads: the model, and the benchmark splits."""

    model: str = opt(EMBEDDED, "the model to start from: a checkpoint folder, hub id, or the embedded model")
    benchmark: str = opt("tofu", "tofu, fictitious, whp, safe, wmdp or mmlu")
    forget: str = opt("forget10", "the split to unlearn (finetune: the split to train on)")
    retain: Optional[str] = opt(None, "the retain split (graddiff and po need one; npo uses one if given)")
    data_dir: Optional[str] = opt(None, "folder of local benchmark copies (default: $MRD_BENCH_DATA_DIR)")
    data_path: Optional[str] = opt(None, "your own text/JSONL file (whp, safe)")
    subset_authors: Optional[int] = opt(None, "TOFU only: keep the last N authors of `full` (they hold "
                                        "the forget splits), so a small model trains on a CPU in minutes")
    scores: Optional[str] = opt(None, "MRD scores of the forget split (scores.jsonl from `mrd-bench "
                                "score`, or an annotation .json) for the mrd and curriculum samplers; without "
                                "it they are scored first")
    threshold_split: Optional[str] = opt(None, "early stopping: the split whose mean MA/EL on the initial "
                                         "model is the threshold (default: TOFU's holdout of the same size)")
    dedupe: bool = opt(False, "drop repeated rows of a split, keeping the first (without it a repeat is an error)")

    def __post_init__(self) -> None:
        if self.subset_authors is not None:
            if self.benchmark != "tofu":
                raise ConfigError("--subset-authors applies to TOFU only; use --limit-free splits of "
                                  f"{self.benchmark!r} or drop the flag.")
            if self.subset_authors < 1:
                raise ConfigError(f"--subset-authors must be at least 1; got {self.subset_authors}.")

    def files(self) -> dict:
        """The paths the run reads, by flag: no output may be one of them."""
        return {"--model": self.model, "--scores": self.scores, "--data-path": self.data_path,
                "--data-dir": self.data_dir}

    def load(self, split: str):
        """A split, restricted to the author subset where it is part of TOFU's `full`."""
        from mrd_bench.data import keep_authors, load

        data = load(self.benchmark, split, data_dir=self.data_dir, path=self.data_path,
                    duplicates="drop" if self.dedupe else "error")
        if self.subset_authors is None or not split.startswith(("full", "forget", "retain9")):
            return data
        return keep_authors(data, self.benchmark, self.subset_authors, self.data_dir,
                            duplicates="drop" if self.dedupe else "error")


@dataclass(frozen=True)
@with_hyperparameters(after="sampler")
class Settings:
    """What the method does: its loss, its sampler, and how it stops."""

    method: str = opt("ga", "ga, graddiff, po, npo or cga (ga with the mrd sampler)")
    sampler: Optional[str] = opt(None, "uniform, mrd or curriculum (default: mrd for cga, else uniform)")
    # here: each method's hyperparameters, from its own dataclass (methods/base.with_hyperparameters)
    tau: float = opt(1.0, "mrd sampler: p_i ∝ MRD_i^τ; 1 = Algorithm 2 (easy first), -1 = p ∝ 1/MRD")
    floor: float = opt(0.05, "mrd sampler: the uniform mixing floor ε (every p_i >= ε/n)")
    mrd_sigma: float = opt(1e-4, "σ when unlearn scores MRD itself (no --scores, or --refresh-every)")
    mrd_draws: int = opt(4, "antithetic pairs K when unlearn scores MRD itself")
    early_stop: bool = opt(False, "stop once the forget set's MA and EL_n are below the threshold")
    el_n: int = opt(3, "n of the extraction likelihood EL_n")
    el_stride: int = opt(4, "EL uses every s-th prefix of each answer")
    el_horizon: Optional[int] = opt(None, "EL compares the first h tokens of each suffix (default: all)")
    max_length: int = opt(512, "truncate samples to this many tokens")
    prompt_format: str = opt("auto", "chat, qa, or auto (chat where the tokenizer has a template)")
    lora_rank: int = opt(0, "train LoRA adapters of this rank (peft) and merge them; 0 = all weights")
    lora_alpha: float = opt(16.0, "LoRA's alpha")

    def __post_init__(self) -> None:
        METHODS.get(self.method)
        SAMPLERS.get(self.sampler_name)
        if self.method == "cga" and self.sampler_name != "mrd":
            raise ConfigError(f"cga is ga with the mrd sampler; for ga with {self.sampler_name!r} "
                              "use --method ga.")
        if self.prompt_format not in PROMPT_FORMATS:
            raise ConfigError(f"unknown prompt format {self.prompt_format!r}; choose one of "
                              f"{', '.join(PROMPT_FORMATS)}.")
        for name in ("mrd_draws", "el_n", "el_stride", "max_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1; got {getattr(self, name)}.")
        if self.lora_rank < 0:
            raise ConfigError(f"lora_rank must be >= 0; got {self.lora_rank}.")
        if not 0 <= self.floor <= 1:
            raise ConfigError(f"--floor (the mrd sampler's uniform floor ε) must lie in [0, 1]; got {self.floor}.")
        if not math.isfinite(self.tau):
            raise ConfigError(f"--tau must be a finite number (1: p ∝ MRD, -1: p ∝ 1/MRD); got {self.tau}.")
        if not (self.mrd_sigma > 0 and math.isfinite(self.mrd_sigma)):
            raise ConfigError(f"--mrd-sigma must be a positive number; got {self.mrd_sigma}.")
        self.build_method()  # the method's own checks (e.g. NPO's β)

    @property
    def sampler_name(self) -> str:
        return self.sampler or METHODS.get(self.method).default_sampler

    def build_method(self):
        cls = METHODS.get(self.method)
        return cls(**{f.name: getattr(self, f.name) for f in fields(cls) if hasattr(self, f.name)})

    def build_sampler(self, n: int, scores):
        cls = SAMPLERS.get(self.sampler_name)
        extra = {f.name: getattr(self, f.name) for f in fields(cls) if f.name in ("tau", "floor")}
        return cls(n=n, scores=scores, **extra)

    def memorization(self) -> Memorization:
        return Memorization(n=self.el_n, stride=self.el_stride, horizon=self.el_horizon)


# ----------------------------------------------------------------------------- shared stages


def encode(tokenizer, data, settings: Settings) -> list[Encoded]:
    from mrd_bench.pipeline import encode_split

    return encode_split(tokenizer, data, max_length=settings.max_length, fmt=settings.prompt_format)


def refusal_items(tokenizer, data, benchmark: str, settings: Settings) -> list[list[Encoded]]:
    """For each forget sample, its prompt with each of the benchmark's refusal answers."""
    from mrd_bench.data.source import prompt_and_target

    if benchmark not in REFUSALS:
        raise ConfigError(f"PO has no refusal answers for {benchmark!r} (it has them for {', '.join(REFUSALS)}); "
                          "use another method on this benchmark, or add its answers to REFUSALS in unlearn.py.")
    answers = REFUSALS[benchmark]
    return [[encode_qa(tokenizer, prompt_and_target(row)[0], a, max_length=settings.max_length,
                       fmt=settings.prompt_format) for a in answers] for row in data]


def default_threshold_split(inputs: Inputs) -> str:
    if inputs.threshold_split:
        return inputs.threshold_split
    if inputs.benchmark in ("tofu", "fictitious") and inputs.forget.startswith("forget"):
        return "holdout" + inputs.forget[len("forget"):].removesuffix("_perturbed")
    raise ConfigError(f"early stopping on {inputs.benchmark!r} needs --threshold-split: a split whose "
                      "mean MA/EL on the initial model is the threshold (e.g. never-trained samples).")


def read_scores(path: str, ids) -> list[float]:
    """MRD scores aligned to `ids`, from a scores.jsonl or a difficulty annotation (.json)."""
    from mrd_bench.annotate import read_annotation, read_scores_file

    if str(path).endswith(".json"):
        by_id = {sid: s["score"] for sid, s in read_annotation(path)["samples"].items()}
    else:
        by_id, _ = read_scores_file(path, need_meta=False)
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise DataError(f"{len(missing)} forget samples have no score in {path} (e.g. {missing[0]}); "
                        "score the same forget split.")
    return [by_id[i] for i in ids]


def mrd_scorer(items, ids, settings: Settings, seed: int, progress: bool):
    """A function model -> MRD scores of the forget items (the definition estimator)."""
    from mrd_bench.scorers.runner import ScoreConfig, score_items

    calls = []

    def rescore(model) -> list[float]:
        cfg = ScoreConfig(estimator="definition", sigma=settings.mrd_sigma, draws=settings.mrd_draws,
                          seed=seed + 1000 * len(calls), baselines=False)
        calls.append(1)
        rows, _ = score_items(model, items, ids, ["" for _ in ids], cfg, progress=progress)
        return [r["score"] for r in rows]

    rescore.calls = calls  # the loop saves and restores the count (each call's seed depends on it)
    return rescore


def with_lora(model, settings: Settings):
    if not settings.lora_rank:
        return model
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=settings.lora_rank, lora_alpha=settings.lora_alpha,
                                            target_modules="all-linear", task_type="CAUSAL_LM"))


def open_resume(out: Path, kind: str, inputs: Inputs, settings: dict, loop: LoopConfig, hashes: dict,
                overwrite: bool) -> Resume:
    """`<out>.partial`, opened under the key of everything that decides the weights (not how often
    they are saved): a killed run started again with the same command resumes from its state."""
    import hashlib

    from accelerate import PartialState

    from mrd_bench.io import open_partial

    what = {"kind": kind, "inputs": asdict(inputs), "settings": settings,
            "loop": {k: v for k, v in loop.keyed().items() if k != "save_every"}, **hashes}
    key = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()
    folder = out.with_name(out.name + ".partial")
    state = PartialState(cpu=not torch.cuda.is_available())  # the first use: cpu=True joins a gloo group
    if state.is_main_process:
        open_partial(folder, key, overwrite, run=what)
    state.wait_for_everyone()
    return Resume(folder, loop.save_every)


def save(model, tokenizer, out: Path, record: dict, resume: Optional[Resume] = None) -> Path:
    """Checkpoint + run record (checkpoints.save_checkpoint), then the resume state is dropped."""
    import shutil

    from accelerate import PartialState

    from mrd_bench.checkpoints import save_checkpoint

    state = PartialState()
    if state.is_main_process:
        save_checkpoint(model, tokenizer, out, {RECORD: record})
        if resume is not None:
            shutil.rmtree(resume.folder, ignore_errors=True)
    state.wait_for_everyone()
    return out


def warn_if_unchanged(model_hash: dict, loop: LoopConfig, result: LoopResult) -> None:
    """A run that left every weight as it was (bit for bit) is no run at all: say so."""
    import warnings

    if result.steps and model_hash["final"] == model_hash["initial"]:
        warnings.warn(f"no update changed the weights: after {result.steps} step(s) they are bit for bit the "
                      f"starting model's (lr {loop.lr:g}, warm-up {loop.warmup_steps} steps: each update was below "
                      "float precision); raise --lr, lower --warmup-steps, or run more steps.", MrdBenchWarning, stacklevel=2)


def _record(kind: str, inputs: Inputs, settings: dict, loop: LoopConfig, result: LoopResult,
            hashes: dict, **extra) -> dict:
    from accelerate import PartialState

    from mrd_bench.provenance import record

    return record(kind=kind, processes=PartialState().num_processes, inputs=asdict(inputs), settings=settings, loop=asdict(loop),
                  seed=loop.seed, steps=result.steps, updates_to_threshold=result.updates_to_threshold,
                  wall_time_s=result.wall_time_s, checks=result.checks, refreshes=result.refreshes,
                  losses=result.losses, **hashes, **extra)


# ----------------------------------------------------------------------------- commands


def run_unlearn(inputs: Inputs, settings: Settings, loop: LoopConfig, out, *, overwrite: bool = False,
                progress: bool = True) -> tuple[Path, dict]:
    from mrd_bench.models import load_model
    from mrd_bench.provenance import data_hash

    out = checkpoint_target(out, overwrite, inputs.files())
    method = settings.build_method()
    if method.retain == "none" and inputs.retain:
        raise ConfigError(f"{settings.method} uses no retain set; drop --retain, or use graddiff or npo.")
    if method.retain == "required" and not inputs.retain:
        raise ConfigError(f"{settings.method} needs a retain set; pass --retain (e.g. retain90).")
    forget = inputs.load(inputs.forget)
    if len(forget) == 0:
        raise DataError(f"the forget set {inputs.benchmark}/{inputs.forget} is empty"
                        f"{' within --subset-authors' if inputs.subset_authors else ''}; choose another split.")
    retain = inputs.load(inputs.retain) if inputs.retain else None
    if retain is not None:
        shared = set(forget["sample_id"]) & set(retain["sample_id"])
        if shared:
            raise DataError(f"{len(shared)} retain samples are also in the forget set (e.g. {min(shared)}); "
                            "choose disjoint splits, e.g. forget10 with retain90.")
        if len(retain) == 0:
            raise DataError(f"the retain set {inputs.benchmark}/{inputs.retain} is empty; choose another split.")
    hashes = {"data_hash": {"forget": data_hash(forget), "retain": data_hash(retain) if retain else None}}
    model, tokenizer = load_model(inputs.model)
    hashes["model_hash"] = {"initial": weights_hash(model)}
    items = encode(tokenizer, forget, settings)
    ids = forget["sample_id"]
    sampler_cls = SAMPLERS.get(settings.sampler_name)
    scores, rescore = None, None
    if sampler_cls.needs_scores:
        rescore = mrd_scorer(items, ids, settings, loop.seed, progress)
        scores = read_scores(inputs.scores, ids) if inputs.scores else rescore(model)
    stopper = None
    if settings.early_stop:
        split = default_threshold_split(inputs)
        reference = inputs.load(split)
        hashes["data_hash"]["threshold"] = data_hash(reference)
        memo = settings.memorization()
        threshold = memo.threshold(model, encode(tokenizer, reference, settings), tokenizer.eos_token_id)
        stopper = Stopper(memo, threshold, tokenizer.eos_token_id)
    model = with_lora(model, settings)
    resume = open_resume(out, "unlearn", inputs, asdict(settings), loop, hashes, overwrite)
    model, result = train(
        model, items, method, settings.build_sampler(len(items), scores), loop, resume=resume,
        retain=encode(tokenizer, retain, settings) if retain is not None else None,
        refusals=refusal_items(tokenizer, forget, inputs.benchmark, settings) if method.needs_refusals else None,
        stopper=stopper, stop_early=settings.early_stop, rescore=rescore if loop.refresh_every else None,
        progress=progress, desc=f"unlearn ({settings.method}, {settings.sampler_name})")
    hashes["model_hash"]["final"] = weights_hash(model)
    warn_if_unchanged(hashes["model_hash"], loop, result)
    rec = _record("unlearn", inputs, asdict(settings), loop, result, hashes,
                  threshold=asdict(stopper.threshold) if stopper else None,
                  sampler_scores=scores, scores_source=inputs.scores or ("scored" if scores else None))
    return save(model, tokenizer, out, rec, resume), rec


def run_finetune(inputs: Inputs, settings: Settings, loop: LoopConfig, out, *, overwrite: bool = False,
                 progress: bool = True) -> tuple[Path, dict]:
    """Fine-tune on one split (`inputs.forget`): the original (full) or retain-only model."""
    from mrd_bench.models import load_model
    from mrd_bench.provenance import data_hash
    from mrd_bench.samplers.uniform import Uniform

    out = checkpoint_target(out, overwrite, inputs.files())
    data = inputs.load(inputs.forget)
    if len(data) == 0:
        raise DataError(f"the training split {inputs.benchmark}/{inputs.forget} is empty; choose another split.")
    model, tokenizer = load_model(inputs.model)
    hashes = {"data_hash": {"train": data_hash(data)}, "model_hash": {"initial": weights_hash(model)}}
    items = encode(tokenizer, data, settings)
    used = {k: v for k, v in asdict(settings).items() if k in FINETUNE_SETTINGS}
    resume = open_resume(out, "finetune", inputs, used, loop, hashes, overwrite)
    model, result = train(with_lora(model, settings), items, Descent(), Uniform(len(items)), loop, resume=resume,
                          progress=progress, desc=f"fine-tune ({inputs.benchmark}/{inputs.forget})")
    hashes["model_hash"]["final"] = weights_hash(model)
    warn_if_unchanged(hashes["model_hash"], loop, result)
    rec = _record("finetune", inputs, used, loop, result, hashes)
    return save(model, tokenizer, out, rec, resume), rec


FINETUNE_SETTINGS = ("max_length", "prompt_format", "lora_rank", "lora_alpha")  # what fine-tuning reads


@dataclass(frozen=True)
class Descent:
    """Fine-tuning's loss: the answer NLL."""

    retain = "none"
    needs_reference = False
    needs_refusals = False

    def per_sample_loss(self, batch) -> torch.Tensor:  # [B]
        return batch.forget_nll


def replay(record_path: str, out, *, overwrite: bool = False, progress: bool = True) -> tuple[Path, dict, dict]:
    """Run a record's command again; returns (out, the new record, the old record)."""
    path = Path(record_path)
    if path.is_dir():
        path = path / RECORD
    try:
        old = json.loads(path.read_text())
        loop = LoopConfig(**{"adamw": "default", **old["loop"]})  # records older than the choice: torch's default
        inputs, settings = Inputs(**old["inputs"]), Settings(**old["settings"])
        kind = old["kind"]
    except FileNotFoundError:
        raise DataError(f"no run record at {str(path)!r}; give a run_record.json or its checkpoint folder.") from None
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(f"{str(path)!r} is not a run record ({err}); give a run_record.json from unlearn "
                        "or finetune.") from None
    run = {"unlearn": run_unlearn, "finetune": run_finetune}.get(kind)
    if run is None:
        raise DataError(f"{str(path)!r} records an unknown kind of run {kind!r}.")
    from mrd_bench.io import check_output_path

    check_output_path(out, folder=True, inputs={"--replay": path})
    out, new = run(inputs, settings, loop, out, overwrite=overwrite, progress=progress)
    if new["data_hash"] != old["data_hash"]:
        raise DataError(f"the data differ from the record's (data_hash); the replay in {out} is not a "
                        "reproduction. Use the same data copy.")
    if new["model_hash"]["initial"] != old["model_hash"]["initial"]:
        raise DataError(f"the starting weights differ from the record's; the replay in {out} is not a "
                        "reproduction. Point the record's model path at the same checkpoint.")
    return out, new, old
