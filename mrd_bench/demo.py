"""The main job: fine-tune the embedded model on the embedded authors, score MRD, report.

1. Fine-tune SmolLM2-135M-Instruct on the fictitious authors' `full` split to make the
   "original" model (cached by model, data and settings: a second run skips it).
2. Score MRD on the forget split; write scores with difficulty bins.
3. Write report.md, mrd.png and run.json into the output folder.
4. The product's purpose: unlearn the forget split with GA and NPO, each with the uniform and the
   mrd sampler, evaluate them through the stratified lm-eval tasks, and build their
   difficulty-controlled leaderboard (board/index.html), printing the ranking.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import mean
from typing import Optional

from mrd_bench.data import load
from mrd_bench.data.source import BENCHMARKS, check_split
from mrd_bench.errors import ConfigError
from mrd_bench.io import loads, read_json, write_json, write_text
from mrd_bench.cache import cache_dir
from mrd_bench.checkpoints import save_checkpoint
from mrd_bench.config import opt
from mrd_bench.models import EMBEDDED, load_model, weights_hash
from mrd_bench.outputs import folder_target, replacing
from mrd_bench.pipeline import encode_split, targets
from mrd_bench.provenance import data_hash, record
from mrd_bench.report.plots import plot_mrd
from mrd_bench.scorers.runner import ScoreConfig
from mrd_bench.scorers.stream import score_to_file
from mrd_bench.train import FinetuneConfig, answer_nll, finetune

# The output policy (mrd_bench/outputs.py): the demo works in a folder beside its output
# (.OUT.mrd-bench-new, kept when interrupted so that the next run resumes there) and swaps it in
# whole when done: an interrupted demo leaves the old output as it was, never a mix of two runs.
DEMO = {"what": "demo results", "kind": "demo", "legacy": (
    "report.md", "run.json", "mrd.png", "scores.jsonl", "scores.meta.json", "scores.jsonl.partial/*", "board/*",
    "work/*")}


@dataclass(frozen=True)
class DemoConfig:
    out: str = opt("mrd_demo", "output folder")
    model: str = opt(EMBEDDED, "base model (the embedded model by default)")
    forget_split: str = opt("forget20", "fictitious split to score")
    holdout_split: str = opt("holdout20", "never-trained split")
    train_samples: Optional[int] = opt(None, "fine-tune on the first N samples only (quick runs)")
    epochs: int = opt(3, "fine-tuning epochs")
    lr: float = opt(1e-4, "fine-tuning learning rate")
    sigma: float = opt(1e-4, "MRD noise scale σ")
    draws: int = opt(8, "MRD antithetic pairs K")
    seed: int = opt(0, "seed of fine-tuning, scoring and unlearning")
    overwrite: bool = opt(False, "replace existing results")
    board_runs: str = opt("ga:uniform,ga:mrd,npo:uniform,npo:mrd", "METHOD:SAMPLER entries of the demo's "
                          "leaderboard, or 'none' (by default GA and NPO, each with the uniform and the mrd sampler)")
    board_steps: int = opt(6, "unlearning updates per entry")
    board_lr: float = opt(8e-5, "unlearning learning rate")

    def __post_init__(self) -> None:
        if self.train_samples is not None and self.train_samples < 1:
            raise ConfigError(f"--train-samples must be at least 1; got {self.train_samples}.")
        if self.board_steps < 1 or not self.board_lr > 0:
            raise ConfigError("--board-steps must be at least 1 and --board-lr positive.")
        self.runs()
        for name in ("forget_split", "holdout_split"):
            check_split(BENCHMARKS.get("fictitious"), getattr(self, name))

    def runs(self) -> list[tuple[str, str]]:
        """(method, sampler) pairs of --board-runs, checked."""
        from mrd_bench.methods import METHODS
        from mrd_bench.samplers import SAMPLERS

        if self.board_runs.strip() == "none":
            return []
        pairs = []
        for part in self.board_runs.split(","):
            method, _, sampler = part.strip().partition(":")
            if method not in METHODS or sampler not in SAMPLERS:
                raise ConfigError(f"--board-runs: {part.strip()!r} is not METHOD:SAMPLER (methods: "
                                  f"{', '.join(METHODS)}; samplers: {', '.join(SAMPLERS)}), e.g. ga:uniform,npo:mrd; "
                                  "or 'none'.")
            if METHODS.get(method).retain == "required":
                raise ConfigError("--board-runs: the demo's board runs methods without a retain set (ga, npo, cga); "
                                  f"got {method!r}.")
            pairs.append((method, sampler))
        return pairs


def run_demo(cfg: DemoConfig, progress: bool = True) -> Path:
    scoring = ScoreConfig(estimator="definition", sigma=cfg.sigma, draws=cfg.draws, seed=cfg.seed)
    scoring.build()  # validates before any work
    ft = FinetuneConfig(epochs=cfg.epochs, lr=cfg.lr, seed=cfg.seed)
    target = folder_target(cfg.out, cfg.overwrite, inputs={"--model": cfg.model}, **DEMO)
    with replacing(target, resume=True, **DEMO) as out:
        print(f"Working in {str(out)!r}; it becomes {str(target)!r} when the demo is done (an interrupted demo "
              "resumes there).")
        _resume_only_the_same(out, cfg)
        try:
            _run(cfg, ft, scoring, out, progress)
        except BaseException:
            if [p.name for p in out.rglob("*") if p.is_file()] == ["demo_key.json"]:
                shutil.rmtree(out)  # stopped before any work (a model that does not load): nothing to resume
            raise
    return target


def _resume_only_the_same(folder: Path, cfg: DemoConfig) -> None:
    """An interrupted demo's folder is taken up only by the same demo (its settings in
    work/demo_key.json); one with other settings is cleared first."""
    key = {k: v for k, v in asdict(cfg).items() if k not in ("out", "overwrite")}
    marker = folder / "work" / "demo_key.json"
    try:
        same = read_json(marker) == key
    except (OSError, ValueError):
        same = False
    if not same:
        for entry in folder.iterdir():
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        write_json(marker, key)


def _run(cfg: DemoConfig, ft: FinetuneConfig, scoring: ScoreConfig, out: Path, progress: bool) -> None:
    timings: dict[str, float] = {}
    start = time.perf_counter()
    train = load("fictitious", "full")
    if cfg.train_samples is not None:
        train = train.select(range(min(cfg.train_samples, len(train))))
    forget, holdout = load("fictitious", cfg.forget_split), load("fictitious", cfg.holdout_split)
    model, tokenizer = load_model(cfg.model)
    base_hash = weights_hash(model)
    timings["load_base_model_s"] = time.perf_counter() - start

    t = time.perf_counter()
    key = _cache_key(base_hash, data_hash(train), ft)
    model, tokenizer, cached = _original_model(model, tokenizer, train, ft, key, progress)
    timings["finetune_s"] = time.perf_counter() - t

    t = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    provenance = dict(config=asdict(cfg), finetune=ft.to_dict(), base_model_hash=base_hash,
                      original_model_cached=cached, original_model_cache=str(cache_dir() / "original" / key),
                      data_hash={"train": data_hash(train), "forget": data_hash(forget)})
    for done in ("scores.jsonl", "scores.meta.json"):  # an interrupted demo's finished scores are scored again
        (out / done).unlink(missing_ok=True)          # (unfinished ones resume from scores.jsonl.partial)
    score_to_file(model, encode_split(tokenizer, forget), forget["sample_id"], targets(forget), scoring,
                  out / "scores.jsonl", meta=record(**provenance), progress=progress)
    timings["score_mrd_s"] = time.perf_counter() - t
    rows = [loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    meta = read_json(out / "scores.meta.json")
    edges = meta["bin_edges"]
    nll = {"forget": mean(r["nll"] for r in rows),  # a baseline column of the scores
           "holdout": mean(answer_nll(model, encode_split(tokenizer, holdout)))}
    board = None
    if cfg.runs():
        t = time.perf_counter()
        del model  # each run loads the original afresh
        board, board_times = _board(cfg, out, cache_dir() / "original" / key, meta["model_hash"],
                                    tokenizer.chat_template is not None, progress)
        timings.update(board_times)
        timings["leaderboard_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - start

    plot_mrd(rows, edges, out / "mrd.png", title=f"MRD on fictitious/{cfg.forget_split}, "
             f"σ={cfg.sigma:g}, K={cfg.draws} antithetic pairs")
    write_text(out / "report.md", _markdown(cfg, rows, edges, nll, timings, cached, board))
    write_json(out / "run.json", record(**provenance, original_model_hash=meta["model_hash"],
                                        score_config=scoring.describe(), mean_answer_nll=nll,
                                        timings=timings))


def _board(cfg: DemoConfig, out: Path, original: Path, original_hash: str, chat: bool, progress: bool):
    """Define the fictitious board for this original model and these scores, seed GA/NPO x
    uniform/mrd, and build it. Unlearned weights are dropped once evaluated (run records stay)."""
    from mrd_bench.leaderboard import fictitious
    from mrd_bench.leaderboard.build import build

    folder = out / "board"
    fictitious.define(folder, original=f"{cfg.model} fine-tuned on fictitious/full ({original.name})",
                      original_hash=original_hash, original_how="mrd-bench demo", scores=out / "scores.jsonl",
                      chat_template=chat, forget=cfg.forget_split, seed=cfg.seed,
                      notes=(f"Entries: {cfg.board_steps} updates of 4 samples at lr {cfg.board_lr:g}, seed 0, "
                             "made by `mrd-bench demo`.",))
    times = fictitious.seed(folder, str(original), out / "scores.jsonl", out / "work", cfg.runs(),
                            steps=cfg.board_steps, batch_size=4, lr=cfg.board_lr, progress=progress,
                            keep_models=False)
    build(folder, overwrite=True, progress=progress, page_line=False)  # named once moved in (cli._demo)
    return json.loads((folder / "scores.json").read_text()), times


def _cache_key(base_hash: str, train_hash: str, ft: FinetuneConfig) -> str:
    blob = json.dumps({"base": base_hash, "data": train_hash, "finetune": ft.to_dict()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _original_model(model, tokenizer, train, ft: FinetuneConfig, key: str, progress: bool):
    """Load the cached fine-tuned model, or fine-tune and cache it (written atomically)."""
    folder = cache_dir() / "original" / key
    if (folder / "config.json").is_file():
        print(f"Using the cached original model {folder}")
        model, tokenizer = load_model(str(folder))
        return model, tokenizer, True
    finetune(model, encode_split(tokenizer, train), ft, progress=progress)
    save_checkpoint(model, tokenizer, folder)
    return model, tokenizer, False


def _markdown(cfg: DemoConfig, rows, edges, nll, timings, cached: bool, board=None) -> str:
    from scipy.stats import spearmanr

    scores = [r["score"] for r in rows]
    rho = {name: spearmanr(scores, [r[name] for r in rows])[0] for name in ("nll", "grad_norm", "n_tokens")}
    lines = [
        "# mrd_bench demo: MRD of the embedded model on fictitious authors", "",
        f"- model: `{cfg.model}`, fine-tuned on fictitious/full for {cfg.epochs} epochs "
        f"(lr {cfg.lr:g}, seed {cfg.seed}){' — loaded from cache' if cached else ''}",
        f"- scored: fictitious/{cfg.forget_split}, {len(rows)} samples; estimator `definition` "
        f"(antithetic, Definition 3.1), σ = {cfg.sigma:g}, K = {cfg.draws} pairs",
        f"- mean answer NLL per token after fine-tuning: forget {nll['forget']:.3f}, "
        f"never-trained holdout {nll['holdout']:.3f}",
        f"- bin edges (MRD): {', '.join(f'{e:.3g}' for e in edges)}; easy = highest MRD",
        "- Spearman ρ of MRD with the baselines: " + ", ".join(f"{k} {v:+.2f}" for k, v in rho.items()), "",
        "![per-sample MRD](mrd.png)", "",
        "| sample | bin | MRD | se | tokens | clamped | NLL | grad norm | rare words |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: -r["score"]):
        se = f"{r['se']:.2e}" if r["se"] is not None else "–"
        lines.append(f"| `{r['sample_id']}` | {r['bin']} | {r['score']:.3e} | {se} | {r['n_tokens']} | "
                     f"{r['n_clamped']} | {r['nll']:.3f} | {r['grad_norm']:.2f} | {r['rare_words']} |")
    if board:
        from mrd_bench.leaderboard.page import md_escape, rank_text, rule_line

        primary = board["primary_metric"]
        lines += ["", "## Leaderboard ([board/index.html](board/index.html))", "",
                  f"Ranked by {primary} reweighted to the annotation's mix (paired bootstrap, 95% CIs).", "",
                  rule_line(board), "",
                  "| rank | method | reweighted | overall |", "|---:|---|---|---|"]
        for e in board["entries"]:
            s = e["scores"][primary]
            lines.append(f"| {rank_text(e['rank'].get('reweighted'))} | {md_escape(e['method']['name'])} | "
                         f"{s['reweighted']['value']:.4g} "
                         f"[{s['reweighted']['ci'][0]:.4g}, {s['reweighted']['ci'][1]:.4g}] | {s['overall']['value']:.4g} |")
    lines += ["", "Timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()), ""]
    return "\n".join(lines)
