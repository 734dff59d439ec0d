"""Where benchmark data comes from: an explicit path, `$MRD_BENCH_DATA_DIR`, or the hub.

Every loader returns a `datasets.Dataset` with the hub's field names plus a
`sample_id` column. The id hashes the fields that identify a sample, so the same
question has the same id in every split that holds it (TOFU's `forget10`,
`forget10_perturbed` and `full`), and annotations join across splits.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from datasets import Dataset

from mrd_bench.errors import ConfigError, DataError
from mrd_bench.registry import Registry

DATA_ENV = "MRD_BENCH_DATA_DIR"


@dataclass(frozen=True)
class Benchmark:
    """How to read one benchmark from a local folder, the hub, or a user's file."""

    name: str
    splits: tuple[str, ...]
    id_fields: tuple[str, ...]  # fields hashed into the stable sample_id
    subdir: str  # the benchmark's folder inside a data directory
    read_local: Callable[[Path, str], Dataset]  # (benchmark folder, split)
    hub_id: Optional[str] = None
    read_hub: Optional[Callable[[str], Dataset]] = None  # (split)
    read_file: Optional[Callable[[Path, str], Dataset]] = None  # a user's own file
    embedded: bool = False  # ships inside the package: needs no data directory


BENCHMARKS: Registry[Benchmark] = Registry("benchmark")


def prompt_and_target(row: dict) -> tuple[str, str]:
    """The text a model is prompted with and the text it should produce, for any benchmark.

    QA rows (TOFU, the embedded set): question -> answer. Multiple choice (WMDP, MMLU):
    question -> the correct choice. Completion (WHP): prefix -> continuation. SAFE:
    prompt -> response.
    """
    if "prefix" in row:
        return row["prefix"], row["continuation"]
    if "prompt" in row:
        return row["prompt"], row["response"]
    if "choices" in row:
        return row["question"], row["choices"][int(row["answer"])]
    return row["question"], row["answer"]


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Optional[Path]:
    """The explicit folder if given, else `$MRD_BENCH_DATA_DIR`, else None (use the hub)."""
    found = _data_dir_and_origin(data_dir)
    return found[0] if found else None


def _data_dir_and_origin(data_dir) -> Optional[tuple[Path, str]]:
    for given, origin in ((data_dir, "--data-dir"), (os.environ.get(DATA_ENV) or None, f"${DATA_ENV}")):
        if given is None:
            continue
        path = Path(given).expanduser()
        if not path.is_dir():
            raise DataError(f"data directory {str(path)!r} (from {origin}) does not exist; "
                            f"point {origin} at a folder holding the benchmark folders (tofu/, wmdp/, ...).")
        return path, origin
    return None


def check_split(bench: Benchmark, split: str) -> None:
    if split not in bench.splits:
        close = difflib.get_close_matches(split, bench.splits, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown split {split!r} for benchmark {bench.name!r}; "
                          f"choose one of: {', '.join(bench.splits)}.{hint}")


DUPLICATES = ("keep", "error", "drop")


def load(benchmark: str, split: str, *, data_dir: str | os.PathLike | None = None,
         path: str | os.PathLike | None = None, duplicates: str = "keep") -> Dataset:
    """Load one split of a benchmark, with a stable `sample_id` column.

    Order of sources: `path` (a user's own file, for the benchmarks that take one),
    then `data_dir`, then `$MRD_BENCH_DATA_DIR`, then the hub id. Every row must hold the
    text fields its benchmark reads. Repeated rows (the same identifying fields) are kept
    under `~n` ids (`keep`, as lm-eval evaluates them), refused (`error`: the commands that
    score or train, unless --dedupe) or dropped after the first (`drop`).
    """
    bench = BENCHMARKS.get(benchmark)
    if duplicates not in DUPLICATES:
        raise ConfigError(f"duplicates must be one of {', '.join(DUPLICATES)}; got {duplicates!r}.")
    if path is not None:
        dataset = _read_user_file(bench, Path(path), split)
    else:
        check_split(bench, split)
        dataset = _read(bench, split, data_dir)
    if len(dataset) == 0:
        raise DataError(f"{benchmark}/{split} is empty; check the data source.")
    check_rows(dataset, f"{benchmark}/{split}")
    dataset = add_sample_ids(dataset, bench.name, bench.id_fields)
    repeats = [n for n, sid in enumerate(dataset["sample_id"]) if "~" in sid]
    if repeats and duplicates == "error":
        first = dataset["sample_id"][repeats[0]].split("~")[0]
        raise DataError(f"{benchmark}/{split} has {len(repeats)} repeated row(s) (e.g. row {repeats[0] + 1} repeats "
                        f"row {dataset['sample_id'].index(first) + 1}: the same {', '.join(bench.id_fields)}), which "
                        "would be scored twice; remove them, or pass --dedupe to keep the first of each.")
    if repeats and duplicates == "drop":
        dataset = dataset.select([n for n in range(len(dataset)) if n not in set(repeats)])
    return dataset


def check_rows(dataset: Dataset, name: str) -> None:
    """Every row has the prompt and target text its benchmark reads (prompt_and_target)."""
    for number, row in enumerate(dataset, start=1):
        try:
            texts = prompt_and_target(row)
        except KeyError as err:
            raise DataError(f"{name} row {number} lacks the field {err.args[0]!r}; every row needs it.") from None
        except (ValueError, TypeError, IndexError) as err:
            raise DataError(f"{name} row {number}: its answer does not pick one of its choices ({err}); "
                            "fix that row.") from None
        for text in texts:
            if not isinstance(text, str):
                raise DataError(f"{name} row {number} holds {text!r} ({type(text).__name__}) where text is "
                                "expected; fix that row.")


def _read_user_file(bench: Benchmark, path: Path, split: str) -> Dataset:
    if bench.read_file is None:
        raise ConfigError(f"benchmark {bench.name!r} does not read a user's file; "
                          f"use --data-dir or ${DATA_ENV} instead.")
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} does not exist; give the path of a text or JSONL file.")
    return bench.read_file(path, split)


def _read(bench: Benchmark, split: str, data_dir) -> Dataset:
    if bench.embedded:
        return bench.read_local(Path(__file__).parent, split)
    found = _data_dir_and_origin(data_dir)
    if found is not None:
        root, origin = found
        folder = root / bench.subdir
        if not folder.is_dir():
            raise DataError(f"the data directory {str(root)!r} (from {origin}) has no {bench.subdir}/ folder for "
                            f"benchmark {bench.name!r}; point {origin} at a folder that has it.")
        return bench.read_local(folder, split)
    if bench.hub_id is None or bench.read_hub is None:
        raise DataError(f"benchmark {bench.name!r} has no hub source; set ${DATA_ENV} to a folder "
                        f"holding {bench.subdir}/ or pass a file of your own with --data-path.")
    try:
        return bench.read_hub(split)
    except Exception as err:  # offline, gated or renamed on the hub
        raise DataError(f"no local copy of {bench.name}/{split} and the hub dataset {bench.hub_id!r} "
                        f"could not be loaded ({type(err).__name__}); set ${DATA_ENV} to a local copy "
                        f"or go online.") from err


def read_jsonl(path: Path) -> Dataset:
    """A JSON Lines file as a Dataset, read in order and without a cache."""
    if not path.is_file():
        raise DataError(f"expected data file {str(path)!r} is missing; check the data directory.")
    return rows_to_dataset(parse_jsonl(path), path)


def rows_to_dataset(rows: list[dict], path: Path) -> Dataset:
    """Rows as a Dataset; a field whose type differs between rows is the file's error, named."""
    import pyarrow

    try:
        return Dataset.from_list(rows)
    except (pyarrow.ArrowInvalid, pyarrow.ArrowTypeError, TypeError, ValueError) as err:
        raise DataError(f"{str(path)!r} holds a field whose type differs between rows, e.g. a number where "
                        f"text is expected ({str(err).splitlines()[0][:120]}); fix those rows.") from None


def parse_jsonl(path: Path) -> list[dict]:
    """JSON Lines split on '\n' only: str.splitlines() would also cut at U+2028 inside strings."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, parse_constant=_not_json)
        except json.JSONDecodeError as err:
            raise DataError(f"{str(path)!r} line {number} is not valid JSON ({err.msg}); "
                            "fix or remove that line.") from None
        except ValueError as err:
            raise DataError(f"{str(path)!r} line {number} holds {err}, which JSON does not allow; "
                            "fix that line.") from None
        if not isinstance(row, dict):
            raise DataError(f"{str(path)!r} line {number} is a JSON {type(row).__name__}, not an object "
                            "with fields; fix that line.")
        rows.append(row)
    return rows


def _not_json(constant: str):
    raise ValueError(constant)  # NaN, Infinity, -Infinity: Python's json accepts them, JSON does not


def add_sample_ids(dataset: Dataset, prefix: str, fields: Sequence[str]) -> Dataset:
    """Add `sample_id` = prefix:sha1(fields)[:12]; repeats within one split get a `~n` suffix."""
    missing = [f for f in fields if f not in dataset.column_names]
    if missing:
        raise DataError(f"{prefix} data lacks the field(s) {missing}; found {dataset.column_names}.")
    seen: dict[str, int] = {}
    ids = []
    for row in dataset.select_columns(list(fields)):
        key = json.dumps([row[f] for f in fields], ensure_ascii=False, sort_keys=True)
        sid = f"{prefix}:{hashlib.sha1(key.encode()).hexdigest()[:12]}"
        seen[sid] = seen.get(sid, 0) + 1
        ids.append(sid if seen[sid] == 1 else f"{sid}~{seen[sid]}")
    if "sample_id" in dataset.column_names:
        dataset = dataset.remove_columns("sample_id")
    return dataset.add_column("sample_id", ids)
