"""WMDP (Li et al., 2024): hazardous-knowledge multiple choice, hub id cais/wmdp (test split)."""
from __future__ import annotations

from pathlib import Path

from datasets import Dataset, load_dataset

from mrd_bench.data.source import BENCHMARKS, Benchmark, read_jsonl

HUB_ID = "cais/wmdp"
SPLITS = ("bio", "chem", "cyber")


def read_local(folder: Path, split: str) -> Dataset:
    return read_jsonl(folder / f"wmdp-{split}.jsonl")


def read_hub(split: str) -> Dataset:
    return load_dataset(HUB_ID, f"wmdp-{split}", split="test")


BENCHMARKS.register("wmdp")(Benchmark(
    name="wmdp", splits=SPLITS, id_fields=("question", "choices"), subdir="wmdp",
    read_local=read_local, hub_id=HUB_ID, read_hub=read_hub))
