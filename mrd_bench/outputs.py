"""The overwrite policy for folder outputs, one for every command.

An occupied output needs --overwrite; an output folder holding anything the command did not
write is refused even then (its manifest `.mrd_bench_files.json` says which command wrote it,
"written_by", and lists the files); no command writes over one of its own inputs or onto
anything but a regular file (io.check_output_path); and a folder output is written aside and
swapped in whole (`replacing`), so an interruption leaves the old output or the new one, never a
mix. Folders an earlier version wrote without a manifest are recognised by the `legacy` file
patterns of their command.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import warnings
from contextlib import contextmanager
from fnmatch import fnmatch
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from mrd_bench.errors import MrdBenchWarning, OutputExistsError
from mrd_bench.io import Inputs, check_output_path, write_json

MANIFEST = ".mrd_bench_files.json"


def _legacy_writer(files: list) -> str:
    """Checkpoints and reproduction reports had a manifest before it named its writer."""
    return "checkpoint" if "config.json" in files else "reproduce"


Owns = Callable[[str], bool]  # does the command own this path (relative, "a/b"; a folder as "a/")?


def owner(folder: Path, kind: str, legacy: Sequence[str] = ()) -> tuple[Owns, Optional[str]]:
    """Which paths in `folder` `kind` wrote (by its manifest, else by the `legacy` patterns), and
    the other command that wrote the folder, if another did."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return (lambda rel: any(fnmatch(rel if not rel.endswith("/") else rel + "x", p) for p in legacy)), None
    try:
        data = json.loads(manifest.read_text())
        files, writer = {str(f) for f in data["files"]} | {MANIFEST}, data.get("written_by")
        writer = writer or _legacy_writer(list(files))
    except (ValueError, KeyError, TypeError):
        return (lambda rel: False), None  # a corrupt manifest vouches for nothing
    if writer != kind:
        return (lambda rel: False), writer
    folders = {f.rsplit("/", 1)[0] + "/" for f in files if "/" in f}
    folders |= {d[:i + 1] for d in folders for i, c in enumerate(d) if c == "/"}
    return (lambda rel: rel in (folders if rel.endswith("/") else files)), None


def foreign_entries(folder: Path, owns: Owns, prefix: str = "", limit: int = 4) -> list[str]:
    """Up to `limit` things in `folder` the command does not own: files, and folders with nothing
    of its own in them ("plots/"). It stops there, so a wrong --out (a home folder) is quick."""
    found: list[str] = []
    for entry in sorted(folder.iterdir()):
        rel = prefix + entry.name
        if entry.is_dir() and not entry.is_symlink():
            found += foreign_entries(entry, owns, rel + "/", limit - len(found)) if owns(rel + "/") else [rel + "/"]
        elif not owns(rel):
            found.append(rel)
        if len(found) >= limit:
            break
    return found


def _check_owned(out: Path, kind: str, what: str, legacy: Sequence[str]) -> Owns:
    owns, writer = owner(out, kind, legacy)
    if writer:
        raise OutputExistsError(f"{str(out)!r} holds another command's output ({writer}), not {what}; --overwrite "
                                "never replaces another command's output, so choose another output path.")
    foreign = foreign_entries(out, owns)
    if foreign:
        raise OutputExistsError(f"{str(out)!r} also holds files mrd-bench did not write ({', '.join(foreign[:3])}"
                                f"{', ...' if len(foreign) > 3 else ''}); --overwrite replaces only the files "
                                "mrd-bench wrote, so choose another output path.")
    return owns


def _beside(path: Path, tag: str) -> Path:
    real = Path(os.path.realpath(path))
    return real.with_name(f".{real.name}.mrd-bench-{tag}")


def folder_target(out: str | os.PathLike, overwrite: bool, *, what: str, kind: str, legacy: Sequence[str] = (),
                  inputs: Inputs = None, flag: str = "--out") -> Path:
    """Check an output folder before any work: an occupied one must hold nothing but `kind`'s own
    files (--overwrite cannot help otherwise) and needs `overwrite`; its parent must take the new
    folder written aside."""
    out = check_output_path(out, folder=True, flag=flag, inputs=inputs)
    _mend_interrupted_swap(out)
    if not (out.is_dir() and any(out.iterdir())):
        return out
    _check_owned(out, kind, what, legacy)
    if not overwrite:
        raise OutputExistsError(f"{str(out)!r} already holds {what}; pass --overwrite to replace them, or "
                                "choose another output path.")
    check_output_path(_beside(out, "new"), folder=True, flag=flag)  # the parent takes the new folder
    return out


@contextmanager
def replacing(out: str | os.PathLike, *, what: str, kind: str, legacy: Sequence[str] = (),
              resume: bool = False) -> Iterator[Path]:
    """Yield an empty folder beside `out` to write the whole new output in. When the block ends,
    a manifest is added and the folder takes `out`'s place in one step (the old output's own
    files are then removed); on an error it is removed and `out` is as it was. With `resume`, the
    folder is kept on an error and taken up again by the next run (a long job that resumes from
    its own partial files), and `out` is still as it was."""
    staging = _beside(out, "new")
    if not resume:
        shutil.rmtree(staging, ignore_errors=True)  # a killed run's: ours by its name
    staging.mkdir(parents=True, exist_ok=resume)
    try:
        yield staging
        _follow_umask(staging)
        files = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if not p.is_dir())
        write_json(staging / MANIFEST, {"written_by": kind, "files": [f for f in files if f != MANIFEST]})
        _swap_in(staging, Path(os.path.realpath(out)), kind, what, legacy)
    except BaseException:
        if not resume:
            shutil.rmtree(staging, ignore_errors=True)
        raise


def _follow_umask(folder: Path) -> None:
    """Ordinary modes for everything written (libraries write some files 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def _swap_in(staging: Path, real: Path, kind: str, what: str, legacy: Sequence[str]) -> None:
    if not os.path.lexists(real):
        os.rename(staging, real)
        return
    owns = _check_owned(real, kind, what, legacy)  # again: a file a user added meanwhile is not lost
    os.chmod(staging, stat.S_IMODE(real.stat().st_mode))
    old = staging
    if not _exchange(staging, real):  # no atomic exchange here: two renames, mended by the next run
        old = _beside(real, "old")
        os.rename(real, old)
        os.rename(staging, real)
    _remove_owned(old, owns)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    import ctypes
    import errno

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _remove_owned(folder: Path, owns: Owns) -> None:
    """Remove the replaced output's own files, then its emptied folders; anything else stays."""
    for path in [p for p in folder.rglob("*") if not p.is_dir() or p.is_symlink()]:
        if owns(path.relative_to(folder).as_posix()):
            path.unlink()
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir() and not p.is_symlink()), reverse=True):
        if not any(sub.iterdir()):
            sub.rmdir()
    try:
        folder.rmdir()
    except OSError:
        warnings.warn(f"kept {str(folder)!r}: it holds files mrd-bench did not write", MrdBenchWarning, stacklevel=3)


def _mend_interrupted_swap(out: Path) -> None:
    """A run killed between the two renames of `_swap_in` left `out` missing: put the old output
    back; one killed while removing the old output's files: finish that."""
    old = _beside(out, "old")
    if not old.is_dir():
        return
    real = Path(os.path.realpath(out))
    if not os.path.lexists(real):
        os.rename(old, real)
        return
    manifest = old / MANIFEST
    kind = json.loads(manifest.read_text()).get("written_by") if manifest.is_file() else None
    _remove_owned(old, owner(old, kind)[0] if kind else (lambda rel: False))


def write_manifest(folder: Path, kind: str) -> None:
    """List every file in `folder` as `kind`'s own: for a command that writes in place (the demo,
    whose folder held only its own files when it started), so a later --overwrite may replace them."""
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())
    write_json(folder / MANIFEST, {"written_by": kind, "files": [f for f in files if f != MANIFEST]})
