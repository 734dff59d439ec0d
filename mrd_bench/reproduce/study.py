"""`mrd-bench reproduce`: the study's setting, its cached stages, and the order they run in.

Every stage writes into its own folder under the work folder and ends by writing
`done.json` (its key, wall time, hardware). A stage whose `done.json` holds the same key
is skipped; one interrupted midway resumes from the files it streamed (per seed, per
sample). The report is rebuilt from whatever stages are done, and says which are not.
"""
from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Optional

from mrd_bench.config import opt
from mrd_bench.errors import ConfigError
from mrd_bench.io import read_json, write_json
from mrd_bench.cache import cache_dir
from mrd_bench.models import EMBEDDED

HOLDOUT = {2: "holdout01", 10: "holdout05", 20: "holdout10"}  # TOFU's holdout split per forget size (authors)
FORGET = {2: "forget01", 10: "forget05", 20: "forget10"}  # TOFU's forget split of the last F authors
RETAIN = {2: "retain99", 10: "retain95", 20: "retain90"}  # ... and the retain split beside it
BENCHMARKS = ("tofu",)  # the study needs authors (forget/retain by author, a never-trained holdout)


def rates(text: str, flag: str) -> dict[str, float]:
    """method=rate pairs, comma-separated (e.g. "ga=2e-5,npo=4e-5"), by method."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"{flag} takes method=rate pairs such as npo=4e-5; got {part!r}.") from None
        if not out[name.strip()] > 0:
            raise ConfigError(f"{flag}: the rate of {name.strip()} must be positive; got {value}.")
    return out


def names(text: str) -> list[str]:
    """A comma-separated list of names, e.g. "ga,graddiff,npo"."""
    return [m.strip() for m in text.split(",") if m.strip()]


@dataclass(frozen=True)
class Study:
    """The setting: model, data, seeds and budgets. Every field is a flag of `mrd-bench reproduce`."""

    model: str = opt(EMBEDDED, "the base model fine-tuned into the original (a folder, hub id, or the embedded model)")
    benchmark: str = opt("tofu", "the benchmark (TOFU: forget and retain by author, TOFU's holdout as non-members)")
    device: str = opt("auto", "cpu, cuda, or auto (cuda when there is one): where every heavy stage runs")
    authors: int = opt(20, "fine-tune on the last N authors of TOFU's full set (200 = all of TOFU)")
    forget_authors: int = opt(10, "the forget set: the last F of those authors (TOFU's convention: the tail); "
                              "the retain set is the rest")
    seeds: int = opt(5, "seeds wherever randomness enters (MRD noise; unlearning runs)")
    finetune_lr: float = opt(1e-4, "fine-tuning learning rate (AdamW)")
    finetune_epochs: int = opt(5, "fine-tuning epochs")
    sigma: float = opt(1e-4, "σ of the definition and hutchinson estimators")
    alg1_sigma: float = opt(1e-5, "σ of alg1 (the paper's)")
    eps: float = opt(1e-3, "|log p| clamp of the MRD denominator")
    pairs: int = opt(4, "definition: antithetic pairs per seed")
    alg1_draws: int = opt(8, "alg1: draws per seed")
    hutchinson_draws: int = opt(2, "hutchinson: Rademacher probes per seed")
    sensitivity_samples: int = opt(48, "samples in the σ and batch-size sensitivity checks")
    updates_lr: float = opt(1.5e-5, "learning rate of the per-sample updates-to-forget runs (small, so counts spread)")
    updates_lr_by_method: str = opt("npo=4e-5", "learning rates that override --updates-lr for some methods, "
                                    "e.g. npo=4e-5 (NPO's adaptive weight slows its forgetting at the same rate)")
    max_updates: int = opt(60, "cap of updates per sample (a sample still above the threshold is censored)")
    horizon: int = opt(5, "the fixed number of updates of the continuous measures (loss increase, MA area)")
    methods: str = opt("ga,graddiff,npo", "methods whose updates-to-forget are measured")
    batch_size: int = opt(16, "scoring batch size")
    protocol_max_updates: int = opt(60, "claims 1 and 4: the update budget of a run that unlearns until the forget set's "
                                    "MA falls below the threshold (a run not there by then is censored)")
    protocol_check_every: int = opt(1, "claims 1 and 4: updates between MA checks (the resolution of updates-to-"
                                    "threshold)")
    protocol_patience: int = opt(3, "claims 1 and 4: a run stops, censored, once this many checks in a row found no "
                                 "lower MA (its MA has settled above the threshold)")
    calibrate_start: str = opt("ga=2e-5,graddiff=4e-5,npo=4e-5,po=4e-5", "claims 1 and 4: each method's first "
                               "learning rate in the calibration; the rate doubles until enough runs reach the threshold")
    calibrate_runs: int = opt(5, "claims 1 and 4: calibration runs per rate (random forget subsets apart from the "
                              "study's); a rate passes with at most (1 − --calibrate-reach) of them missing")
    calibrate_levels: int = opt(6, "claims 1 and 4: rates tried per method at most")
    calibrate_reach: float = opt(0.8, "claims 1 and 4: the share of calibration runs that must reach the threshold")
    variance_subsets: int = opt(5, "claim 1: random forget subsets (of the forget set), each unlearned by GradDiff "
                                "and by NPO; at 3 seeds the random-effects F test finds θ = σ²_subset/σ²_seed = 2.5 "
                                "with 80% power (θ = 1 would need 11 subsets: the CPU budget decided)")
    variance_size: int = opt(40, "claim 1: samples per random forget subset (TOFU's forget01 size)")
    variance_seeds: int = opt(3, "claim 1: training seeds per subset and method (the seed's own spread)")
    sampling_forget_authors: int = opt(2, "claim 4: the forget set of the sampler comparison, the last F authors "
                                       "(2 = TOFU forget01)")
    sampling_methods: str = opt("ga,graddiff,npo,po", "claim 4: methods compared across samplers (GA with the MRD "
                                "weights is CGA)")
    sampling_arms: str = opt("uniform,mrd,length,nll", "claim 4: samplers: uniform, and p ∝ MRD, answer tokens or "
                             "answer NLL (the same weighting and floor)")
    sampling_seeds: int = opt(3, "claim 4: training seeds per method and sampler; pairs = methods × seeds (12 "
                              "pairs find a standardised paired difference of 0.89 with 80% power)")
    stability_samples: int = opt(40, "claim 5: forget samples of the alg1 runs to K = --stability-draws")
    stability_draws: int = opt(200, "claim 5: alg1 draws K per run (the paper's range reaches 200)")
    stability_sigma: float = opt(1e-4, "claim 5: the second σ of alg1 (the first is --alg1-sigma)")
    cud_label_methods: str = opt("ga,graddiff,npo,po", "claim 6: the unlearners whose loss increases label samples "
                                 "easy or hard (CGA left out: it samples by MRD)")
    cud_label_steps: int = opt(25, "claim 6: updates (of 8 samples) per labelling run")
    cud_label_lr: float = opt(2e-5, "claim 6: learning rate of the labelling runs")
    cud_label_q: float = opt(0.25, "claim 6: the share called easy (largest loss increase) and hard (smallest) per run")
    label_seeds: int = opt(3, "claim 6: seeds per labelling method; a label needs more than half of all runs")
    cud_baseline: str = opt("corrupt", "claim 6: EAP-IG's baseline input, corrupt or zero")
    cud_steps: int = opt(5, "claim 6: EAP-IG interpolation steps m")
    cud_top_edges: int = opt(75, "claim 6: edges per circuit n")
    cud_folds: int = opt(5, "claim 6: cross-fitting folds")

    def __post_init__(self) -> None:
        if self.benchmark not in BENCHMARKS:
            raise ConfigError(f"the reproduction study runs on {', '.join(BENCHMARKS)} (it needs authors and a "
                              f"holdout); got --benchmark {self.benchmark!r}.")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"--device must be cpu, cuda, cuda:N or auto; got {self.device!r}.")
        if not 1 <= self.forget_authors < self.authors <= 200:
            raise ConfigError(f"need 1 <= --forget-authors < --authors <= 200; got {self.forget_authors} and "
                              f"{self.authors}.")
        if self.forget_authors not in HOLDOUT:
            raise ConfigError(f"--forget-authors must be one of {sorted(HOLDOUT)} (TOFU has a holdout split of "
                              f"that size for the threshold); got {self.forget_authors}.")
        if self.sampling_forget_authors not in FORGET or self.sampling_forget_authors > self.forget_authors:
            raise ConfigError(f"--sampling-forget-authors must be one of {sorted(FORGET)} and at most "
                              f"--forget-authors; got {self.sampling_forget_authors}.")
        for name in ("seeds", "pairs", "alg1_draws", "hutchinson_draws", "sensitivity_samples", "max_updates",
                     "horizon", "batch_size", "finetune_epochs", "variance_subsets", "variance_size",
                     "variance_seeds", "protocol_max_updates", "protocol_check_every", "calibrate_runs",
                     "calibrate_levels", "sampling_seeds", "stability_samples", "stability_draws", "label_seeds",
                     "cud_label_steps", "cud_steps", "cud_top_edges"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1; got {getattr(self, name)}.")
        from mrd_bench.cud_labels import LabelConfig
        from mrd_bench.scorers.cud_run import CudConfig

        LabelConfig(methods=self.cud_label_methods, steps=self.cud_label_steps, lr=self.cud_label_lr,
                    q=self.cud_label_q, min_votes=1)
        CudConfig(baseline=self.cud_baseline, steps=self.cud_steps, top_edges=self.cud_top_edges, folds=self.cud_folds)
        if self.protocol_patience < 0:
            raise ConfigError(f"--protocol-patience must be at least 0 (0: never stop on a plateau); got "
                              f"{self.protocol_patience}.")
        if not 0 < self.calibrate_reach <= 1:
            raise ConfigError(f"--calibrate-reach must lie in (0, 1]; got {self.calibrate_reach}.")
        if self.variance_seeds < 2:
            raise ConfigError(f"--variance-seeds must be at least 2 (the seed's own spread needs two runs of a "
                              f"subset); got {self.variance_seeds}.")
        unknown = [a for a in self.arm_list if a not in ("uniform", "mrd", "length", "nll")]
        if unknown or "uniform" not in self.arm_list:
            raise ConfigError(f"--sampling-arms takes uniform (required) and any of mrd, length, nll; got "
                              f"{self.sampling_arms!r}.")
        for name in ("finetune_lr", "sigma", "alg1_sigma", "eps", "updates_lr", "stability_sigma"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive; got {getattr(self, name)}.")
        from mrd_bench.methods.base import METHODS

        for method in (self.method_list + self.sampling_list + self.label_methods + list(self._lr_overrides())
                       + list(self._lr_overrides("calibrate_start"))):
            METHODS.get(method)
        if "cga" in self.label_methods:
            raise ConfigError("--cud-label-methods: leave cga out (it samples by MRD, so its losses would tie the "
                              "labels to the signal they judge); e.g. ga,graddiff,npo,po.")
        missing = [m for m in set(self.sampling_list) | {"graddiff", "npo"} if m not in self._lr_overrides(
            "calibrate_start")]
        if missing:
            raise ConfigError(f"--calibrate-start gives no first rate for {', '.join(sorted(missing))}; add e.g. "
                              f"{sorted(missing)[0]}=4e-5.")

    @property
    def method_list(self) -> list[str]:
        return names(self.methods)

    def updates_lr_for(self, method: str) -> float:
        return self._lr_overrides().get(method, self.updates_lr)

    def calibrate_start_for(self, method: str) -> float:
        return self._lr_overrides("calibrate_start")[method]

    @property
    def arm_list(self) -> list[str]:
        return names(self.sampling_arms)

    @property
    def label_methods(self) -> list[str]:
        return names(self.cud_label_methods)

    def _lr_overrides(self, option: str = "updates_lr_by_method") -> dict[str, float]:
        return rates(getattr(self, option), "--" + option.replace("_", "-"))

    @property
    def sampling_list(self) -> list[str]:
        return names(self.sampling_methods)

    @property
    def torch_device(self) -> str:
        import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"--device {self.device}: torch sees no CUDA device here; use --device cpu.")
        return self.device

    def default_work(self) -> Path:
        slug = hashlib.sha256(json.dumps([self.model, self.benchmark, self.authors, self.forget_authors,
                                          self.finetune_lr, self.finetune_epochs]).encode()).hexdigest()[:12]
        return cache_dir() / "reproduce" / slug


@dataclass(frozen=True)
class Setting:
    """The original model's setting: the first part of every stage's key."""

    model: str
    benchmark: str
    authors: int
    forget_authors: int
    finetune_lr: float
    finetune_epochs: int


def from_study(cls, study: Study, **given):
    """`cls`'s settings from the study: each init field not `given` is the study's field of that
    name (a field with init=False is a constant of the stage, e.g. its version)."""
    return cls(**{f.name: getattr(study, f.name) for f in fields(cls) if f.init and f.name not in given}, **given)


def settings_of(cls) -> Callable[[Study], Any]:
    return lambda study: from_study(cls, study)


@dataclass(frozen=True)
class Stage:
    """A compute stage. `settings(study)` is a dataclass holding all the stage reads of the study:
    its key is that dataclass's fields (`asdict`) after the setting and its upstream stages' keys, so
    a setting the stage reads cannot be left out of its key. `run(ctx, folder, settings)`."""

    name: str
    what: str  # one line for the report
    settings: Callable[[Study], Any]
    run: Callable[["Context", Path, Any], dict]
    upstream: tuple = ()  # stages whose outputs this one reads: their keys are part of its key

    def key(self, study: Study) -> dict:
        out = asdict(from_study(Setting, study))
        for part in [*(u.key(study) for u in self.upstream), asdict(self.settings(study))]:
            for name, value in part.items():
                if out.setdefault(name, value) != value:
                    raise ValueError(f"stage {self.name}: key field {name!r} has two values ({out[name]!r}, {value!r})")
        return out


@dataclass
class Context:
    study: Study
    work: Path
    progress: bool = True
    times: dict = field(default_factory=dict)

    @cached_property
    def splits(self) -> dict:
        """forget / retain / holdout rows (datasets) and the fine-tuning set."""
        from mrd_bench.data import keep_authors, load
        from mrd_bench.data.tofu import AUTHOR_SIZE

        full = keep_authors(load("tofu", "full"), "tofu", self.study.authors)
        n_forget = self.study.forget_authors * AUTHOR_SIZE
        return {"train": full, "forget": full.select(range(len(full) - n_forget, len(full))),
                "retain": full.select(range(len(full) - n_forget)), "holdout": load("tofu", HOLDOUT[
                    self.study.forget_authors]), "holdout_split": HOLDOUT[self.study.forget_authors]}

    @property
    def original(self) -> Path:
        return self.work / "original"

    def load_original(self):
        from mrd_bench.models import load_model

        model, tokenizer = load_model(str(self.original))
        return model.to(self.study.torch_device).eval(), tokenizer

    def encode(self, tokenizer, rows):
        from mrd_bench.unlearn import Settings, encode

        return encode(tokenizer, rows, Settings())

    def done(self, name: str) -> Optional[dict]:
        path = self.work / name / "done.json"
        return read_json(path) if path.is_file() else None


def key_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


class StageClock:
    """A stage's wall time summed over every invocation under the same key: a killed run's time
    is kept in `<work>/.clocks/<stage>.json`, rewritten every `every` seconds by a daemon thread."""

    def __init__(self, path: Path, key: str, every: float = 30.0):
        self.path, self.key, self.every = path, key, every
        old = read_json(path) if path.is_file() else {}
        same = old.get("key") == key
        self.prior = float(old.get("wall_s", 0.0)) if same else 0.0
        self.invocations = int(old.get("invocations", 0)) + 1 if same else 1
        self._stop = threading.Event()

    @property
    def total(self) -> float:
        return self.prior + time.perf_counter() - self._started

    def _save(self) -> None:
        write_json(self.path, {"key": self.key, "wall_s": round(self.total, 1), "invocations": self.invocations})

    def _tick(self) -> None:
        while not self._stop.wait(self.every):
            self._save()

    def __enter__(self):
        self._started = time.perf_counter()
        self._save()
        threading.Thread(target=self._tick, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._save()


def run_stage(ctx: Context, stage: Stage) -> dict:
    from mrd_bench.provenance import record

    folder = ctx.work / stage.name
    settings = stage.key(ctx.study)
    key = key_hash(settings)
    done = ctx.done(stage.name)
    if done is not None and done["key"] == key:
        ctx.times[stage.name] = done["wall_s"]
        if ctx.progress:
            print(f"[reproduce] stage {stage.name}: done earlier ({done['wall_s']:.0f} s), kept", file=sys.stderr)
        return done
    if ctx.progress:
        print(f"[reproduce] stage {stage.name}: {stage.what}", file=sys.stderr, flush=True)
    if done is not None:
        (folder / "done.json").unlink()  # settings changed: the stage's own resume keys decide what is kept
    folder.mkdir(parents=True, exist_ok=True)
    # beside the stage folders, not in them: `original`'s folder is the checkpoint, which admits no foreign file
    with StageClock(ctx.work / ".clocks" / f"{stage.name}.json", key) as clock:
        result = stage.run(ctx, folder, stage.settings(ctx.study))
    wall = clock.total + (result.pop("earlier_wall_s", 0.0) if isinstance(result, dict) else 0)
    out = record(kind=f"reproduce/{stage.name}", key=key, settings=settings, wall_s=round(wall, 1),
                 invocations=clock.invocations, wall_s_counts="every invocation", result=result)
    write_json(folder / "done.json", out)
    ctx.times[stage.name] = out["wall_s"]
    return out
