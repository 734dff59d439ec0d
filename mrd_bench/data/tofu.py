"""TOFU (Maini et al., 2024): 200 fictitious authors x 20 QA pairs, hub id locuslab/TOFU.

`forgetXX` is the tail of `full` and `retainXX` its head; `holdoutXX` are never-trained
authors (the non-members of a membership-inference test). The `_perturbed` splits
add `paraphrased_answer` and a list of `perturbed_answer`s for the truth ratio.
"""
from __future__ import annotations

from pathlib import Path

from datasets import Dataset, load_dataset

from mrd_bench.data.source import BENCHMARKS, Benchmark, read_jsonl

HUB_ID = "locuslab/TOFU"
SPLITS = (
    "full",
    "forget01", "forget05", "forget10",
    "retain90", "retain95", "retain99",
    "holdout01", "holdout05", "holdout10",
    "forget01_perturbed", "forget05_perturbed", "forget10_perturbed", "retain_perturbed",
    "real_authors", "real_authors_perturbed",
    "world_facts", "world_facts_perturbed",
)


def read_local(folder: Path, split: str) -> Dataset:
    return read_jsonl(folder / f"{split}.jsonl")


def read_hub(split: str) -> Dataset:
    return load_dataset(HUB_ID, split, split="train")


BENCHMARKS.register("tofu")(Benchmark(
    name="tofu", splits=SPLITS, id_fields=("question", "answer"), subdir="tofu",
    read_local=read_local, hub_id=HUB_ID, read_hub=read_hub))


AUTHOR_SIZE = 20  # QA pairs per TOFU author


def author_subset(benchmark: str, n: int, data_dir=None, duplicates: str = "error") -> list[str]:
    """The sample ids of the last `n` authors of TOFU's `full` (they hold the forget splits): the
    small setting `--subset-authors N` trains and evaluates."""
    from mrd_bench.data.source import load
    from mrd_bench.errors import ConfigError

    if benchmark != "tofu":
        raise ConfigError(f"subset_authors applies to TOFU only, not {benchmark!r}; drop it.")
    if n < 1:
        raise ConfigError(f"subset_authors must be at least 1; got {n}.")
    ids = load("tofu", "full", data_dir=data_dir, duplicates=duplicates)["sample_id"]
    authors = -(-len(ids) // AUTHOR_SIZE)
    if n > authors:
        raise ConfigError(f"--subset-authors {n} is more than TOFU's {authors} authors ({len(ids)} rows of `full`, "
                          f"{AUTHOR_SIZE} per author); choose at most {authors}, or drop the flag for all of them.")
    return ids[-n * AUTHOR_SIZE:]


def keep_authors(rows: Dataset, benchmark: str, n: int | None, data_dir=None, duplicates: str = "error") -> Dataset:
    """The rows among the last `n` authors of TOFU's `full` (all rows when `n` is None)."""
    if n is None:
        return rows
    keep = set(author_subset(benchmark, int(n), data_dir, duplicates))
    return rows.filter(lambda row: row["sample_id"] in keep)
