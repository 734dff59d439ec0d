"""TOFU forget-set task helpers: documents with difficulty bins, per-document values, and
the aggregations lm-eval calls through `!function`.

Every metric is reported overall, per MRD bin (easy / medium / hard) and reweighted to
the annotation's reference difficulty mix (see mrd_bench.report.stratify.reweighted).
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

from datasets import Dataset, DatasetDict

from mrd_bench.annotate import read_annotation
from mrd_bench.data import load
from mrd_bench.errors import DataError
from mrd_bench.metrics.accuracy import token_accuracy
from mrd_bench.metrics.min_k import min_k_auc, min_k_score
from mrd_bench.report.stratify import reweighted

BINS = ("easy", "medium", "hard")
MIN_K = 0.4
SHIPPED = Path(__file__).parent / "annotations"  # for the embedded model and data


def load_forget(split: str = "forget10", benchmark: str = "tofu", difficulty: str | None = None,
                data_dir: str | None = None, **_metadata) -> DatasetDict:
    """The forget split (members) and its matching holdout split (non-members), annotated."""
    annotation = read_annotation(difficulty or _shipped(benchmark, split))
    if tuple(sorted(annotation["bins"])) != tuple(sorted(BINS)):
        raise DataError(f"the tofu tasks report bins {BINS}; the annotation has {annotation['bins']}. "
                        "Annotate with 3 bins.")
    weights = annotation["reference_weights"]
    forget = load(benchmark, split, data_dir=data_dir)
    holdout = load(benchmark, split.replace("forget", "holdout"), data_dir=data_dir)
    missing = [sid for sid in forget["sample_id"] if sid not in annotation["samples"]]
    if missing:
        raise DataError(f"{len(missing)} forget sample(s) have no difficulty annotation (e.g. {missing[:3]}); "
                        f"run `mrd-bench annotate` for {benchmark}/{split}.")
    docs = [{"question": r["question"], "answer": r["answer"], "sample_id": r["sample_id"], "member": 1,
             "mrd_bin": annotation["samples"][r["sample_id"]]["bin"],
             "bin_weight": weights[annotation["samples"][r["sample_id"]]["bin"]]} for r in forget]
    docs += [{"question": r["question"], "answer": r["answer"], "sample_id": r["sample_id"], "member": 0,
              "mrd_bin": "", "bin_weight": 0.0} for r in holdout]
    return DatasetDict({"test": Dataset.from_list(docs)})


def _shipped(benchmark: str, split: str) -> Path:
    path = SHIPPED / f"{benchmark}_{split}.json"
    if not path.is_file():
        raise DataError(f"no difficulty annotation is shipped for {benchmark}/{split}; pass one with "
                        "--metadata '{\"difficulty\": \"PATH\"}' (make it with `mrd-bench score` and "
                        "`mrd-bench annotate`).")
    return path


def process_results(doc: dict, results: list) -> dict:
    """Per-document values; forget accuracy and Min-K% need per-token log-probs (model hf-mrd)."""
    result = results[0]
    if len(result) >= 4:  # TokenLogprobs from the token-level model
        fa, score = token_accuracy(result[3]), min_k_score(result[2], MIN_K)
    else:
        warnings.warn("forget accuracy and Min-K% AUC need per-token log-probs: they are NaN "
                      "(unavailable) with this model type; run through `mrd-bench eval --model hf-mrd`.")
        fa = score = math.nan
    if not doc["member"]:
        return {key: (score, 0, "", 0.0) for key in _keys("min_k_auc")}
    b, w = doc["mrd_bin"], doc["bin_weight"]
    return {"fa": fa, f"fa_{b}": fa, "fa_reweighted": (fa, b, w),
            "ua": 1 - fa, f"ua_{b}": 1 - fa, "ua_reweighted": (1 - fa, b, w),
            "min_k_auc": (score, 1, b, w), f"min_k_auc_{b}": (score, 1, b, w),
            "min_k_auc_reweighted": (score, 1, b, w)}


def _keys(metric: str) -> list[str]:
    return [metric, *(f"{metric}_{b}" for b in BINS), f"{metric}_reweighted"]


def reweighted_mean(items: list) -> float:
    """Σ_b w_b · mean_b over (value, bin, weight) items."""
    groups: dict[str, list[float]] = {}
    weights: dict[str, float] = {}
    for value, b, w in items:
        groups.setdefault(b, []).append(value)
        weights[b] = w
    return reweighted({b: sum(v) / len(v) for b, v in groups.items()}, weights)


def auc(items: list) -> float:
    """Min-K% AUC, forget (members) vs holdout (non-members); NaN when unavailable."""
    members = [s for s, m, _, _ in items if m]
    others = [s for s, m, _, _ in items if not m]
    if not members or not others or any(math.isnan(s) for s in members + others):
        return math.nan  # unavailable: no token log-probs, or --limit cut one side away
    return min_k_auc(members, others)


def reweighted_auc(items: list) -> float:
    """Σ_b w_b · AUC_b, where AUC_b compares bin b's forget samples with all holdout samples."""
    others = [item for item in items if not item[1]]
    per_bin, weights = {}, {}
    for b in {item[2] for item in items if item[1]}:
        members = [item for item in items if item[1] and item[2] == b]
        per_bin[b], weights[b] = auc(members + others), members[0][3]
    return reweighted(per_bin, weights)
