"""The embedded fictitious-author QA set, written for this project in TOFU's format.

12 invented authors x 10 QA pairs ship inside the package, so the main job runs with no
data directory and no network. Authors 0-9 are the training set (`full`); as in TOFU,
`forgetXX` is the tail of `full` (XX percent of it) and `retainXX` its head. Authors 10
and 11 are never trained on: `holdout10`/`holdout20` are the non-members matching
`forget10`/`forget20`. Every row carries `paraphrased_answer` and five `perturbed_answer`s.
"""
from __future__ import annotations

from pathlib import Path

from datasets import Dataset

from mrd_bench.data.source import BENCHMARKS, Benchmark, parse_jsonl

FILE = "fictitious_authors.jsonl"
SPLITS = ("full", "forget10", "forget20", "retain90", "retain80", "holdout10", "holdout20")
TRAIN_AUTHORS = 10


def _authors(split: str) -> range:
    if split == "full":
        return range(TRAIN_AUTHORS)
    kind, percent = split.rstrip("0123456789"), int(split[-2:])
    n = TRAIN_AUTHORS * percent // 100
    return {"forget": range(TRAIN_AUTHORS - n, TRAIN_AUTHORS), "retain": range(n),
            "holdout": range(TRAIN_AUTHORS, TRAIN_AUTHORS + n)}[kind]


def read_local(folder: Path, split: str) -> Dataset:
    keep = set(_authors(split))
    return Dataset.from_list([r for r in parse_jsonl(folder / FILE) if r["author_index"] in keep])


BENCHMARKS.register("fictitious")(Benchmark(
    name="fictitious", splits=SPLITS, id_fields=("question", "answer"), subdir="",
    read_local=read_local, embedded=True))
