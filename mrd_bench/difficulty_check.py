"""`mrd-bench difficulty-check`: which difficulty signal predicts forgetting, for this model and
these methods?

1. Draws n samples of the forget split (seeded) and measures, for each method, how many
   single-sample updates each needs before its memorisation accuracy falls below the threshold
   (`updates-to-forget`, the ground truth; resumable, and kept in OUT/updates_<method>.jsonl).
2. Scores the split once with `mrd-bench score` (MRD and its baseline columns: NLL, Min-K%,
   length), or reads --scores; a scores file already in OUT for the same model is reused.
3. For every signal and method: Spearman of the signal with updates-to-forget (bootstrap 95%
   CI, p), and the rank partial correlations given answer length and given NLL; a signal that
   points the way it declares correlates *negatively* with updates when higher = easier.
4. Chooses the signal to stratify by, by a rule fixed here (`choose`), and says why in one
   sentence. Writes check.json, check.md and check.png (signals × methods, with CIs).
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from mrd_bench.config import opt
from mrd_bench.errors import ConfigError
from mrd_bench.io import write_json, write_text, writing_together

DEFAULT_SIGNALS = "mrd_definition,mrd_per_token,nll,min_k,length"


@dataclass(frozen=True)
class CheckConfig:
    methods: str = opt("ga,graddiff,npo", "unlearning methods whose updates-to-forget are measured, comma-separated")
    signals: str = opt(DEFAULT_SIGNALS, "difficulty signals to compare (read from `mrd-bench score`'s file)")
    n: int = opt(200, "samples measured; Spearman's 95%% CI is about ±1.96/sqrt(n-3): ±0.14 at 200")
    seed: int = opt(0, "seed of the sample draw, the training and the bootstrap")
    max_updates: int = opt(60, "cap of single-sample updates; a sample still above the threshold counts as the cap")
    lr: float = opt(1.5e-5, "learning rate of the single-sample updates")
    lr_by_method: str = opt("", "other learning rates for some methods, e.g. npo=4e-5 (NPO's loss is bounded and "
                            "forgets slowly at GA's rate)")
    draws: int = opt(4, "MRD's antithetic pairs K when the check scores the split itself")
    boot: int = opt(2000, "bootstrap resamples of each CI")

    def __post_init__(self) -> None:
        from mrd_bench.methods import METHODS
        from mrd_bench.signals import SIGNALS

        if self.n < 10:
            raise ConfigError(f"--n must be at least 10 (a Spearman CI needs samples); got {self.n}.")
        for m in self.method_list():
            METHODS.get(m)
        for s in self.signal_list():
            if SIGNALS.get(s).source != "scores":
                raise ConfigError(f"--signals: {s!r} is not read from `mrd-bench score`'s file; difficulty-check "
                                  "measures updates-to-forget itself and compares the other signals with it.")
        if self.max_updates < 1 or not self.lr > 0 or self.boot < 100:
            raise ConfigError("--max-updates must be >= 1, --lr positive and --boot >= 100.")
        self.rates()

    def lr_of(self, method: str) -> float:
        return self.rates().get(method, self.lr)

    def rates(self) -> dict[str, float]:
        out = {}
        for part in filter(None, (p.strip() for p in self.lr_by_method.split(","))):
            name, _, value = part.partition("=")
            try:
                out[name.strip()] = float(value)
            except ValueError:
                raise ConfigError(f"--lr-by-method: {part!r} is not METHOD=RATE, e.g. npo=4e-5.") from None
            if name.strip() not in self.method_list() or not out[name.strip()] > 0:
                raise ConfigError(f"--lr-by-method: {part!r} names no method of --methods, or a rate that is not "
                                  "positive.")
        return out

    def method_list(self) -> list[str]:
        return [m.strip() for m in self.methods.split(",") if m.strip()]

    def signal_list(self) -> list[str]:
        return [s.strip() for s in self.signals.split(",") if s.strip()]


# ----------------------------------------------------------------------------- statistics (pure)

def signal_table(values: dict[str, np.ndarray], updates: dict[str, np.ndarray], length: np.ndarray, nll: np.ndarray,
                 *, boot: int, seed: int) -> dict:
    """signal -> method -> {rho, ci, p, partial_length, partial_nll (each with ci)}: the signal's
    Spearman with updates-to-forget, and given length and given NLL."""
    from mrd_bench.reproduce.stats import correlation

    from mrd_bench.reproduce.stats import spearman

    def given(x, y, control) -> dict:
        if abs(spearman(x, control)) > 0.999:  # the signal is its own control (length given length): undefined
            return {"rho": float("nan"), "ci": [float("nan"), float("nan")], "note": "the signal is this control"}
        c = correlation([x], y, controls=[control], n_boot=boot, seed=seed)
        return {"rho": c["rho"], "ci": c["ci"], "boot_dropped": c["boot_dropped"]}

    table: dict = {}
    for s, x in values.items():
        table[s] = {}
        for m, y in updates.items():
            raw = correlation([x], y, n_boot=boot, seed=seed)
            table[s][m] = {"rho": raw["rho"], "ci": raw["ci"], "p": raw["p"], "n": raw["n"],
                           "boot_dropped": raw["boot_dropped"], "n_boot": raw["n_boot"],
                           "partial_length": given(x, y, length), "partial_nll": given(x, y, nll)}
    return table


RULE = ("a signal's strength for a method is its Spearman with updates-to-forget turned so that positive means "
        "it points the way it declares (-rho where higher = easier, +rho where higher = harder); the signal to "
        "stratify by has the highest mean strength over the methods, and only a positive one; it is supported "
        "only if its 95% CI excludes 0 in the declared direction for every method, with at most 5% of the "
        "bootstrap resamples lost (a resample whose updates do not vary, all censored say, has no correlation)")
MAX_DROPPED = 0.05


def choose(table: dict, directions: dict[str, str]) -> dict:
    """The choice by RULE (fixed before any check ran). A method whose updates-to-forget are all
    equal (all censored, say) ranks nothing: its correlations are NaN and it is left out."""
    def turned(s: str) -> int:
        return -1 if directions[s] == "easier" else 1

    methods = [m for m in next(iter(table.values())) if any(np.isfinite(table[s][m]["rho"]) for s in table)]
    strength = {s: float(np.mean([turned(s) * table[s][m]["rho"] for m in methods])) if methods else float("nan")
                for s in table}
    supported = {s: bool(methods) and all(np.isfinite(table[s][m]["ci"]).all() and
                                          min(turned(s) * c for c in table[s][m]["ci"]) > 0 and
                                          table[s][m].get("boot_dropped", 0) <= MAX_DROPPED * table[s][m].get("n_boot", 1)
                                          for m in methods)
                 for s in table}
    ranked = [s for s in sorted(table, key=lambda s: -strength[s]) if np.isfinite(strength[s]) and strength[s] > 0]
    return {"signal": ranked[0] if ranked else None, "strength": strength, "supported": supported,
            "methods_compared": methods, "methods_left_out": [m for m in next(iter(table.values())) if m not in methods]}


def reason(table: dict, choice: dict, labels: dict[str, str]) -> str:
    """The choice in one sentence, with its evidence."""
    best = choice["signal"]
    left = (f" {', '.join(choice['methods_left_out'])}: every sample took the same number of updates, so it ranks "
            "nothing and is left out.") if choice["methods_left_out"] else ""
    if best is None and choice["methods_compared"]:
        return ("No signal can be chosen: none points the way it declares on average over the methods (every mean "
                "strength is <= 0), so stratifying by any of them would put hard samples in the easy bin." + left)
    if best is None:
        return "No signal can be chosen: no method's updates-to-forget varied across the samples." + left
    parts = ", ".join(f"{m} {table[best][m]['rho']:+.2f} [{table[best][m]['ci'][0]:+.2f}, {table[best][m]['ci'][1]:+.2f}]"
                      for m in choice["methods_compared"])
    runner = [s for s in sorted(choice["strength"], key=lambda s: -choice["strength"][s])
              if s != best and np.isfinite(choice["strength"][s])]
    other = f"; next: {labels[runner[0]]} ({choice['strength'][runner[0]]:+.2f})" if runner else ""
    shown = [labels[s] for s, ok in choice["supported"].items() if ok]
    verdict = (" Its 95% CI excludes 0 in its declared direction for every method." if choice["supported"][best] else
               " Its 95% CI does not exclude 0 in its declared direction for every method"
               + (f"; {', '.join(shown)} does." if shown else ", nor does any other signal's: none is shown to "
                  "predict forgetting for all the methods."))
    given = [table[best][m]["partial_length"]["rho"] for m in choice["methods_compared"]]
    beyond = (f" Given answer length it keeps {', '.join(f'{m} {r:+.2f}' for m, r in zip(choice['methods_compared'], given))}."
              if all(np.isfinite(given)) else "")
    return (f"Stratify by {labels[best]}: Spearman with updates-to-forget {parts} (mean strength "
            f"{choice['strength'][best]:+.2f}{other}).{beyond}{verdict}{left}")


# ----------------------------------------------------------------------------- the check

def run_check(inputs, cfg: CheckConfig, out: str | Path, *, scores: Optional[str] = None, overwrite: bool = False,
              progress: bool = True) -> Path:
    """Measure, compare, choose and write (see the module's docstring); returns OUT/check.json."""
    from mrd_bench.methods.loop import LoopConfig
    from mrd_bench.signals import SIGNALS
    from mrd_bench.unlearn import Settings
    from mrd_bench.updates import run_updates

    out = Path(out)
    if (out / "check.json").is_file() and not overwrite:
        from mrd_bench.errors import OutputExistsError

        raise OutputExistsError(f"{str(out / 'check.json')!r} already holds a difficulty check; pass --overwrite to "
                                "replace it (measurements in the folder are reused), or choose another --out.")
    out.mkdir(parents=True, exist_ok=True)
    forget = inputs.load(inputs.forget)
    if len(forget) < cfg.n:
        raise ConfigError(f"--n {cfg.n} is more than the {len(forget)} samples of {inputs.benchmark}/{inputs.forget}; "
                          f"use --n {len(forget)} or fewer.")
    from mrd_bench.methods import METHODS

    needing = [m for m in cfg.method_list() if METHODS.get(m).retain == "required"]
    if needing and not inputs.retain:
        raise ConfigError(f"{', '.join(needing)} need a retain set; pass --retain (e.g. retain90 for forget10).")
    order = {sid: i for i, sid in enumerate(forget["sample_id"])}
    ids = sorted(random.Random(cfg.seed).sample(list(forget["sample_id"]), cfg.n), key=order.get)
    started = time.perf_counter()
    per_update = seconds_per_update(inputs)
    most = cfg.n * len(cfg.method_list()) * cfg.max_updates
    print(f"difficulty-check: {cfg.n} samples x {len(cfg.method_list())} methods, up to {cfg.max_updates} updates "
          f"each; one update takes about {per_update:.2f} s here, so the measurement takes at most "
          f"{_duration(most * per_update)} (about half that if half the updates reach the threshold early), "
          "plus scoring. It resumes where it stops.")
    scores_path = Path(scores) if scores else _scores(inputs, cfg, out, overwrite, progress)
    updates = {}
    for m in cfg.method_list():
        path = out / f"updates_{m}.jsonl"
        loop = LoopConfig(lr=cfg.lr_of(m), seed=cfg.seed)
        if path.is_file() and not _same_updates(path, inputs, loop, cfg, ids):
            for stale in (path, path.with_name(path.stem + ".meta.json")):  # another --n, --lr, model, ...
                stale.unlink(missing_ok=True)
        if not path.is_file():  # its partial run (same settings) resumes inside run_updates
            _discarding_stale_partial(lambda: run_updates(
                inputs, Settings(method=m), loop, path, max_updates=cfg.max_updates, sample_ids=ids,
                progress=progress), path, overwrite)
        rows = {r["sample_id"]: r for r in map(json.loads, path.read_text().splitlines())}
        updates[m] = np.array([rows[i]["updates"] for i in ids], dtype=float)
    from mrd_bench.annotate import read_signal_file
    from mrd_bench.errors import DataError

    rows, meta = read_signal_file(scores_path)
    by_id = {r["sample_id"]: r for r in rows}
    lacking = [i for i in ids if i not in by_id]
    if lacking:
        raise DataError(f"{str(scores_path)!r} has no row for {len(lacking)} of the drawn samples (e.g. {lacking[0]!r}); "
                        f"give scores of the whole {inputs.benchmark}/{inputs.forget} from `mrd-bench score`.")
    for column in ("n_tokens", "nll"):
        if any(not isinstance(by_id[i].get(column), (int, float)) for i in ids):
            raise DataError(f"{str(scores_path)!r} has no {column} column (scored with --no-baselines?); the partial "
                            "correlations need length and NLL: score again with `mrd-bench score` and its baselines.")
    values = {}
    for s in cfg.signal_list():
        got = SIGNALS.get(s).values([by_id[i] for i in ids], meta, str(scores_path))
        values[s] = np.array([got[i] for i in ids], dtype=float)
    length = np.array([by_id[i]["n_tokens"] for i in ids], dtype=float)
    nll = np.array([by_id[i]["nll"] for i in ids], dtype=float)
    table = signal_table(values, updates, length, nll, boot=cfg.boot, seed=cfg.seed)
    directions = {s: SIGNALS.get(s).higher_is for s in values}
    labels = {s: SIGNALS.get(s).axis() for s in values}
    choice = choose(table, directions)
    from mrd_bench.provenance import record

    result = record(kind="difficulty_check", inputs=asdict(inputs), config=asdict(cfg), sample_ids=ids,
                    scores=str(scores_path), model_hash=meta.get("model_hash"), signals=labels,
                    directions=directions, table=table, choice={**choice, "reason": reason(table, choice, labels)},
                    rule=RULE,
                    updates={m: {"median": float(np.median(u)), "censored": int((u >= cfg.max_updates).sum())}
                             for m, u in updates.items()},
                    wall_s=round(time.perf_counter() - started, 1))
    with writing_together(out / "check.json", out / "check.md", out / "check.png") as (j, md, png):
        write_json(j, result)
        write_text(md, markdown(result))
        plot(result, png)
    print(result["choice"]["reason"])
    return out / "check.json"


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min" if seconds >= 60 \
        else f"{seconds:.0f} s"


def _same_updates(path: Path, inputs, loop, cfg: CheckConfig, ids: list[str]) -> bool:
    """Whether a finished updates file was measured with these inputs, settings and samples."""
    meta_path = path.with_name(path.stem + ".meta.json")
    try:
        meta = json.loads(meta_path.read_text())
        done = {json.loads(line)["sample_id"] for line in path.read_text().splitlines() if line.strip()}
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return (done == set(ids) and meta.get("max_updates") == cfg.max_updates and meta.get("inputs") == asdict(inputs)
            and (meta.get("loop") or {}).get("lr") == loop.lr and (meta.get("loop") or {}).get("seed") == loop.seed)


def _discarding_stale_partial(run, path: Path, overwrite: bool):
    """Run a resumable stage; a partial run of it under other settings is discarded with
    --overwrite (refused without, with the stage's own message)."""
    import shutil

    from mrd_bench.errors import OutputExistsError

    try:
        return run()
    except OutputExistsError:
        if not overwrite:
            raise
        shutil.rmtree(path.with_name(path.name + ".partial"), ignore_errors=True)
        return run()


def seconds_per_update(inputs) -> float:
    """One single-sample training step (forward, backward, AdamW) of the model on the first forget
    sample, timed twice after a warm-up; the faster."""
    import torch

    from mrd_bench.models import load_model
    from mrd_bench.pipeline import encode_split

    device = "cuda" if torch.cuda.is_available() else "cpu"  # where training runs (accelerate picks the GPU)
    model, tokenizer = load_model(inputs.model)
    model.to(device)
    item = encode_split(tokenizer, inputs.load(inputs.forget).select(range(1)))[0]
    ids = torch.tensor([item.input_ids], device=device)
    labels = torch.tensor([item.labels], device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        model(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    del model, optimizer
    return min(times[1:])


def _scores(inputs, cfg: CheckConfig, out: Path, overwrite: bool, progress: bool) -> Path:
    """OUT/scores.jsonl: MRD (definition, K = cfg.draws) and its baseline columns for the whole
    split, reused when it is already there for the same model, data and settings; an unfinished
    scoring under the same settings resumes."""
    from mrd_bench.models import load_model, weights_hash
    from mrd_bench.pipeline import encode_split, targets
    from mrd_bench.provenance import data_hash, record
    from mrd_bench.scorers.runner import ScoreConfig
    from mrd_bench.scorers.stream import score_to_file

    path = out / "scores.jsonl"
    model, tokenizer = load_model(inputs.model)
    dataset = inputs.load(inputs.forget)
    cfg_score = ScoreConfig(estimator="definition", draws=cfg.draws, seed=cfg.seed)
    meta_path = path.with_name("scores.meta.json")
    if path.is_file() and meta_path.is_file():
        found = json.loads(meta_path.read_text())
        if (found.get("model_hash"), found.get("data_hash"), (found.get("score_config") or {}).get("draws"),
                (found.get("score_config") or {}).get("seed")) == (weights_hash(model), data_hash(dataset), cfg.draws,
                                                                   cfg.seed):
            return path
        path.unlink()  # another model, split or K: this folder's own scores, measured again
        meta_path.unlink()
    meta = record(benchmark=inputs.benchmark, split=inputs.forget, subset_authors=inputs.subset_authors,
                  model=inputs.model, data_hash=data_hash(dataset))
    return _discarding_stale_partial(lambda: score_to_file(
        model, encode_split(tokenizer, dataset), dataset["sample_id"], targets(dataset), cfg_score, path, meta=meta,
        progress=progress), path, overwrite)


# ----------------------------------------------------------------------------- outputs

def cell(x: dict) -> str:
    """One correlation as '+0.12 [-0.03, +0.27]', or a dash when it could not be measured."""
    rho, ci = x.get("rho"), x.get("ci") or [None, None]
    if not all(isinstance(v, (int, float)) and np.isfinite(v) for v in (rho, *ci)):
        return "—"
    return f"{rho:+.2f} [{ci[0]:+.2f}, {ci[1]:+.2f}]"


def _settings(r: dict) -> str:
    """The run's settings, so that a difference between methods can be read against them."""
    c = r.get("config", {})
    return (f"Settings: lr {c.get('lr')} ({c.get('lr_by_method') or 'the same for every method'}), at most "
            f"{c.get('max_updates')} single-sample updates (a sample not forgotten by then is censored there and "
            f"ties at the cap), n = {c.get('n')} drawn with seed {c.get('seed')}, {c.get('boot')} bootstrap resamples; "
            "no correction for the signals x methods compared (the rule asks every method's CI to agree).")


def table_lines(r: dict, strength: bool = False) -> list[str]:
    """The signals x methods table (Spearman, given length, given NLL), with each signal's mean
    strength as a last column if asked."""
    methods = list(next(iter(r["table"].values())))
    last = (" mean strength |", "---:|") if strength else ("", "")
    lines = ["| signal | " + " | ".join(f"{m}: Spearman | {m}: given length | {m}: given NLL" for m in methods)
             + " |" + last[0], "|---|" + "---:|" * (3 * len(methods)) + last[1]]
    for s, by_method in r["table"].items():
        lines.append(f"| {r['signals'][s]} | " + " | ".join(
            f"{cell(x)} | {cell(x['partial_length'])} | {cell(x['partial_nll'])}" for x in by_method.values()) + " |"
            + (f" {r['choice']['strength'][s]:+.2f} |" if strength else ""))
    return lines


def updates_line(r: dict) -> str:
    return "Updates to forget: " + "; ".join(f"{m} median {u['median']:g}, {u['censored']} of {len(r['sample_ids'])} "
                                             "censored at the cap" for m, u in r["updates"].items())


def markdown(r: dict) -> str:
    lines = [f"# Difficulty check: {r['inputs']['benchmark']}/{r['inputs']['forget']}, n = {len(r['sample_ids'])}", "",
             f"**{r['choice']['reason']}**", "", f"Rule: {r['rule']}", "", _settings(r), "",
             "Spearman of each signal with updates-to-forget (bootstrap 95% CI), and the rank partial correlation "
             "given answer length and given NLL. A signal where higher = easier should correlate negatively.", "",
             *table_lines(r), "", updates_line(r), ""]
    return "\n".join(lines)


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mrd_bench.leaderboard.page import mpl_text

    signals = list(r["table"])
    methods = list(next(iter(r["table"].values())))
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(signals) * len(methods) + 1.6), layout="constrained")
    y = 0
    ticks, labels = [], []
    for s in signals:
        for i, m in enumerate(methods):
            x = r["table"][s][m]
            ax.errorbar(x["rho"], y, xerr=[[x["rho"] - x["ci"][0]], [x["ci"][1] - x["rho"]]], fmt="o", capsize=3,
                        color=f"C{i}", label=m if s == signals[0] else None)
            ticks.append(y)
            labels.append(mpl_text(f"{r['signals'][s]} / {m}"))
            y -= 1
        y -= 0.5
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(ticks, labels, fontsize="small")
    ax.set_xlabel("Spearman with updates-to-forget (95% bootstrap CI)")
    ax.set_title(mpl_text(f"Which signal predicts forgetting? n = {len(r['sample_ids'])}"))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")  # outside: never over a CI
    fig.savefig(path, dpi=110)
    plt.close(fig)
