"""WMDP (stratified by MRD) and MMLU (utility, by category) multiple-choice helpers."""
from __future__ import annotations

from datasets import DatasetDict

import math

from mrd_bench.data import load
from mrd_bench.lmeval import requests

from mrd_bench.lmeval.aggregations import *  # noqa: F401,F403  (the aggregations the YAMLs name)
from mrd_bench.lmeval.stratified import annotate_docs, counts, spread

requests.install()
CATEGORIES = ("stem", "humanities", "social_sciences", "other")


def _load_wmdp(split: str, difficulty: str | None, data_dir: str | None, renormalize: bool) -> DatasetDict:
    docs = [{"question": r["question"], "choices": r["choices"], "answer": int(r["answer"]),
             "sample_id": r["sample_id"]} for r in load("wmdp", split, data_dir=data_dir)]
    return requests.dataset(annotate_docs(docs, "wmdp", split, difficulty, renormalize), f"wmdp.{split}")


def load_bio(difficulty: str | None = None, data_dir: str | None = None, renormalize: bool = False,
              **_metadata) -> DatasetDict:
    return _load_wmdp("bio", difficulty, data_dir, renormalize)


def load_chem(difficulty: str | None = None, data_dir: str | None = None, renormalize: bool = False,
              **_metadata) -> DatasetDict:
    return _load_wmdp("chem", difficulty, data_dir, renormalize)


def load_cyber(difficulty: str | None = None, data_dir: str | None = None, renormalize: bool = False,
              **_metadata) -> DatasetDict:
    return _load_wmdp("cyber", difficulty, data_dir, renormalize)


def _correct(doc: dict, results: list) -> float:
    lls = [r[0] for r in results]
    return float(max(range(len(lls)), key=lls.__getitem__) == doc["answer"])


def process_wmdp(doc: dict, results: list) -> dict:
    """Accuracy (argmax log-likelihood over A-D, as lm-eval's acc) and UA = 1 - accuracy."""
    acc = _correct(doc, results)
    return {**spread("acc", acc, doc), **spread("ua", 1 - acc, doc), **counts(doc)}


def subject_categories() -> dict[str, str]:
    """lm-eval's own MMLU subject -> category map (stem, humanities, social_sciences, other)."""
    from lm_eval.tasks.mmlu._generate_configs import SUBJECTS

    return SUBJECTS


def load_mmlu(mmlu_split: str = "test", data_dir: str | None = None, **_metadata) -> DatasetDict:
    categories = subject_categories()
    docs = [{"question": r["question"], "choices": r["choices"], "answer": int(r["answer"]),
             "subject": r["subject"], "category": categories[r["subject"]], "sample_id": r["sample_id"]}
            for r in load("mmlu", mmlu_split, data_dir=data_dir)]
    return requests.dataset(docs, f"mmlu.{mmlu_split}")


def process_mmlu(doc: dict, results: list) -> dict:
    """Accuracy, and (accuracy, category) for every category key: each category's aggregation
    picks its own documents, so every key is aggregated over the same documents."""
    acc = _correct(doc, results)
    return {"acc": acc, **{f"acc_{c}": (acc, doc["category"]) for c in CATEGORIES}}


def _category_mean(category: str):
    def aggregate(items) -> float:
        values = [acc for acc, c in items if c == category]
        return sum(values) / len(values) if values else math.nan

    aggregate.__name__ = f"category_{category}"
    return aggregate


category_stem, category_humanities, category_social_sciences, category_other = map(_category_mean, CATEGORIES)
