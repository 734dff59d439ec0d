"""The flags of a command that reads one benchmark split, and reading it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from mrd_bench.config import opt
from mrd_bench.errors import MrdBenchError


@dataclass(frozen=True)
class DataFlags:
    benchmark: str = opt(None, "tofu, wmdp, mmlu, whp, safe or fictitious", required=True)
    split: str = opt(None, "e.g. forget10 (tofu), bio (wmdp), toxic (safe)", required=True)
    data_dir: Optional[str] = opt(None, "folder of local benchmark copies (default: $MRD_BENCH_DATA_DIR, then "
                                  "the hub)")
    data_path: Optional[str] = opt(None, "your own text/JSONL file (whp: a book; safe: prompt/response)")
    limit: Optional[int] = opt(None, "only the first N rows of the split")
    subset_authors: Optional[int] = opt(None, "TOFU only: keep the split's rows among the last N authors of "
                                        "`full` (the setting `finetune --subset-authors N` trains)")
    dedupe: bool = opt(False, "drop repeated rows (the same identifying fields), keeping the first; without it a "
                       "repeat is an error, as it would be scored twice")

    def read_paths(self, **more: Optional[str]) -> dict:
        """The paths a command reads, by flag (these and `more`): no output may be one of them."""
        return {"--data-path": self.data_path, "--data-dir": self.data_dir,
                **{f"--{name.replace('_', '-')}": value for name, value in more.items()}}


def load_split(data: DataFlags):
    """The split a scoring command reads: a repeated row is an error unless --dedupe drops it."""
    from mrd_bench.data import keep_authors, load

    duplicates = "drop" if data.dedupe else "error"
    rows = load(data.benchmark, data.split, data_dir=data.data_dir, path=data.data_path, duplicates=duplicates)
    return keep_authors(rows, data.benchmark, data.subset_authors, data.data_dir, duplicates)


def limited(dataset, data: DataFlags):
    """The first --limit rows (the tasks' `n` metadata takes the same prefix)."""
    if data.limit is None:
        return dataset
    if data.limit < 1:
        raise MrdBenchError(f"--limit must be a positive number of rows, not {data.limit}.")
    return dataset.select(range(min(data.limit, len(dataset))))
