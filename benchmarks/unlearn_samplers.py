"""Does MRD-weighted sampling help GA and NPO? uniform vs mrd sampler, over seeds.

On an original model (e.g. the embedded model fine-tuned on a TOFU author subset with
`mrd-bench finetune`), each (method, sampler, seed) run trains for a fixed budget of
steps while the early-stopping rule is checked (not applied) every `--check-every`
steps. Recorded per run:
- updates to reach the threshold: the first check at which the forget set's MA and
  EL_n are both below their means on the threshold split (None = not within the budget);
- at the budget: forget MA and mean answer probability, and the same on the retain
  split (utility).
Runs are appended to `<out>.runs.jsonl` as they finish (a re-run skips them); the
summary (mean and 95% t-interval over seeds) goes to `<out>.json`, `<out>.md` and
`<out>.png`.

    python benchmarks/unlearn_samplers.py --model ORIGINAL --scores forget01_scores.jsonl \
        --subset-authors 5 --out benchmarks/results/unlearn_samplers
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict
from pathlib import Path
from statistics import mean, stdev

import torch

from mrd_bench.io import write_json, write_text
from mrd_bench.methods import METHODS
from mrd_bench.methods.loop import LoopConfig, Stopper, train
from mrd_bench.methods.stopping import Threshold
from mrd_bench.models import load_model, weights_hash
from mrd_bench.provenance import data_hash, record
from mrd_bench.train import answer_nll
from mrd_bench.unlearn import Inputs, Settings, encode, read_scores

METRICS = ("forget_ma", "forget_prob", "retain_ma", "retain_prob")


def measure(model, memo, forget, retain) -> dict:
    return {"forget_ma": mean(memo.ma(model, forget)),
            "forget_prob": mean(math.exp(-x) for x in answer_nll(model, forget)),
            "retain_ma": mean(memo.ma(model, retain)),
            "retain_prob": mean(math.exp(-x) for x in answer_nll(model, retain))}


def ci95(values: list[float]) -> tuple[float, float]:
    from scipy.stats import t

    if len(values) < 2:
        return mean(values), float("nan")
    return mean(values), t.ppf(0.975, len(values) - 1) * stdev(values) / math.sqrt(len(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--scores", required=True, help="MRD scores of the forget split on --model")
    parser.add_argument("--benchmark", default="tofu")
    parser.add_argument("--forget", default="forget01")
    parser.add_argument("--retain", default="retain99")
    parser.add_argument("--threshold-split", default="holdout01")
    parser.add_argument("--subset-authors", type=int)
    parser.add_argument("--methods", default="ga,npo")
    parser.add_argument("--samplers", default="uniform,mrd")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="the fixed budget")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--check-every", type=int, default=1)
    parser.add_argument("--el-stride", type=int, default=8)
    parser.add_argument("--el-horizon", type=int, default=16)
    parser.add_argument("--out", default="benchmarks/results/unlearn_samplers")
    args = parser.parse_args()

    inputs = Inputs(model=args.model, benchmark=args.benchmark, forget=args.forget, retain=args.retain,
                    subset_authors=args.subset_authors, threshold_split=args.threshold_split)
    base = Settings(el_stride=args.el_stride, el_horizon=args.el_horizon)
    memo = base.memorization()
    forget_data, retain_data = inputs.load(args.forget), inputs.load(args.retain)
    model, tokenizer = load_model(args.model)
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    eos = tokenizer.eos_token_id
    forget, retain = encode(tokenizer, forget_data, base), encode(tokenizer, retain_data, base)
    scores = read_scores(args.scores, forget_data["sample_id"])
    out = Path(args.out)
    context_file = out.with_name(out.name + ".context.json")  # the threshold and the initial metrics
    key = {"model_hash": weights_hash(model), "settings": {k: v for k, v in vars(args).items()
                                                           if k not in ("methods", "samplers", "seeds", "out")}}
    context = json.loads(context_file.read_text()) if context_file.is_file() else {}
    if context.get("key") != key:
        threshold = memo.threshold(model, encode(tokenizer, inputs.load(args.threshold_split), base), eos)
        context = {"key": key, "threshold": asdict(threshold), "initial": measure(model, memo, forget, retain),
                   "initial_forget_el": mean(memo.el(model, forget, eos))}
        write_json(context_file, context)
    threshold, initial = Threshold(**context["threshold"]), context["initial"]
    print(f"threshold MA {threshold.ma:.3f} EL {threshold.el:.3f}; initial {initial}")

    runs_file = out.with_name(out.name + ".runs.jsonl")
    runs = [json.loads(line) for line in runs_file.read_text().splitlines()] if runs_file.is_file() else []
    done = {(r["method"], r["sampler"], r["seed"]) for r in runs}
    methods = args.methods.split(",")
    loop_base = dict(lr=args.lr, max_steps=args.steps, batch_size=args.batch_size, check_every=args.check_every)
    for method_name in methods:
        for sampler_name in args.samplers.split(","):
            for seed in range(args.seeds):
                if (method_name, sampler_name, seed) in done:
                    continue
                model.load_state_dict(original)
                settings = Settings(method=method_name, sampler=sampler_name, el_stride=args.el_stride,
                                    el_horizon=args.el_horizon)
                method = METHODS.get(method_name)()
                model, result = train(model, forget, method, settings.build_sampler(len(forget), scores),
                                      LoopConfig(seed=seed, **loop_base), stopper=Stopper(memo, threshold, eos),
                                      desc=f"{method_name}/{sampler_name}/seed {seed}")
                run = {"method": method_name, "sampler": sampler_name, "seed": seed,
                       "updates_to_threshold": result.updates_to_threshold, "steps": result.steps,
                       "wall_time_s": result.wall_time_s, "checks": result.checks,
                       **measure(model, memo, forget, retain)}
                runs.append(run)
                with open(runs_file, "a") as sink:
                    sink.write(json.dumps(run) + "\n")
                print({k: run[k] for k in ("method", "sampler", "seed", "updates_to_threshold", *METRICS)})
    summarize(runs, initial, threshold, args, out, key["model_hash"], data_hash(forget_data))


def summarize(runs, initial, threshold, args, out: Path, model_hash: str, forget_hash: str) -> None:
    groups: dict[tuple, list] = {}
    for r in runs:
        groups.setdefault((r["method"], r["sampler"]), []).append(r)
    table = []
    for (method, sampler), rs in sorted(groups.items()):
        reached = [r["updates_to_threshold"] for r in rs if r["updates_to_threshold"] is not None]
        # not reached within the budget counts as the budget (censored) in the mean
        counts = [r["updates_to_threshold"] if r["updates_to_threshold"] is not None else args.steps for r in rs]
        row = {"method": method, "sampler": sampler, "seeds": len(rs), "reached": len(reached),
               "updates_to_threshold": ci95(counts)}
        for m in METRICS:
            row[m] = ci95([r[m] for r in rs])
        table.append(row)
    write_json(out.with_suffix(".json"), record(
        benchmark="unlearn_samplers", settings=vars(args), threshold={"ma": threshold.ma, "el": threshold.el},
        initial=initial, summary=table, runs=runs, model_hash=model_hash, forget_data_hash=forget_hash))
    lines = [f"# Uniform vs MRD sampling: {args.benchmark}/{args.forget}, {args.seeds} seeds", "",
             f"Original: `{args.model}`; budget {args.steps} steps of {args.batch_size}, lr {args.lr:g}; "
             f"threshold (mean on {args.threshold_split}): MA {threshold.ma:.3f}, EL {threshold.el:.3f}. "
             f"Before unlearning: forget MA {initial['forget_ma']:.3f}, "
             f"prob {initial['forget_prob']:.3f}; retain MA {initial['retain_ma']:.3f}, "
             f"prob {initial['retain_prob']:.3f}.", "",
             "Mean ± 95% t-interval over seeds. Updates to threshold: runs that did not reach it within the "
             "budget count as the budget (`reached` says how many did).", "",
             "| method | sampler | reached | updates to threshold | " + " | ".join(METRICS) + " |",
             "|---|---|---|---|" + "---|" * len(METRICS)]
    for row in table:
        cells = [f"{row[m][0]:.3f} ± {row[m][1]:.3f}" for m in METRICS]
        u = row["updates_to_threshold"]
        lines.append(f"| {row['method']} | {row['sampler']} | {row['reached']}/{row['seeds']} | "
                     f"{u[0]:.1f} ± {u[1]:.1f} | " + " | ".join(cells) + " |")
    write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    plot(table, out.with_suffix(".png"))
    print("\n".join(lines))


def plot(table, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mrd_bench.report.plots import _save

    panels = ("updates_to_threshold", "forget_ma", "forget_prob", "retain_prob")
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.2))
    labels = [f"{r['method']}\n{r['sampler']}" for r in table]
    colours = ["#1f77b4" if r["sampler"] == "uniform" else "#d62728" for r in table]
    for ax, metric in zip(axes, panels):
        means = [r[metric][0] for r in table]
        errs = [0 if math.isnan(r[metric][1]) else r[metric][1] for r in table]
        ax.bar(range(len(table)), means, yerr=errs, color=colours, capsize=3)
        ax.set_xticks(range(len(table)), labels, fontsize=7)
        ax.set_title(metric.replace("_", " "), fontsize=9)
    fig.suptitle("uniform (blue) vs mrd (red) sampler: mean ± 95% CI over seeds", fontsize=9)
    _save(fig, path)


if __name__ == "__main__":
    torch.set_grad_enabled(True)
    main()
