"""How the MRD signal depends on σ on the embedded model: the measurement behind the default σ.

For each σ, score a fictitious forget split with K antithetic pairs and report the median
score and the median se/score. The curvature term grows as σ²; where se/score is near 1,
float32 noise dominates and the ranking is noise.

    python benchmarks/sigma_signal.py [--model M] [--split forget10] [--draws 4]
Writes benchmarks/results/sigma_signal.json and prints a table.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from mrd_bench.data import load
from mrd_bench.io import write_json
from mrd_bench.models import EMBEDDED, load_model, weights_hash
from mrd_bench.pipeline import encode_split, targets
from mrd_bench.provenance import data_hash, record
from mrd_bench.scorers.runner import ScoreConfig, score_items

SIGMAS = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=EMBEDDED)
    parser.add_argument("--split", default="forget10")
    parser.add_argument("--draws", type=int, default=4)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "sigma_signal.json"))
    args = parser.parse_args()
    model, tokenizer = load_model(args.model)
    dataset = load("fictitious", args.split)
    items = encode_split(tokenizer, dataset)
    rows = []
    for sigma in SIGMAS:
        start = time.perf_counter()
        cfg = ScoreConfig(estimator="definition", sigma=sigma, draws=args.draws, baselines=False)
        scores, _ = score_items(model, items, dataset["sample_id"], targets(dataset), cfg, progress=False)
        rows.append({"sigma": sigma, "median_score": statistics.median(s["score"] for s in scores),
                     "median_se_over_score": statistics.median(s["se"] / s["score"] for s in scores),
                     "seconds": time.perf_counter() - start})
        print(f"σ={sigma:.0e}  median MRD {rows[-1]['median_score']:.3e}  "
              f"median se/MRD {rows[-1]['median_se_over_score']:.2f}")
    write_json(args.out, record(model=args.model, model_hash=weights_hash(model), split=args.split,
                                data_hash=data_hash(dataset), draws=args.draws, rows=rows))


if __name__ == "__main__":
    main()
