"""Config dataclasses are the CLI: each field's help text becomes its flag's help.

`opt(default, help)` declares a field; `add_arguments(parser, cls)` adds `--field-name`
flags (booleans become switches); `from_args(cls, args)` builds the frozen config, whose
`__post_init__` validates the values once. `part(Other, ...)` holds another config whose
fields become flags of the same command (some of them, renamed or with other defaults), as
TRL's parser takes several dataclasses.
"""
from __future__ import annotations

import argparse
import typing
from dataclasses import MISSING, field, fields
from typing import Any, Iterable, Optional


def opt(default: Any, help: str, *, flag: tuple[str, ...] = (), positional: bool = False,
        required: bool = False):
    """A config field and its flag: `--name-with-dashes` unless `flag` names it (aliases too),
    a positional argument with `positional`, one that must be given with `required`."""
    return field(default=default, metadata={"help": help, "flag": tuple(flag), "positional": positional,
                                            "required": required})


def part(cls, *, only: Optional[Iterable[str]] = None, skip: Iterable[str] = (),
         flags: Optional[dict[str, tuple[str, str]]] = None, renamed: Optional[dict[str, str]] = None, **defaults):
    """A field that holds a `cls` config; its fields are flags of this command too (`add_arguments`'
    `only`, `skip`, `flags`, `renamed` and `defaults` say which, and how)."""
    return field(default=None, metadata={"part": cls, "only": None if only is None else tuple(only),
                                         "skip": tuple(skip), "flags": flags or {}, "renamed": renamed or {},
                                         "defaults": defaults})


def _included(f, only, skip) -> bool:
    return ("help" in f.metadata or "part" in f.metadata) and f.name not in skip and (only is None or f.name in only)


def _flag_type(cls, name: str):
    hint = typing.get_type_hints(cls)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def add_arguments(parser: argparse.ArgumentParser, cls, *, only: Optional[Iterable[str]] = None,
                  skip: Iterable[str] = (), flags: Optional[dict[str, tuple[str, str]]] = None,
                  renamed: Optional[dict[str, str]] = None, **defaults) -> None:
    """One flag per field of `cls` (those in `only`, none in `skip`).

    `defaults` overrides a field's default for this command; `flags` renames a field's
    flag and help text, {field: (flag, help)}, and makes it required; `renamed` only renames
    its flag, {field: flag}.
    """
    flags = flags or {}
    for f in fields(cls):
        if not _included(f, only, skip):
            continue
        if "part" in f.metadata:
            m = f.metadata
            add_arguments(parser, m["part"], only=m["only"], skip=m["skip"], flags=m["flags"], renamed=m["renamed"],
                          **m["defaults"])
            continue
        default = defaults.get(f.name, f.default if f.default is not MISSING else None)
        flag, help = flags.get(f.name, ((renamed or {}).get(f.name, "--" + f.name.replace("_", "-")), f.metadata["help"]))
        kind = _flag_type(cls, f.name)
        if f.metadata.get("positional"):
            parser.add_argument(f.name, help=help)
        elif f.metadata.get("required"):
            parser.add_argument(*(f.metadata["flag"] or (flag,)), dest=f.name, type=kind, required=True, help=help)
        elif f.metadata.get("flag"):
            shown = "" if default is None else f" (default: {default})"
            parser.add_argument(*f.metadata["flag"], dest=f.name, type=kind, default=default, help=help + shown)
        elif kind is bool:
            parser.add_argument(flag, dest=f.name, action="store_true", default=default, help=help)
        elif f.name in flags:
            parser.add_argument(flag, dest=f.name, type=kind, required=True, help=help)
        else:
            shown = "" if default is None else f" (default: {default})"
            parser.add_argument(flag, dest=f.name, type=kind, default=default, help=help + shown)


def from_args(cls, args: argparse.Namespace, *, only: Optional[Iterable[str]] = None, skip: Iterable[str] = ()):
    """The frozen `cls` from parsed flags: its parts built from the same flags, each from the fields
    it added (a field a part skips keeps its default)."""
    values = {}
    for f in fields(cls):
        if not _included(f, only, skip):
            continue
        if "part" in f.metadata:
            values[f.name] = from_args(f.metadata["part"], args, only=f.metadata["only"], skip=f.metadata["skip"])
        elif hasattr(args, f.name):
            values[f.name] = getattr(args, f.name)
    return cls(**values)
