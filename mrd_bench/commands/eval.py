"""`mrd-bench eval`: lm-eval's own CLI (every flag after `eval` is lm-eval's) with our task folder
and the token-level model type `hf-mrd`."""
from __future__ import annotations

from typing import Sequence


def run_argv(argv: Sequence[str]) -> int:
    from mrd_bench.lmeval.run import run_eval

    return run_eval(argv)


def output_argv(argv: Sequence[str]):
    from mrd_bench.lmeval.run import flag_values

    return next(iter(flag_values(argv, "--output_path") or []), None)
