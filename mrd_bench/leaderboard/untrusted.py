"""Reading what strangers send (submissions, claims): JSON only, size-limited, confined to its
folder, schema-validated with `jsonschema`, and never executed or unpickled.

Every problem is an `Invalid` whose message is one line naming the field, the value and the
reason; validators collect them rather than stop at the first.
"""
from __future__ import annotations

import json
import math
import os
import re
from importlib import resources
from pathlib import Path, PurePosixPath, PureWindowsPath

from mrd_bench.errors import DataError

MAX_FILE_BYTES = 32 * 2 ** 20  # one file of a submission or claim
MAX_TOTAL_BYTES = 128 * 2 ** 20  # all the files of one submission
SCHEMA_VERSION = 1
PICKLE_MAGIC = (b"\x80", b"(dp", b"(lp", b"cos\n", b"c__builtin__")
MAX_DEPTH = 64  # JSON nesting: lm-eval's files nest 4 deep; Python's parser recurses once per level
MAX_DIGITS = 40  # of a JSON integer (transformers writes int(1e30), 31 digits); Python refuses int() of 4,300
MAX_FOLDER_DEPTH = 16  # folders inside a submission's folder
MAX_FOLDER_ENTRIES = 10_000  # files and folders in one submission's folder
# C0 and C1 controls, DEL, and the bidi controls that reorder what a terminal shows
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]} | {
    c: f"\\u{c:04x}" for c in [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A),
                                0x2028, 0x2029]}


class Invalid(DataError):
    """One rejected part of an untrusted input: its message is the one-line reason."""


def short(value, limit: int = 60) -> str:
    """`value` for a message: ascii() so that look-alike ids differ and no control reaches a terminal."""
    text = ascii(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def printable(text: str) -> str:
    """`text` with every control character (C0, DEL, C1, bidi overrides) escaped as `\\x1b` or
    `\\u202e`, for a terminal: a name from a submission cannot move the cursor or recolour a line."""
    return str(text).translate(_CONTROLS)


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
        raise Invalid(f"{field}: {short(name)}: no such file in {short(str(folder), 200)}")
    if path.lstat().st_nlink > 1:  # its other name may lie outside the folder
        raise Invalid(f"{field}: {short(name)}: a hard link; copy the file into the folder instead")
    return path


def _no_duplicate_keys(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise Invalid(f"duplicate key {short(key)}")
        seen[key] = value
    return seen


# a JSON string, or what is left of an unterminated one: it always matches, so it never backtracks
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


def nesting(data: bytes) -> int:
    """How deep JSON `data` nests arrays and objects, counted without parsing or recursion:
    brackets inside strings (escaped quotes included) do not count. Linear in the size."""
    import numpy as np

    brackets = np.frombuffer(_STRING.sub(b"", data).translate(None, _NOT_BRACKETS), dtype=np.uint8)
    if not len(brackets):
        return 0
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1).astype(np.int32)
    return int(np.cumsum(steps, dtype=np.int32).max())


class _Refused:
    """A value the parser met and the reader refuses; found with its path after parsing."""

    def __init__(self, why: str):
        self.why = why


def _path_of_refused(obj) -> tuple[str, str]:
    """The first refused value's path (`a/0/b`) and reason, walked without recursion."""
    stack = [(obj, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, _Refused):
            path = path or "(top level)"
            return (path if len(path) <= 120 else path[:119] + "…"), node.why
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        stack += reversed([(value, f"{path}/{key}" if path else str(key)) for key, value in items])
    return "(top level)", "refused"


def _hooks(finite: bool, refused: list) -> dict:
    """json.loads hooks: integers over MAX_DIGITS digits are refused, and with `finite`, NaN,
    Infinity and numbers that overflow to infinity (1e999)."""
    def refuse(why):
        refused.append(why)
        return _Refused(why)

    def parse_int(text):
        digits = len(text.lstrip("-"))
        return int(text) if digits <= MAX_DIGITS else refuse(
            f"an integer of {digits} digits, over the {MAX_DIGITS}-digit limit")

    def parse_float(text):
        value = float(text)
        return value if math.isfinite(value) else refuse(
            f"{short(text, 30)} is not a finite number (it overflows a float)")

    hooks = {"object_pairs_hook": _no_duplicate_keys, "parse_int": parse_int}
    if finite:  # else json's own float parsing: 1e999 is inf, for the reader to refuse where it reads it
        hooks.update(parse_float=parse_float, parse_constant=lambda name: refuse(f"{name} is not a finite number"))
    return hooks


def _loads(text: str, where: str, finite: bool):
    refused: list[str] = []
    try:
        value = json.loads(text, **_hooks(finite, refused))
    except Invalid as err:
        raise Invalid(f"{where}: {err}") from None
    except json.JSONDecodeError as err:
        raise Invalid(f"{where}: not JSON ({err.msg} at line {err.lineno}); only JSON is read "
                      "(no YAML, pickle or code)") from None
    if refused:
        path, why = _path_of_refused(value)
        raise Invalid(f"{where}: {path}: {why}")
    return value


def parse(data: bytes, field: str, *, finite: bool = True, lines: bool = False):
    """JSON (or JSON Lines) from bytes: pickles, YAML and anything else are refused as data that
    is not JSON; so are JSON nested over MAX_DEPTH levels (checked before parsing) and integers
    over MAX_DIGITS digits; with `finite`, NaN, Infinity and numbers that overflow (1e999) too."""
    if data.startswith(PICKLE_MAGIC):
        raise Invalid(f"{field}: pickled data; only JSON is read, and nothing is ever unpickled")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid(f"{field}: not UTF-8 text; only JSON is read") from None
    if nesting(data) > MAX_DEPTH:
        deep = [i for i, line in enumerate(data.split(b"\n")) if nesting(line) > MAX_DEPTH] if lines else []
        at = f": line {deep[0] + 1}" if deep else ""
        raise Invalid(f"{field}{at}: JSON nested deeper than the {MAX_DEPTH}-level limit; flatten it")
    if lines:  # lines end at \n only: a string may hold U+2028
        return [_loads(line, f"{field}: line {i + 1}", finite)
                for i, line in enumerate(text.split("\n")) if line.strip()]
    return _loads(text, field, finite)


def read(path: Path, field: str, *, finite: bool = True, lines: bool = False, limit: int = MAX_FILE_BYTES):
    """`parse` of the file at `path`, whose name joins `field` in every message."""
    size = path.lstat().st_size
    if size > limit:
        raise Invalid(f"{field}: {path.name}: {size} bytes, over the {limit} byte limit per file")
    where = field if field == path.name else f"{field} ({ascii(path.name)[1:-1]})"
    return parse(path.read_bytes(), where, finite=finite, lines=lines)


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
        message = err.message if len(err.message) < 200 else err.message[:199] + '…'
        lines.append(f"{field}: {where}: {short(err.instance)}: {message}")
    return lines


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite(value) -> bool:
    return is_number(value) and math.isfinite(value)


def folder_size(folder: Path, what: str = "folder") -> int:
    """Bytes of the regular files under `folder`, walked with an explicit stack (no recursion, no
    symlink followed); Invalid past MAX_FOLDER_DEPTH levels or MAX_FOLDER_ENTRIES entries."""
    total, count, stack = 0, 0, [(Path(folder), 0)]
    while stack:
        path, depth = stack.pop()
        if depth > MAX_FOLDER_DEPTH:
            raise Invalid(f"{what}: {short(str(path.relative_to(folder)), 80)}: folders nested deeper than the "
                          f"{MAX_FOLDER_DEPTH}-level limit; keep a submission's files at its top level")
        with os.scandir(path) as entries:
            for entry in entries:
                count += 1
                if count > MAX_FOLDER_ENTRIES:
                    raise Invalid(f"{what}: {short(str(folder), 120)}: more than {MAX_FOLDER_ENTRIES} files and "
                                  "folders, over the limit; a submission holds a handful of files")
                if entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), depth + 1))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
    return total


def check_folder(folder: Path, what: str) -> Path:
    if folder.is_symlink():
        raise Invalid(f"{what}: {short(str(folder), 200)}: a symlink; give the folder itself")
    if not folder.is_dir():
        raise Invalid(f"{what}: {short(str(folder), 200)}: no such folder")
    total = folder_size(folder, what)
    if total > MAX_TOTAL_BYTES:
        raise Invalid(f"{what}: {short(str(folder), 200)}: {total} bytes, over the {MAX_TOTAL_BYTES} byte limit")
    return folder


def sha256(path: os.PathLike) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
