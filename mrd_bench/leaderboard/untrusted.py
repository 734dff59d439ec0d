"""Reading what strangers send (submissions, claims): JSON only, size-limited, confined to its
folder, schema-validated with `jsonschema`, and never executed or unpickled.

Every problem is an `Invalid` whose message is one line naming the field, the value and the
reason; validators collect them rather than stop at the first.
"""
from __future__ import annotations

import json
import math
import os
from importlib import resources
from pathlib import Path, PurePosixPath, PureWindowsPath

from mrd_bench.errors import DataError

MAX_FILE_BYTES = 32 * 2 ** 20  # one file of a submission or claim
MAX_TOTAL_BYTES = 128 * 2 ** 20  # all the files of one submission
SCHEMA_VERSION = 1
PICKLE_MAGIC = (b"\x80", b"(dp", b"(lp", b"cos\n", b"c__builtin__")


class Invalid(DataError):
    """One rejected part of an untrusted input: its message is the one-line reason."""


def short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def confined(folder: Path, name, field: str) -> Path:
    """`folder/name` where `name` is a plain relative path that stays inside `folder`, through
    no symlink, to a regular file."""
    if not isinstance(name, str) or not name:
        raise Invalid(f"{field}: {short(name)}: must be a file name inside the folder")
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() or name.startswith(("/", "\\")):
        raise Invalid(f"{field}: {short(name)}: an absolute path; name a file inside the folder")
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if ".." in parts:
        raise Invalid(f"{field}: {short(name)}: '..' leaves the folder; name a file inside it")
    path = folder
    for part in parts:
        path = path / part
        if path.is_symlink():
            raise Invalid(f"{field}: {short(name)}: a symlink; copy the file into the folder instead")
    if not path.resolve().is_relative_to(folder.resolve()):
        raise Invalid(f"{field}: {short(name)}: resolves outside the folder")
    if not path.is_file():
        raise Invalid(f"{field}: {short(name)}: no such file in {str(folder)!r}")
    return path


def _no_duplicate_keys(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise Invalid(f"duplicate key {short(key)}")
        seen[key] = value
    return seen


def _reject_constant(name):
    raise Invalid(f"{name} is not a finite number")


def parse(data: bytes, field: str, *, finite: bool = True, lines: bool = False):
    """JSON (or JSON Lines) from bytes: pickles, YAML and anything else are refused as data that
    is not JSON; with `finite`, NaN and Infinity are refused too."""
    if data.startswith(PICKLE_MAGIC):
        raise Invalid(f"{field}: pickled data; only JSON is read, and nothing is ever unpickled")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid(f"{field}: not UTF-8 text; only JSON is read") from None
    kwargs = {"object_pairs_hook": _no_duplicate_keys}
    if finite:
        kwargs["parse_constant"] = _reject_constant
    try:
        if lines:
            return [json.loads(line, **kwargs) for line in text.splitlines() if line.strip()]
        return json.loads(text, **kwargs)
    except Invalid as err:
        raise Invalid(f"{field}: {err}") from None
    except json.JSONDecodeError as err:
        raise Invalid(f"{field}: not JSON ({err.msg} at line {err.lineno}); only JSON is read "
                      "(no YAML, pickle or code)") from None


def read(path: Path, field: str, *, finite: bool = True, lines: bool = False, limit: int = MAX_FILE_BYTES):
    size = path.lstat().st_size
    if size > limit:
        raise Invalid(f"{field}: {path.name}: {size} bytes, over the {limit} byte limit per file")
    return parse(path.read_bytes(), field, finite=finite, lines=lines)


def schema(name: str) -> dict:
    return json.loads(resources.files("mrd_bench.leaderboard").joinpath(f"schemas/{name}-{SCHEMA_VERSION}.json")
                      .read_text())


def schema_problems(obj, name: str, field: str) -> list[str]:
    """One line per violation of the versioned JSON Schema `name` (jsonschema's validator)."""
    from jsonschema import Draft202012Validator

    if isinstance(obj, dict) and "schema_version" in obj and obj["schema_version"] != SCHEMA_VERSION:
        return [f"{field}: schema_version: {short(obj['schema_version'])}: unknown; this mrd_bench reads "
                f"version {SCHEMA_VERSION}"]
    validator = Draft202012Validator(schema(name))
    lines = []
    for err in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        where = "/".join(map(str, err.absolute_path)) or "(top level)"
        lines.append(f"{field}: {where}: {short(err.instance)}: {err.message if len(err.message) < 200 else err.message[:199] + '…'}")
    return lines


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite(value) -> bool:
    return is_number(value) and math.isfinite(value)


def folder_size(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def check_folder(folder: Path, what: str) -> Path:
    if folder.is_symlink():
        raise Invalid(f"{what}: {str(folder)!r}: a symlink; give the folder itself")
    if not folder.is_dir():
        raise Invalid(f"{what}: {str(folder)!r}: no such folder")
    total = folder_size(folder)
    if total > MAX_TOTAL_BYTES:
        raise Invalid(f"{what}: {str(folder)!r}: {total} bytes, over the {MAX_TOTAL_BYTES} byte limit")
    return folder


def sha256(path: os.PathLike) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
