"""WHP-style copyright removal: completions of book chunks under the seen and the unseen
instructions (ROUGE-L recall against the true continuation, stratified by MRD), and
perplexity on held-out text."""
from __future__ import annotations

from datasets import DatasetDict

from mrd_bench.data import load
from mrd_bench.lmeval import requests
from mrd_bench.data.whp import SEEN_INSTRUCTIONS, UNSEEN_INSTRUCTIONS
from mrd_bench.lmeval.aggregations import *  # noqa: F401,F403  (the aggregations the YAMLs name)
from mrd_bench.lmeval.stratified import annotate_docs, counts, first_n, generation, spread
from mrd_bench.metrics.rouge import rougeL_recall

requests.install()
BOOK = "melville-moby_dick"  # the forget book (the Harry Potter books are not distributable)
HELDOUT_BOOK = "austen-emma"
N = 100  # chunks of each book evaluated: the first N (the shipped annotation covers them)


def _completions(instructions, book, n, difficulty, data_dir, data_path, renormalize) -> DatasetDict:
    rows = first_n(load("whp", book, data_dir=data_dir, path=data_path), n, "chunks")
    docs = [{"instruction": instructions[i % len(instructions)], "prefix": r["prefix"],
             "continuation": r["continuation"], "sample_id": r["sample_id"]} for i, r in enumerate(rows)]
    return requests.dataset(annotate_docs(docs, "whp", book, difficulty, renormalize), f"whp.{book}")


def load_seen(book: str = BOOK, n: int = N, difficulty: str | None = None, data_dir: str | None = None,
              data_path: str | None = None, renormalize: bool = False, **_metadata) -> DatasetDict:
    """Each chunk's prefix under one of the six instructions used during unlearning, in turn."""
    return _completions(SEEN_INSTRUCTIONS, book, n, difficulty, data_dir, data_path, renormalize)


def load_unseen(book: str = BOOK, n: int = N, difficulty: str | None = None, data_dir: str | None = None,
                data_path: str | None = None, renormalize: bool = False, **_metadata) -> DatasetDict:
    """The same chunks under six instructions never used during unlearning."""
    return _completions(UNSEEN_INSTRUCTIONS, book, n, difficulty, data_dir, data_path, renormalize)


def load_heldout(heldout_book: str = HELDOUT_BOOK, heldout_n: int = N, data_dir: str | None = None,
                 **_metadata) -> DatasetDict:
    rows = first_n(load("whp", heldout_book, data_dir=data_dir), heldout_n, "chunks")
    return requests.dataset([{"text": r["text"], "sample_id": r["sample_id"]} for r in rows], f"whp.{heldout_book}")


def process_completion(doc: dict, results: list) -> dict:
    return {**spread("rougeL_recall", rougeL_recall(generation(results), doc["continuation"]), doc), **counts(doc)}
