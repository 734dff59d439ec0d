"""mrd-bench: the command line. One module per command under mrd_bench/commands/; this file is
their table. Flags become frozen configs, validated once."""
from __future__ import annotations

import argparse
import errno
import os
import re
import sys
from typing import Optional, Sequence

from mrd_bench.errors import MrdBenchError

# command -> its one-line help (the command's module is mrd_bench/commands/<command>.py, `-` as `_`)
COMMANDS = {
    "demo": "fine-tune the embedded model, score MRD, write a report",
    "score": "score per-sample difficulty (MRD, or CUD) on a benchmark split",
    "cud-labels": "easy/hard samples for CUD's anchors: the reference unlearners vote",
    "circuits": "draw one sample's CUD circuit beside the easy and hard anchors (PNG)",
    "compare-difficulty": "agreement of two difficulty scorings: Spearman, Kendall, Cohen's kappa of bins, scatter plot",
    "export-model": "write a model (e.g. the embedded GGUF) as safetensors",
    "annotate": "join a difficulty signal (MRD, CUD, NLL, ...) to a split, with bins, for the tasks",
    "eval": "run lm-eval (its own flags) with our tasks and the hf-mrd model type",
    "report": "markdown + HTML report with plots from an lm-eval output folder",
    "data": "load a benchmark split and say what it holds",
    "unlearn": "unlearn a forget set with a reference method and sampler; writes a checkpoint and its run record",
    "finetune": "fine-tune the original (full) or retain-only model on a split",
    "updates-to-forget": "per sample alone, count the updates until its MA falls below the threshold (MRD's ground "
                         "truth)",
    "difficulty-check": "which difficulty signal predicts forgetting for this model and these methods: each "
                        "signal's Spearman with measured updates-to-forget",
    "tasks-dir": "print the folder of our lm-eval tasks (for --include_path)",
    "leaderboard": "difficulty-controlled leaderboards: submit, validate, build, verify, reference",
    "reproduce": "the reproduction study of the MRD and CUD papers' claims: cached, resumable stages, then a report "
                 "with a verdict per claim",
    "audit": "audit a published claim: how hard its forget set is, and what its metric would be at the reference "
             "difficulty mix",
}


def build_parser(selected: Optional[str] = None) -> argparse.ArgumentParser:
    """Every command with its help; the flags of `selected` only (built from its config), so that
    `mrd-bench --help` imports no command's code."""
    from mrd_bench.commands import load
    from mrd_bench.config import add_arguments

    parser = argparse.ArgumentParser(prog="mrd-bench", description=__doc__)
    parser.error = _one_line_error(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help in COMMANDS.items():
        p = sub.add_parser(name, help=help, add_help=name != "eval")
        p.error = _one_line_error(p)
        if name != selected or name == "eval":
            continue
        module = load(name)
        if name == "leaderboard":
            actions = p.add_subparsers(dest="action", required=True, metavar="{" + ",".join(module.ACTIONS) + "}")
            for action, (config, run, action_help) in module.ACTIONS.items():
                q = actions.add_parser(action, help=action_help)
                q.error = _one_line_error(q)
                add_arguments(q, config)
                q.set_defaults(config=config, run=run)
        else:
            add_arguments(p, module.Config)
            p.set_defaults(config=module.Config, run=module.run, output=getattr(module, "output", None))
    return parser


def _selected(argv: Sequence[str]) -> Optional[str]:
    return next((a for a in argv if not a.startswith("-")), None)


def _one_line_error(parser: argparse.ArgumentParser):
    """argparse's error, as the one line every other mrd-bench error is (no usage block)."""
    def error(message: str):
        parser.exit(2, f"mrd-bench: error: {message} (see `{parser.prog} --help`)\n")

    return error


def _quiet_libraries() -> None:
    """--no-progress hides the libraries' bars too (transformers' weight loading and saving,
    datasets' maps, the hub's downloads), not only ours."""
    import datasets
    import huggingface_hub.utils
    import transformers

    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    huggingface_hub.utils.disable_progress_bars()


NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _join_negative_numbers(argv: list[str]) -> list[str]:
    """`--sigma -1e-4` as `--sigma=-1e-4`: argparse takes a negative number in scientific notation
    for a flag, answers "expected one argument", and the real reason (σ must be positive) is lost."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and NEGATIVE_NUMBER.match(arg):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    from mrd_bench import commands

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] != ["eval"]:
        argv = _join_negative_numbers(argv)
    args = None if argv[:1] == ["eval"] else build_parser(_selected(argv)).parse_args(argv)
    commands.invocation[:] = argv  # what the run records as its command
    target = commands.load("eval").output_argv(argv) if args is None else None
    _one_line_warnings()
    try:
        if args is None:  # every flag after `eval` is lm-eval's
            return commands.load("eval").run_argv(argv[1:])
        from mrd_bench.config import from_args
        from mrd_bench.io import output_lock

        config = from_args(args.config, args)
        _check_seed(config)
        if getattr(config, "no_progress", False):
            _quiet_libraries()
        output = getattr(args, "output", None)
        target = output(config) if output else getattr(config, "out", None)
        if target is None:
            args.run(config)
        else:
            from mrd_bench.cache import usable_cache

            usable_cache("locks")  # where output_lock keeps its lock
            with output_lock(target):
                args.run(config)
    except MrdBenchError as err:
        from mrd_bench.leaderboard.untrusted import printable

        print(f"mrd-bench: error: {printable(err)}", file=sys.stderr)  # one line, whatever a file held
        return 2
    except KeyboardInterrupt:
        print("mrd-bench: error: interrupted; run the same command to resume", file=sys.stderr)
        return 130
    except OSError as err:
        if err.errno not in NO_SPACE:
            raise
        print(f"mrd-bench: error: {_no_space(err, target)}", file=sys.stderr)
        return 2
    return 0


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def _one_line_warnings() -> None:
    """Our warnings print as one line, like our errors (a library's keep their own format)."""
    import warnings

    from mrd_bench.errors import MrdBenchWarning

    library = warnings.showwarning
    if getattr(library, "mrd_bench", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, MrdBenchWarning):
            return library(message, category, filename, lineno, file, line)
        from mrd_bench.leaderboard.untrusted import printable

        print(f"mrd-bench: warning: {printable(message)}", file=file or sys.stderr)

    show.mrd_bench = True
    warnings.showwarning = show


def _no_space(err: OSError, target: Optional[str]) -> str:
    """The one line for a full disk: the path being written, and the space left there."""
    import shutil
    from pathlib import Path

    path = Path(err.filename or target or os.getcwd()).expanduser().absolute()
    where = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
    free = f" ({shutil.disk_usage(where).free:,} bytes free there)" if where.exists() else ""
    return (f"no space left on the device writing {str(path)!r}{free}; free some space or choose another "
            "output path, then run the same command to resume.")


def _check_seed(config) -> None:
    """torch's and numpy's generators take seeds in [0, 2^64); a larger one is a traceback deep inside."""
    seed = next((getattr(c, "seed", None) for c in _parts(config) if getattr(c, "seed", None) is not None), None)
    if isinstance(seed, int) and not 0 <= seed < 2 ** 64:
        raise MrdBenchError(f"--seed must be a whole number from 0 to 2**64-1 (18446744073709551615); got {seed}.")


def _parts(config) -> list:
    """`config` and the configs it holds (`config.part` fields)."""
    from dataclasses import fields, is_dataclass

    return [config] + [getattr(config, f.name) for f in fields(config) if is_dataclass(getattr(config, f.name))]


if __name__ == "__main__":
    sys.exit(main())
