"""Atomic writes, valid JSON, and the checks that keep earlier results, a user's files and a
command's own inputs from being overwritten (folder outputs: mrd_bench/outputs.py)."""
from __future__ import annotations

import json
import math
import numbers
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Mapping, Optional

from mrd_bench.errors import ConfigError, OutputExistsError


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


# ----------------------------------------------------------------------------- valid JSON
# JSON has no NaN or infinity. A non-finite number is written as null, and the object at the top
# says why under NULL_REASONS, by JSON pointer: {"null_reasons": {"/spearman/value": "not a finite
# number (nan)"}}. `read_json` puts the numbers back; any other reader sees null and the reason.

NULL_REASONS = "null_reasons"


def _pointer(parent: str, key) -> str:
    return f"{parent}/{str(key).replace('~', '~0').replace('/', '~1')}"


def finite_json(obj, pointer: str = "", reasons: Optional[dict] = None):
    """`obj` with every NaN and ±inf replaced by None, and `reasons` (pointer -> why) filled in."""
    reasons = {} if reasons is None else reasons
    if isinstance(obj, numbers.Real) and not isinstance(obj, numbers.Integral):
        value = float(obj)
        if math.isfinite(value):
            return obj if isinstance(obj, float) else value
        reasons[pointer or "/"] = f"not a finite number ({value!r})"
        return None
    if isinstance(obj, dict):
        return {k: finite_json(v, _pointer(pointer, k), reasons) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v, _pointer(pointer, i), reasons) for i, v in enumerate(obj)]
    return obj


def dumps(obj, indent: Optional[int] = None) -> str:
    """Valid JSON (no NaN, no Infinity): see finite_json. The reasons go beside the data where the
    top is an object; a list at the top keeps its nulls without them."""
    reasons: dict[str, str] = {}
    clean = finite_json(obj, "", reasons)
    if reasons and isinstance(clean, dict):
        clean = {**clean, NULL_REASONS: {**(clean.get(NULL_REASONS) or {}), **reasons}}
    return json.dumps(clean, indent=indent, sort_keys=False, default=str, allow_nan=False)


def loads(text: str):
    """JSON written by `dumps` with its non-finite numbers put back (and bare NaN of older files)."""
    obj = json.loads(text)
    if not (isinstance(obj, dict) and isinstance(obj.get(NULL_REASONS), dict)):
        return obj
    for pointer, reason in obj.pop(NULL_REASONS).items():
        value = next((float(v) for v in ("nan", "-inf", "inf") if str(reason).endswith(f"({v})")), None)
        keys = [k.replace("~1", "/").replace("~0", "~") for k in str(pointer).split("/")[1:]]
        parent = obj
        try:
            for key in keys[:-1]:
                parent = parent[int(key) if isinstance(parent, list) else key]
            last = int(keys[-1]) if isinstance(parent, list) else keys[-1]
            if value is not None and parent[last] is None:
                parent[last] = value
        except (KeyError, IndexError, ValueError, TypeError):
            continue  # a note that no longer fits the data: the null stays
    return obj


def read_json(path: str | os.PathLike):
    return loads(Path(path).read_text(encoding="utf-8"))


def write_json(path: str | os.PathLike, obj) -> Path:
    return write_text(path, dumps(obj, indent=2) + "\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> Path:
    return write_text(path, "".join(dumps(r) + "\n" for r in rows))


Inputs = Optional[Mapping[str, "str | os.PathLike | None"]]  # flag -> a path the command reads

NOT_REGULAR = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
               (stat.S_ISSOCK, "a socket"))


def check_output_path(path: str | os.PathLike, *, folder: bool = False, flag: str = "--out",
                      inputs: Inputs = None) -> Path:
    """Refuse, before any work, an output path that cannot be written: a folder where a file is
    meant (or the reverse), a device, FIFO or socket, a path under a regular file, a location
    without write permission, or one of the command's `inputs` (or a folder holding one)."""
    path = Path(path).expanduser()
    if str(path) in ("", "."):
        raise ConfigError(f"{flag} needs a path; got {str(path)!r}.")
    if not folder and path.parent.is_dir():
        finish_set(path)  # an interrupted commit of this output's set: finish it before judging the output
    mode = path.stat().st_mode if path.exists() else 0
    kind = next((name for test, name in NOT_REGULAR if mode and test(mode)), None)
    if kind:
        raise ConfigError(f"{flag} {str(path)!r} is {kind}, not a regular file; mrd-bench writes regular files "
                          "only, so give a file path.")
    if not folder and path.is_dir():
        raise ConfigError(f"{flag} {str(path)!r} is a folder; give a file path inside it, e.g. "
                          f"{str(path / 'scores.jsonl')!r}.")
    if folder and path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {str(path)!r} is a file; give a folder path for the output.")
    _refuse_inputs(path, flag, inputs)
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{flag} {str(path)!r} lies under {str(parent)!r}, which is a file, not a folder; "
                          "choose another path.")
    writable = path if path.is_dir() else parent
    try:  # a real probe: permissions, read-only file systems, and root all answer truthfully
        with tempfile.TemporaryFile(dir=writable):
            pass
    except OSError as err:
        raise ConfigError(f"{flag} {str(path)!r} cannot be written: {str(writable)!r} refuses new files "
                          f"({err.strerror}); choose a folder you can write to.") from None
    return path


def _refuse_inputs(path: Path, flag: str, inputs: Inputs) -> None:
    """An output that is one of the inputs (symlinks and `..` resolved), or a folder holding one."""
    real = os.path.realpath(path)
    for in_flag, given in (inputs or {}).items():
        if not given or not os.path.exists(given):
            continue
        same = os.path.samefile(path, given) if path.exists() else real == os.path.realpath(given)
        if same or os.path.realpath(given).startswith(real.rstrip(os.sep) + os.sep):
            raise ConfigError(f"{flag} {str(path)!r} {'is' if same else 'holds'} {in_flag} {str(given)!r}, which "
                              "this command reads; writing there would destroy it, so choose another output path.")


def guard_output(path: str | os.PathLike, overwrite: bool, *, what: str = "results",
                 folder: bool = False, inputs: Inputs = None) -> Path:
    """Refuse an output file, or a folder with files in it, unless `overwrite`; and an output
    path that cannot be written (check_output_path). Folder outputs: see `folder_target`."""
    path = check_output_path(path, folder=folder, inputs=inputs)
    occupied = path.is_file() or (path.is_dir() and any(path.iterdir()))
    if occupied and not overwrite:
        raise OutputExistsError(f"{str(path)!r} already holds {what}; pass --overwrite to replace "
                                "them, or choose another output path.")
    return path


# ----------------------------------------------------------------------------- files written as one
# Some outputs are several files that only make sense together (scores.jsonl and its .meta.json, a
# board's scores.json and its pages and plots). `writing_together` stages them beside their places,
# then writes a commit record, renames each into place and removes the record. Killed before the
# record: the old files stand. Killed after it: the next writer (check_output_path) or reader
# (`finish_set`) of the set completes the renames. A reader never sees a mix of two runs.


def _staged(path: Path) -> Path:
    return path.with_name(f".mrd-bench-set.{path.name}")  # keeps the suffix: savefig reads the format from it


def _commit_record(path: Path) -> Path:
    return path.with_name(f".{path.name}.mrd-bench-commit")


@contextmanager
def writing_together(*paths: str | os.PathLike):
    """Yield a staging path for each of `paths` (files in one folder; the first names the set);
    when the block ends, all of them replace their places as one (see above). On an error before
    the commit record, the staged files are removed and the old ones are untouched."""
    final = [Path(p) for p in paths]
    if len({p.parent.resolve() for p in final}) != 1:
        raise ValueError("writing_together: the files of a set must share one folder")
    final[0].parent.mkdir(parents=True, exist_ok=True)
    finish_set(final[0])  # an older set's interrupted commit first
    staged = [_staged(p) for p in final]
    record = _commit_record(final[0])
    for s in staged:
        s.unlink(missing_ok=True)  # a run killed before its commit left these
    try:
        yield staged
        missing = [str(p) for p, s in zip(final, staged) if not s.is_file()]
        if missing:
            raise RuntimeError(f"writing_together: nothing was written for {', '.join(missing)}")
        for s in staged:
            _fsync(s)
        write_text(record, dumps({"files": [[s.name, p.name] for s, p in zip(staged, final)]}) + "\n")
        _fsync(record)
    except BaseException:
        if not record.exists():
            for s in staged:
                s.unlink(missing_ok=True)
        raise
    finish_set(final[0])


def finish_set(path: str | os.PathLike) -> None:
    """Complete the commit of the set named by `path`, if one was interrupted (idempotent)."""
    record = _commit_record(Path(path))
    if not record.is_file():
        return
    try:
        pairs = json.loads(record.read_text())["files"]
    except (ValueError, KeyError, TypeError):
        record.unlink()  # written atomically, so never torn; a foreign file of that name vouches for nothing
        return
    for staged, final in pairs:
        if "/" in staged or "/" in final or not staged.startswith(".mrd-bench-set."):
            continue  # only names this module writes, in this folder
        staged_path = record.with_name(staged)
        if staged_path.is_file():
            os.replace(staged_path, record.with_name(final))
    record.unlink()


def append_rows(sink, rows: Iterable[dict]) -> None:
    """`rows` as JSON lines at the end of the open file `sink`, flushed and fsynced: a row written is
    a row kept when the run is killed (a torn last line is dropped on resume: drop_torn_tail)."""
    sink.write("".join(json.dumps(row) + "\n" for row in rows))
    sink.flush()
    os.fsync(sink.fileno())


def append_jsonl(path: str | os.PathLike, row: dict) -> None:
    """One row appended to the JSON-lines file at `path` (append_rows)."""
    with open(path, "a", encoding="utf-8") as sink:
        append_rows(sink, [row])


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


# ----------------------------------------------------------------------------- one writer per output


def lock_path(path: str | os.PathLike) -> Path:
    """Where the lock of an output lives: the cache folder, keyed by the output's absolute path
    (nothing is written beside the user's files, and an output folder that does not exist yet
    can be locked too)."""
    import hashlib

    from mrd_bench.cache import cache_dir

    target = str(Path(path).expanduser().resolve())
    return cache_dir() / "locks" / (hashlib.sha256(target.encode()).hexdigest()[:24] + ".lock")


@contextmanager
def output_lock(path: str | os.PathLike):
    """Hold an exclusive lock on an output for the whole command: a second run into the same
    output stops at once with an error naming the first one's PID. The lock (flock) dies with
    its process, so a killed run never leaves a stale one. Under torchrun only rank 0 locks."""
    import fcntl

    if os.environ.get("RANK", "0") != "0":
        yield
        return
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").split("\n")[0].strip() or "unknown"
        os.close(fd)
        raise OutputExistsError(f"{str(path)!r} is being written by another mrd-bench run (PID {holder}); "
                                "wait for it to finish, or choose another output path.") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n{Path(path).expanduser().resolve()}\n".encode())
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
