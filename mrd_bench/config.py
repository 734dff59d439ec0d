"""Config dataclasses are the CLI: each field's help text becomes its flag's help.

`opt(default, help)` declares a field; `add_arguments(parser, cls)` adds `--field-name`
flags (booleans become switches); `from_args(cls, args)` builds the frozen config, whose
`__post_init__` validates the values once.
"""
from __future__ import annotations

import argparse
import typing
from dataclasses import MISSING, field, fields
from typing import Any, Iterable, Optional


def opt(default: Any, help: str):
    return field(default=default, metadata={"help": help})


def _flag_type(cls, name: str):
    hint = typing.get_type_hints(cls)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def add_arguments(parser: argparse.ArgumentParser, cls, *, only: Optional[Iterable[str]] = None,
                  skip: Iterable[str] = (), flags: Optional[dict[str, tuple[str, str]]] = None,
                  **defaults) -> None:
    """One flag per field of `cls` (those in `only`, none in `skip`).

    `defaults` overrides a field's default for this command; `flags` renames a field's
    flag and help text, {field: (flag, help)}, and makes it required.
    """
    flags = flags or {}
    for f in fields(cls):
        if "help" not in f.metadata or f.name in skip or (only is not None and f.name not in only):
            continue
        default = defaults.get(f.name, f.default if f.default is not MISSING else None)
        flag, help = flags.get(f.name, ("--" + f.name.replace("_", "-"), f.metadata["help"]))
        kind = _flag_type(cls, f.name)
        if kind is bool:
            parser.add_argument(flag, dest=f.name, action="store_true", default=default, help=help)
        elif f.name in flags:
            parser.add_argument(flag, dest=f.name, type=kind, required=True, help=help)
        else:
            shown = "" if default is None else f" (default: {default})"
            parser.add_argument(flag, dest=f.name, type=kind, default=default, help=help + shown)


def from_args(cls, args: argparse.Namespace):
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})
