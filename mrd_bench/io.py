"""Atomic writes and the guard that keeps earlier results from being overwritten."""
from __future__ import annotations

import json
import os
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
