"""Benchmark data: one loader per benchmark, all returning `datasets.Dataset`s with `sample_id`."""
from __future__ import annotations

from mrd_bench.data import fictitious, mmlu, safe, tofu, whp, wmdp  # noqa: F401  (registers)
from mrd_bench.data.source import BENCHMARKS, DATA_ENV, Benchmark, load, resolve_data_dir
from mrd_bench.data.tofu import author_subset, keep_authors

__all__ = ["BENCHMARKS", "DATA_ENV", "Benchmark", "author_subset", "keep_authors", "load", "resolve_data_dir"]
