"""One module per `mrd-bench` command. Each has a frozen `Config` (a dataclass whose fields carry
their help text: the parser is built from it) and `run(config)`; `output(config)`, where a module
has one, names what the command writes (locked while it runs; default: `config.out`).
`leaderboard` holds its actions' configs in `ACTIONS`; `eval` passes its flags to lm-eval.

`cli.py` lists the commands and imports only the one that runs, so `mrd-bench --help` loads no
model code."""
from __future__ import annotations

import importlib
from types import ModuleType

from mrd_bench.config import opt

# The command line being run, as its run record states it (set by cli.main).
invocation: list[str] = []


def load(name: str) -> ModuleType:
    return importlib.import_module(f"mrd_bench.commands.{name.replace('-', '_')}")


def overwrite_opt():
    return opt(False, "replace existing results")


def no_progress_opt():
    return opt(False, "hide progress bars")


def main_print(text: str) -> None:
    """One line, not one per data-parallel process."""
    import os

    if os.environ.get("RANK", "0") == "0":
        print(text)
