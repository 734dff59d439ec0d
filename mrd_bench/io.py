"""Atomic writes and the guard that keeps earlier results from being overwritten."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

from mrd_bench.errors import OutputExistsError


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write to a temporary file beside `path` and rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | os.PathLike, obj) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> Path:
    return write_text(path, "".join(json.dumps(r, default=str) + "\n" for r in rows))


def guard_output(path: str | os.PathLike, overwrite: bool, *, what: str = "results") -> Path:
    """Refuse an output file, or a folder with files in it, unless `overwrite`."""
    path = Path(path)
    occupied = path.is_file() or (path.is_dir() and any(path.iterdir()))
    if occupied and not overwrite:
        raise OutputExistsError(f"{str(path)!r} already holds {what}; pass --overwrite to replace "
                                "them, or choose another output path.")
    return path


# ----------------------------------------------------------------------------- resumable runs
# A long run streams finished rows to `<out>.partial/rank-<r>.jsonl` beside `key.json`, the
# key of its inputs and settings; a run started again under the same key skips those rows.


def open_partial(partial: Path, key: str, overwrite: bool, **info) -> None:
    """Resume the partial run in `partial` if its key is `key`; start one otherwise.

    A partial run under another key is refused unless `overwrite` (which also discards
    one under the same key). `info` is written beside the key, for people reading it.
    """
    marker = partial / "key.json"
    if marker.is_file():
        if json.loads(marker.read_text())["key"] == key and not overwrite:
            return  # resume
        if not overwrite:
            raise OutputExistsError(f"{str(partial)!r} holds a partial run with other settings, data or "
                                    "weights; pass --overwrite to discard it, or choose another --out.")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    write_json(marker, {"key": key, **info})


def drop_torn_tail(path: Path) -> None:
    """Cut a last line that a killed run left half-written, so appends start on a new line."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


def read_partial_rows(partial: Path) -> dict[str, dict]:
    """Every complete row in the rank files, by sample_id; a torn last line from a crash is ignored."""
    rows: dict[str, dict] = {}
    for path in sorted(partial.glob("rank-*.jsonl")):
        for line in path.read_text(encoding="utf-8").split("\n"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            rows[row["sample_id"]] = row
    return rows
