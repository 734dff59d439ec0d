"""Stages shared by the CLI commands: encode a split, score it, bin it, write it."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from datasets import Dataset

from mrd_bench.data.source import prompt_and_target
from mrd_bench.io import write_json, write_jsonl
from mrd_bench.models import Encoded, encode_qa
from mrd_bench.report.stratify import assign_bins, quantile_edges


def encode_split(tokenizer, dataset: Dataset, *, max_length: int = 512,
                 score_prompt: bool = False) -> list[Encoded]:
    """Each row as prompt + target tokens, the target tokens scored."""
    return [encode_qa(tokenizer, *prompt_and_target(row), max_length=max_length,
                      score_prompt=score_prompt) for row in dataset]


def score_split(scorer, model, tokenizer, dataset: Dataset, *, n_bins: int = 3,
                progress: bool = True) -> tuple[list[dict], list[float]]:
    """Score every row; returns (rows with `bin`, the inner bin edges)."""
    items = encode_split(tokenizer, dataset)
    scores = scorer.score(model, items, dataset["sample_id"], progress=progress)
    edges = quantile_edges([s.score for s in scores], n_bins)
    bins = assign_bins([s.score for s in scores], edges)
    return [{**s.to_dict(), "bin": b} for s, b in zip(scores, bins)], edges


def write_scores(path: str | Path, rows: Sequence[dict], edges: Sequence[float], meta: dict) -> Path:
    """scores.jsonl, and beside it <name>.meta.json with the bin edges and provenance."""
    path = Path(path)
    write_jsonl(path, rows)
    write_json(path.with_name(path.stem + ".meta.json"), {"bin_edges": list(edges), **meta})
    return path
