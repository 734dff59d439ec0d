"""Two example claims for `mrd-bench audit`, made from measurements, and their audits.

The embedded model's forget answer probability on TOFU forget10 (lm-eval, `tofu_forget_mrd_mia`
with the shipped annotation, --log_samples) is "reported" on two subsets of 133 samples:
- `easy_third.json`: the easiest third by MRD (the shipped annotation of the embedded model);
- `random_third.json`: a random third (seed 0);
- `easy_skewed.json`: a third drawn with weights rising with MRD (p ∝ percentile², seed 0), so
  easy samples dominate but every bin is present and the metric can be reweighted.
Each claim's reported value is the measured mean on its subset; the easy claims compare
themselves with the random one. All are the same model, so any ranking between them is the
subset's doing.

    MRD_BENCH_DATA_DIR=../shared/data python leaderboards/audits/make_examples.py [--work WORK]
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent / "tofu_forget10"
SAMPLES = "samples_tofu_forget_mrd_mia.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default="runs/audit_examples", help="lm-eval output folder (not committed)")
    args = parser.parse_args()
    from mrd_bench.lmeval.stratified import shipped_dir
    from mrd_bench.models import EMBEDDED, embedded_checkpoint, load_model

    HERE.mkdir(parents=True, exist_ok=True)
    times = json.loads((HERE / "times.json").read_text()) if (HERE / "times.json").is_file() else {}
    if not (HERE / SAMPLES).is_file():
        start = time.perf_counter()
        load_model(EMBEDDED)  # exports the embedded GGUF once, as a checkpoint lm-eval reads
        work = Path(args.work)
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "mrd_bench.cli", "eval", "--model", "hf-mrd", "--model_args",
                        f"pretrained={embedded_checkpoint()},dtype=float32", "--tasks", "tofu_forget_mrd_mia",
                        "--metadata", json.dumps({"split": "forget10"}), "--apply_chat_template",
                        "--output_path", str(work), "--log_samples"], check=True)
        # lm-eval's samples file, each line cut to what the claims read (doc, target and the prob
        # metric); the full file, with every metric and the per-token log-probs, is 20x larger
        rows = [json.loads(line) for line in next(work.rglob("samples_tofu_forget_mrd_mia_*.jsonl")).read_text().splitlines()]
        (HERE / SAMPLES).write_text("".join(json.dumps({k: v for k, v in r.items() if k in (
            "doc_id", "doc", "target", "prob")}) + "\n" for r in rows))
        times["eval_s"] = round(time.perf_counter() - start, 1)
    rows = [json.loads(line, parse_constant=float) for line in (HERE / SAMPLES).read_text().splitlines()]
    prob = {r["doc"]["sample_id"]: r["prob"]["value"] for r in rows if r["doc"]["member"]}
    annotation = json.loads((shipped_dir() / "tofu_forget10.json").read_text())["samples"]
    ids = sorted(annotation, key=lambda s: -annotation[s]["score"])
    third = len(ids) // 3
    rng = np.random.default_rng(0)
    weights = np.array([(len(ids) - i) / len(ids) for i in range(len(ids))]) ** 2  # ids run easiest first
    skewed = [ids[i] for i in rng.choice(len(ids), size=third, replace=False, p=weights / weights.sum())]
    subsets = {"easy_third": ids[:third], "random_third": random.Random(0).sample(ids, third), "easy_skewed": skewed}
    labels = {"easy_third": "the easiest third by MRD", "random_third": "a random third (seed 0)",
              "easy_skewed": "an easy-skewed third (p ∝ MRD percentile², seed 0)"}
    for name, chosen in subsets.items():
        claim = {"schema_version": 1, "title": f"Embedded model on {labels[name]} of TOFU forget10",
                 "source": "leaderboards/audits/make_examples.py (an example, measured)",
                 "benchmark": "tofu", "forget": {"sample_ids": chosen}, "difficulty": {"shipped": "tofu_forget10"},
                 "reported": {"method": f"SmolLM2-135M on {labels[name]}", "metric": "prob",
                              "label": "forget answer probability",
                              "value": sum(prob[s] for s in chosen) / len(chosen), "direction": "lower"},
                 "samples": SAMPLES}
        if name != "random_third":
            claim["compare"] = "random_third.json"
        (HERE / f"{name}.json").write_text(json.dumps(claim, indent=1) + "\n")
    for name in ("random_third", "easy_third", "easy_skewed"):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mrd_bench.cli", "audit", str(HERE / f"{name}.json"), "--overwrite"],
                       check=True)
        times[f"audit_{name}_s"] = round(time.perf_counter() - start, 1)
    (HERE / "times.json").write_text(json.dumps(times, indent=2) + "\n")


if __name__ == "__main__":
    main()
