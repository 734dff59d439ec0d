"""`mrd-bench tasks-dir`: the folder of our lm-eval tasks (for --include_path)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    pass


def run(c: Config) -> None:
    from mrd_bench.lmeval.paths import tasks_dir

    print(tasks_dir())
