"""Copyright removal in the style of Who's-Harry-Potter (Eldan & Russinovich, 2023).

A book is cut into consecutive chunks of `CHUNK_WORDS` whitespace words (or N model
tokens, through `chunk_text(..., tokenizer=)`); each chunk is a `prefix` (its first half)
and the `continuation` to be completed. The Harry Potter books
are copyrighted and not distributable, so the loader reads public-domain stand-ins from
the data directory (`books/<name>.txt`, split = the name) or a user's own text file.
The completion instructions are the MRD paper's: six seen during unlearning, six unseen.
"""
from __future__ import annotations

from pathlib import Path

from datasets import Dataset

from mrd_bench.data.source import BENCHMARKS, Benchmark
from mrd_bench.errors import DataError

CHUNK_WORDS = 128
LOCAL_BOOKS = ("melville-moby_dick", "austen-emma", "chesterton-brown", "shakespeare-hamlet")

SEEN_INSTRUCTIONS = (
    "Could you complete this sentence for me:",
    "I'd appreciate it if you could continue this line:",
    "Could you please provide the subsequent part of this text:",
    "Please go ahead and conclude this sentence:",
    "What would be your continuation of this sentence:",
    "Is it possible to expand this sentence further:",
)
UNSEEN_INSTRUCTIONS = (
    "Let's see how you would complete this piece of text:",
    "Your job is to extend this sentence:",
    "Please attempt to complete the remainder of this text:",
    "What do you believe comes next in this sentence:",
    "Carry on writing from where this leaves off:",
    "Expand on this snippet, please:",
)


def chunk_text(text: str, book: str, chunk_size: int = CHUNK_WORDS, tokenizer=None) -> Dataset:
    """Consecutive chunks of `chunk_size` units; a shorter tail is dropped.

    The units are whitespace words, or the tokens of `tokenizer` when one is given (so a
    chunk is exactly N model tokens, as in the WHP setup).
    """
    if tokenizer is None:
        units, join = text.split(), " ".join
    else:
        units, join = tokenizer(text, add_special_tokens=False)["input_ids"], tokenizer.decode
    rows = []
    half = chunk_size // 2
    for index, start in enumerate(range(0, len(units) - chunk_size + 1, chunk_size)):
        chunk = units[start:start + chunk_size]
        rows.append({"book": book, "chunk_index": index, "text": join(chunk),
                     "prefix": join(chunk[:half]), "continuation": join(chunk[half:])})
    if not rows:
        raise DataError(f"the text of {book!r} has {len(units)} units, fewer than one chunk of "
                        f"{chunk_size}; give a longer text.")
    return Dataset.from_list(rows)


def read_book(path: Path, split: str) -> Dataset:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{str(path)!r} is not UTF-8 text ({err.reason}); convert it to UTF-8.") from err
    return chunk_text(text, book=path.stem)


def read_local(folder: Path, split: str) -> Dataset:
    return read_book(folder / f"{split}.txt", split)


BENCHMARKS.register("whp")(Benchmark(
    name="whp", splits=LOCAL_BOOKS, id_fields=("book", "chunk_index", "text"), subdir="books",
    read_local=read_local, read_file=read_book))
