"""MRD engine benchmarks on TOFU forget01 with the embedded model (not timed tests).

    python benchmarks/mrd_engine.py speed   [--k 2] [--device cpu]   # (a) and (b)
    python benchmarks/mrd_engine.py ranking [--device cuda]          # (c)

(a) the engine's alg1 against a literal Algorithm 1 (one sample, one draw at a time,
    full-vocabulary log-softmax at every position, add-then-subtract), same K: speed-up.
(b) the engine's `definition` against the bare time of the same number of batched
    forward passes (HF's full forward, and forward + head at scored positions): overhead.
(c) for each estimator, Spearman ρ of the ranking from K draws against an independent
    large-K ranking (another seed), as a function of K; the K needed for ρ ≥ 0.9.
Results go to benchmarks/results/mrd_engine_<what>_<device>.json (+ a plot for ranking).
Reads $MRD_BENCH_DATA_DIR/tofu/forget01.jsonl directly, so it runs where `datasets` is absent.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from mrd_bench.io import write_json
from mrd_bench.models import IGNORE, EMBEDDED, collate, encode_qa, load_gguf, load_model, weights_hash
from mrd_bench.provenance import record
from mrd_bench.scorers.base import scored_logprobs
from mrd_bench.scorers.runner import ScoreConfig, plan_chunks, score_items

RESULTS = Path(__file__).parent / "results"


def load_items(tokenizer, n: int):
    path = Path(os.environ.get("MRD_BENCH_DATA_DIR", "../shared/data")) / "tofu" / "forget01.jsonl"
    rows = [json.loads(line) for line in path.read_text().split("\n") if line.strip()][:n]
    return [encode_qa(tokenizer, r["question"], r["answer"]) for r in rows], [f"forget01/{i}" for i in range(len(rows))]


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def literal_alg1(model, items, k: int, sigma: float, seed: int, device) -> tuple[float, float]:
    """Seconds, and the largest weight drift that add-then-subtract leaves behind."""
    start_weights = [p.detach().clone() for p in model.parameters()]
    sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        for item in items:
            ids = torch.tensor([item.input_ids], device=device)
            labels = torch.tensor(item.labels[1:], device=device)
            scored = labels != IGNORE
            p0 = model(input_ids=ids).logits[0, :-1].log_softmax(-1)[scored].gather(-1, labels[scored][:, None])
            for draw in range(k):
                gen = torch.Generator(device=device).manual_seed(seed * 1_000_003 + draw)
                noise = [torch.randn(p.shape, generator=gen, device=device) * sigma for p in model.parameters()]
                for p, e in zip(model.parameters(), noise):
                    p.add_(e)
                p = model(input_ids=ids).logits[0, :-1].log_softmax(-1)[scored].gather(-1, labels[scored][:, None])
                float(((p0 - p) / p0).sum().abs())
                for p, e in zip(model.parameters(), noise):
                    p.sub_(e)
    sync(device)
    seconds = time.perf_counter() - start
    drift = max(float((p.detach() - w).abs().max()) for p, w in zip(model.parameters(), start_weights))
    with torch.no_grad():
        for p, w in zip(model.parameters(), start_weights):
            p.copy_(w)
    return seconds, drift


def bare_passes(model, items, cfg: ScoreConfig, passes: int, device, scored: bool) -> float:
    pad = model.config.pad_token_id or 0
    batches = [{k: v.to(device) for k, v in collate([items[i] for i in rows], pad).items()}
               for chunk in plan_chunks(items, cfg) for rows in chunk]
    sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(passes):
            for b in batches:
                if scored:
                    scored_logprobs(model, b)
                else:
                    model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits.float().log_softmax(-1)
    sync(device)
    return time.perf_counter() - start


def timed_engine(model, items, ids, cfg, device) -> float:
    sync(device)
    start = time.perf_counter()
    score_items(model, items, ids, ["" for _ in ids], cfg, progress=False, device=device)
    sync(device)
    return time.perf_counter() - start


def speed(model, items, ids, args, device) -> dict:
    n, k = len(items), args.k
    literal_s, drift = literal_alg1(model, items, k, 1e-5, 0, device)
    alg1 = ScoreConfig(estimator="alg1", draws=k, baselines=False, batch_size=args.batch_size, chunk_batches=64)
    engine_alg1_s = timed_engine(model, items, ids, alg1, device)
    definition = ScoreConfig(estimator="definition", draws=k, baselines=False, batch_size=args.batch_size,
                             chunk_batches=64)
    engine_def_s = timed_engine(model, items, ids, definition, device)
    passes = 2 * k + 1  # the unperturbed pass, then two per antithetic pair
    bare_full = bare_passes(model, items, definition, passes, device, scored=False)
    bare_scored = bare_passes(model, items, definition, passes, device, scored=True)
    return {
        "samples": n, "k": k,
        "a_literal_alg1_s": literal_s, "a_literal_s_per_sample_draw": literal_s / (n * k),
        "a_literal_add_subtract_max_weight_drift": drift,
        "a_engine_alg1_s": engine_alg1_s, "a_engine_s_per_sample_draw": engine_alg1_s / (n * k),
        "a_speedup": literal_s / engine_alg1_s,
        "b_engine_definition_s": engine_def_s, "b_forward_passes": passes,
        "b_bare_full_forward_s": bare_full, "b_bare_scored_forward_s": bare_scored,
        "b_overhead_vs_full_forward": engine_def_s / bare_full,
        "b_overhead_vs_scored_forward": engine_def_s / bare_scored,
    }


def ranking(model, items, ids, args, device) -> dict:
    from scipy.stats import spearmanr

    plan = {"definition": (args.k_max, args.k_ref), "alg1": (args.k_max, args.k_ref),
            "hutchinson": (args.hutchinson_k_max, args.hutchinson_k_ref)}
    out = {}
    for name in args.estimators:
        k_max, k_ref = plan[name]
        def cfg(seed, k, name=name):
            return ScoreConfig(estimator=name, draws=k, seed=seed, baselines=False, batch_size=args.batch_size,
                               chunk_batches=64)
        start = time.perf_counter()
        _, values = score_items(model, items, ids, [""] * len(ids), cfg(1, k_max), progress=True, device=device)
        _, ref_values = score_items(model, items, ids, [""] * len(ids), cfg(2, k_ref), progress=True, device=device)
        est = cfg(1, 1).build()
        reference = est.summarize(ref_values)[0].numpy()
        curve = {}
        k = 1
        while k <= k_max:
            rhos = [spearmanr(est.summarize(values[b * k:(b + 1) * k])[0].numpy(), reference)[0]
                    for b in range(k_max // k)]
            curve[k] = float(sum(rhos) / len(rhos))
            k *= 2
        own = {}
        if name == "alg1" and k_max >= 32:  # the public implementation's K=8 vs K=32 comparison
            own["rho_k8_vs_k32_same_run"] = float(spearmanr(est.summarize(values[:8])[0].numpy(),
                                                            est.summarize(values[:32])[0].numpy())[0])
        needed = next((k for k, rho in curve.items() if rho >= 0.9), None)
        out[name] = {"k_max": k_max, "k_reference": k_ref, "rho_by_k": curve, "k_for_rho_0.9": needed,
                     "seconds": time.perf_counter() - start, "median_score": float(np.median(reference)), **own}
        print(name, curve, "K for ρ≥0.9:", needed)
        save(args, model, "ranking", out)  # after each estimator: a killed run keeps what it measured
    return out


def save(args, model, what: str, result: dict) -> Path:
    out = Path(args.out_dir) / f"mrd_engine_{what}_{torch.device(args.device).type}.json"
    write_json(out, record(model=args.gguf or EMBEDDED, model_hash=weights_hash(model), benchmark="tofu/forget01",
                           args=vars(args), result=result))
    return out


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, r in result.items():
        ks = [int(k) for k in r["rho_by_k"]]
        ax.plot(ks, list(r["rho_by_k"].values()), marker="o", label=f"{name} (reference K={r['k_reference']})")
    ax.axhline(0.9, color="#888", linestyle="--", linewidth=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("draws K (antithetic pairs / draws / probes)")
    ax.set_ylabel("Spearman ρ vs independent large-K ranking")
    ax.set_title("MRD ranking stability, TOFU forget01, SmolLM2-135M")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["speed", "ranking"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--gguf", help="a GGUF file to load instead of the embedded model's package")
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--k", type=int, default=2, help="draws for the speed benchmark")
    parser.add_argument("--k-max", type=int, default=64, help="ranking: draws of the run under test")
    parser.add_argument("--k-ref", type=int, default=256, help="ranking: draws of the reference run")
    parser.add_argument("--hutchinson-k-max", type=int, default=16, help="ranking: probes of the run under test")
    parser.add_argument("--hutchinson-k-ref", type=int, default=64, help="ranking: probes of the reference run")
    parser.add_argument("--estimators", nargs="+", default=["definition", "alg1", "hutchinson"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out-dir", default=str(RESULTS))
    args = parser.parse_args()
    device = torch.device(args.device)
    model, tokenizer = load_gguf(path=args.gguf) if args.gguf else load_model(EMBEDDED)
    model = model.to(device).eval()
    items, ids = load_items(tokenizer, args.samples)
    result = speed(model, items, ids, args, device) if args.what == "speed" else ranking(model, items, ids, args, device)
    out = save(args, model, args.what, result)
    if args.what == "ranking":
        plot(result, out.with_suffix(".png"))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
