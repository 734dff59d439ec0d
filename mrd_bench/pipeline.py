"""Stages shared by the CLI commands: encode a split, write scores with their bin edges."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from datasets import Dataset

from mrd_bench.data.source import prompt_and_target
from mrd_bench.io import write_json, write_jsonl
from mrd_bench.models import Encoded, encode_qa


def encode_split(tokenizer, dataset: Dataset, *, max_length: int = 512,
                 score_prompt: bool = False, fmt: str = "auto") -> list[Encoded]:
    """Each row as prompt + target tokens, the target tokens scored."""
    return [encode_qa(tokenizer, *prompt_and_target(row), max_length=max_length,
                      score_prompt=score_prompt, fmt=fmt) for row in dataset]


def targets(dataset: Dataset) -> list[str]:
    """The text each row should produce (what rare words are counted in)."""
    return [prompt_and_target(row)[1] for row in dataset]


def write_scores(path: str | Path, rows: Sequence[dict], edges: Sequence[float], meta: dict) -> Path:
    """scores.jsonl, and beside it <name>.meta.json with the bin edges and provenance."""
    path = Path(path)
    write_jsonl(path, rows)
    write_json(path.with_name(path.stem + ".meta.json"), {"bin_edges": list(edges), **meta})
    return path
