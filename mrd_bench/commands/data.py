"""`mrd-bench data`: load a benchmark split and say what it holds."""
from __future__ import annotations

from dataclasses import dataclass

from mrd_bench.commands._data import DataFlags, limited
from mrd_bench.config import part


@dataclass(frozen=True)
class Config:
    data: DataFlags = part(DataFlags)


def run(c: Config) -> None:
    from mrd_bench.data import keep_authors, load

    d = c.data
    dataset = load(d.benchmark, d.split, data_dir=d.data_dir, path=d.data_path)
    dataset = limited(keep_authors(dataset, d.benchmark, d.subset_authors, d.data_dir, "keep"), d)
    repeats = sum("~" in sid for sid in dataset["sample_id"])
    print(f"{d.benchmark}/{d.split}: {len(dataset)} rows{f' ({repeats} repeated)' if repeats else ''}; "
          f"fields {dataset.column_names}; first sample_id {dataset[0]['sample_id']}")
