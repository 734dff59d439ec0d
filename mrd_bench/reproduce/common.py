"""What the study's stages share: the base setting of every stage key, run files keyed by their
settings (appended a row at a time, resumed from), a metric from lm-eval's results, the forget
subsets."""
from __future__ import annotations

import json
import os
from pathlib import Path

from mrd_bench.io import drop_torn_tail, read_json, write_json
from mrd_bench.reproduce.study import Context, key_hash


def setting(ctx: Context) -> dict:
    s = ctx.study
    return {"model": s.model, "benchmark": s.benchmark, "authors": s.authors, "forget_authors": s.forget_authors,
            "finetune_lr": s.finetune_lr, "finetune_epochs": s.finetune_epochs}


# ----------------------------------------------------------------------------- original


def read_runs(path: Path) -> dict:
    drop_torn_tail(path)
    runs = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            runs[row["run"]] = row
    return runs


def keyed_runs(folder: Path, key: dict) -> tuple[Path, dict]:
    """runs.jsonl of the settings `key`, and the runs it holds: a file written under other settings
    is moved aside (runs.<its key>.jsonl), never mixed in."""
    path, marker = folder / "runs.jsonl", folder / "runs.key.json"
    old = read_json(marker) if marker.is_file() else None
    if old != key and path.is_file():
        os.replace(path, folder / f"runs.{key_hash(old)[:12] if old is not None else 'unkeyed'}.jsonl")
    write_json(marker, key)
    return path, read_runs(path)


def append(path: Path, row: dict) -> None:
    with open(path, "a", encoding="utf-8") as sink:
        sink.write(json.dumps(row) + "\n")
        sink.flush()
        os.fsync(sink.fileno())


def value(results: dict, task: str, metric: str) -> float:
    return float(results[task][f"{metric},none"])


def subset(subset: int, n_items: int, size: int) -> list[int]:
    """The indices of random forget subset `subset` (the same draw in both variance stages)."""
    import random

    return sorted(random.Random(subset).sample(range(n_items), min(size, n_items)))
