"""The audit's verdict rule on three subsets of the shipped TOFU forget10 annotation (400
samples, MRD): the easiest third, a random third (seed 0) and the pool less its hardest sample,
each under the old rule (one-sided permutation p < 0.05 alone) and the new one (p < 0.05 and a
shift of the mean ease percentile of at least audit.MIN_SHIFT), with the effect sizes.

    python benchmarks/audit_rule.py [--out benchmarks/results/audit_rule.json]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mrd_bench.audit import ALPHA, MIN_SHIFT, audit, effect_text  # noqa: E402
from mrd_bench.lmeval.stratified import shipped_dir  # noqa: E402
from mrd_bench.provenance import record  # noqa: E402


def old_rule(perm: dict) -> str:
    return "easy" if perm["p_easier"] < ALPHA else "hard" if perm["p_harder"] < ALPHA else "typical"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "audit_rule.json"))
    args = parser.parse_args()
    samples = json.loads((shipped_dir() / "tofu_forget10.json").read_text())["samples"]
    by_mrd = sorted(samples, key=lambda s: samples[s]["score"])  # hardest first (MRD: higher = easier)
    subsets = {"easiest third": by_mrd[-(len(by_mrd) // 3):],
               "random third": random.Random(0).sample(sorted(samples), len(samples) // 3),
               "pool less its hardest sample": by_mrd[1:]}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, ids in subsets.items():
            folder = Path(tmp) / name.replace(" ", "_")
            folder.mkdir()
            claim = {"schema_version": 1, "title": name, "benchmark": "tofu", "forget": {"sample_ids": ids},
                     "difficulty": {"shipped": "tofu_forget10"},
                     "reported": {"method": "M", "metric": "prob", "value": 0.1, "direction": "lower"}}
            (folder / "claim.json").write_text(json.dumps(claim))
            audit(folder / "claim.json", folder / "out", permutations=10000, bootstrap=2000, seed=0)
            d = json.loads((folder / "out" / "audit.json").read_text())["difficulty"]
            rows[name] = {"n": len(ids), "old_rule": old_rule(d["permutation"]), "new_rule": d["verdict"],
                          "p_easier": d["permutation"]["p_easier"], "p_harder": d["permutation"]["p_harder"],
                          "share_below": d["permutation"]["share_below"], **d["effect"]}
    result = {"pool": "shipped tofu_forget10 annotation (MRD)", "n_pool": len(samples), "alpha": ALPHA,
              "min_shift": MIN_SHIFT, "subsets": rows, "provenance": record()}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for name, r in rows.items():
        print(f"{name:<30} n={r['n']:<4} old: {r['old_rule']:<8} new: {r['new_rule']:<8} "
              f"p(easier) {r['p_easier']:.4g}  {effect_text(r)}")


if __name__ == "__main__":
    main()
