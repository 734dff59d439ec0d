"""Claim 5's second pass: is MRD's ranking stable in σ and K at the paper's settings?

On `stability_samples` forget samples (the sensitivity stage's seeded pick):
- `alg1` (the paper's Algorithm 1) at its σ with K = `stability_draws` draws, twice with
  independent seeds (the same-σ control: how far two runs at one σ agree by chance), and once
  at `stability_sigma`; every draw's values are kept, so any K's ranking can be read back;
- `definition` at alg1's σ (1e-5) and at the study's σ, in float32 and in float64, with the share
  of token terms d_kt that are exactly 0: at σ = 1e-5 a float32 log-prob moves by less than its
  rounding step, so the curvature term is lost to rounding, which float64 keeps.
"""
from __future__ import annotations

import copy
import random
from pathlib import Path

from mrd_bench.io import read_json, write_json
from mrd_bench.reproduce import common
from mrd_bench.reproduce.study import Context

ALG1_SEEDS = (11, 12, 13)  # run A and the control B at alg1's σ; C at the other σ


def stability_key(c: Context) -> dict:
    return {**common.setting(c), **{k: getattr(c.study, k) for k in ("stability_samples", "stability_draws",
                                                               "stability_sigma", "alg1_sigma", "sigma", "pairs",
                                                               "eps", "batch_size")}, "seeds": list(ALG1_SEEDS)}


def pick(n: int, k: int) -> list[int]:
    return sorted(random.Random(0).sample(range(n), min(k, n)))


def run_stability(ctx: Context, folder: Path) -> dict:
    from mrd_bench.reproduce.token_mrd import token_draws
    from mrd_bench.scorers.runner import ScoreConfig, score_items

    s = ctx.study
    model, tok = ctx.load_original()
    forget = ctx.splits["forget"]
    index = pick(len(forget), s.stability_samples)
    encoded = ctx.encode(tok, forget)
    items, ids = [encoded[i] for i in index], [forget["sample_id"][i] for i in index]
    out_path = folder / "stability.json"
    key = stability_key(ctx)
    result = read_json(out_path) if out_path.is_file() else {}
    if result.get("key") != key or result.get("sample_id") != ids:
        result = {"key": key, "sample_id": ids, "alg1": {}, "definition": {}}

    def keep(part: str, name: str, make) -> None:
        if name not in result[part]:
            result[part][name] = make()
            write_json(out_path, result)

    runs = (("A", s.alg1_sigma, ALG1_SEEDS[0]), ("B", s.alg1_sigma, ALG1_SEEDS[1]),
            ("C", s.stability_sigma, ALG1_SEEDS[2]))
    for label, sigma, seed in runs:
        cfg = ScoreConfig(estimator="alg1", sigma=sigma, draws=s.stability_draws, seed=seed, eps=s.eps,
                          batch_size=s.batch_size, baselines=False)

        def alg1():
            rows, values = score_items(model, items, ids, [""] * len(items), cfg, progress=ctx.progress)
            return {"sigma": sigma, "seed": seed, "draws": s.stability_draws, "scores": [r["score"] for r in rows],
                    "values": values.tolist()}

        keep("alg1", label, alg1)
    wide = copy.deepcopy(model).double()
    for dtype, m in (("float32", model), ("float64", wide)):
        for sigma in (s.alg1_sigma, s.sigma):
            def definition():
                draws = token_draws(m, items, sigma=sigma, seed=0, pairs=s.pairs, batch_size=s.batch_size,
                                    progress=ctx.progress, desc=f"definition, {dtype}, σ = {sigma:g}")
                terms = [v for d in draws for row in d.d for v in row]
                return {"sigma": sigma, "dtype": dtype, "mrd": [d.mrd(s.eps) for d in draws],
                        "zero_share": sum(v == 0 for v in terms) / max(1, len(terms))}

            keep("definition", f"{dtype}/sigma={sigma:g}", definition)
    del wide
    return {"samples": len(ids), "alg1_runs": sorted(result["alg1"]), "definition_runs": sorted(result["definition"])}
