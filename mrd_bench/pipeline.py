"""Stages shared by the CLI commands: encode a split, write scores with their bin edges."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from datasets import Dataset

from mrd_bench.data.source import prompt_and_target
from mrd_bench.io import write_json, write_jsonl, writing_together
from mrd_bench.models import Encoded, encode_qa


def encode_split(tokenizer, dataset: Dataset, *, max_length: int = 512,
                 score_prompt: bool = False, fmt: str = "auto") -> list[Encoded]:
    """Each row as prompt + target tokens, the target tokens scored."""
    return [encode_qa(tokenizer, *prompt_and_target(row), max_length=max_length,
                      score_prompt=score_prompt, fmt=fmt) for row in dataset]


def targets(dataset: Dataset) -> list[str]:
    """The text each row should produce (what rare words are counted in)."""
    return [prompt_and_target(row)[1] for row in dataset]


def write_scores(path: str | Path, rows: Sequence[dict], edges: Sequence[float], meta: dict,
                 also: Mapping[str | Path, bytes] | None = None) -> Path:
    """scores.jsonl, and beside it <name>.meta.json with the bin edges and provenance (and the
    files in `also`, path -> bytes), written as one set: never a new scores file with old edges."""
    path = Path(path)
    also = {Path(p): data for p, data in (also or {}).items()}
    with writing_together(path, path.with_name(path.stem + ".meta.json"), *also) as staged:
        write_jsonl(staged[0], rows)
        write_json(staged[1], {"bin_edges": list(edges), **meta})
        for target, data in zip(staged[2:], also.values()):
            target.write_bytes(data)
    return path
