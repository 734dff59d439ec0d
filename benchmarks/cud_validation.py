"""CUD's validation figures, taken from the reproduction study's claim 6 (not a timed test).

    MRD_BENCH_DATA_DIR=../shared/data mrd-bench reproduce --stages labels,cud   # or the whole study
    python benchmarks/cud_validation.py [--results reports/reproduction/results.json]

The setting is the study's: the embedded model fine-tuned on TOFU's last 20 authors, the forget
set their last 10 (n = 200). Writes benchmarks/results/cud_validation.json: the AUC of CUD separating
held-out easy from hard samples (Hanley-McNeil CI), Spearman of CUD with MRD, the labels' agreement
across the labelling runs (Fleiss' kappa with a bootstrap CI), and the depth statistics' easy-vs-hard
tests (Cliff's delta, Mann-Whitney p, Holm), with the study's run record.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from mrd_bench.io import write_json

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default=str(ROOT / "reports" / "reproduction" / "results.json"))
    args = parser.parse_args()
    results = json.loads(Path(args.results).read_text())
    claim = results["claims"]["cud"]
    if claim["verdict"] == "pending":
        raise SystemExit(f"claim 6 is pending in {args.results}: run the study's stages {claim['needs']} first")
    record = json.loads(Path(args.results).with_name("run_record.json").read_text())
    m = claim["measured"]
    out = ROOT / "benchmarks" / "results" / "cud_validation.json"
    write_json(out, {"source": str(Path(args.results).resolve().relative_to(ROOT)), "verdict": claim["verdict"],
                     "primary": claim["primary"], "secondary": claim["secondary"], "finding": claim["finding"],
                     "auc_hard_vs_easy": m["auc"], "spearman_cud_mrd": m.get("mrd"),
                     "fleiss_kappa": m["fleiss_kappa"], "depth": m["depth"],
                     "n": m["n"], "n_labelled": m["n_labelled"], "n_for_decisive_auc": m["n_for_decisive_auc"],
                     "study": {k: v for k, v in results["study"].items() if k.startswith(("cud", "model", "authors",
                                                                                           "forget"))},
                     "stages": {k: record["stages"][k] for k in ("labels", "cud") if k in record["stages"]},
                     "versions": record["versions"], "hardware": record["hardware"]})
    print(f"{claim['finding']}\nWrote {out}")


if __name__ == "__main__":
    main()
