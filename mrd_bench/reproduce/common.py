"""What the study's stages share: run files keyed by their settings (appended a row at a time,
resumed from), a metric from lm-eval's results, the forget subsets."""
from __future__ import annotations

import json
import os
from pathlib import Path

from mrd_bench.io import drop_torn_tail, read_json, write_json
from mrd_bench.reproduce.study import key_hash


def read_runs(path: Path, by: str = "run") -> dict:
    """The rows of a run file by their `by` field (a torn last line dropped)."""
    drop_torn_tail(path)
    runs = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            runs[row[by]] = row
    return runs


def keyed_runs(folder: Path, key: dict, name: str = "runs", by: str = "run") -> tuple[Path, dict]:
    """<name>.jsonl of the settings `key`, and the rows it holds by `by`: a file written under other
    settings is moved aside (<name>.<its key>.jsonl), never mixed in."""
    path, marker = folder / f"{name}.jsonl", folder / f"{name}.key.json"
    old = read_json(marker) if marker.is_file() else None
    if old != key and path.is_file():
        os.replace(path, folder / f"{name}.{key_hash(old)[:12] if old is not None else 'unkeyed'}.jsonl")
    write_json(marker, key)
    return path, read_runs(path, by)


def value(results: dict, task: str, metric: str) -> float:
    return float(results[task][f"{metric},none"])


def subset(subset: int, n_items: int, size: int) -> list[int]:
    """The indices of random forget subset `subset` (the same draw in both variance stages)."""
    import random

    return sorted(random.Random(subset).sample(range(n_items), min(size, n_items)))
