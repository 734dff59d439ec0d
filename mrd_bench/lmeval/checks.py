"""What `mrd-bench eval` refuses before lm-eval loads a model or reads a document.

lm-eval answers some flags with a traceback (no `pretrained`, `dtype=float33`, `--limit 0`),
takes others silently and records them in the results (`--batch_size 0`, `reuse_prefix=maybe`,
a misspelt `--metadata` key our tasks never read), and finds an unwritable `--output_path` only
after the whole evaluation. Each is one line here, before any work. The checks read the flags
as lm-eval's own parser reads them (`lm_eval_flags`).
"""
from __future__ import annotations

import argparse
import difflib
import inspect
import math
from pathlib import Path
from typing import Any, Optional, Sequence

from mrd_bench.errors import ConfigError

TEXT = {"type": "string"}
PATH = {"type": ["string", "null"], "description": "a path (text)"}
COUNT = {"type": "integer", "minimum": 1, "description": "a whole number >= 1"}
# The keys our tasks' loaders read from --metadata (tasks/*/utils.py), with their types.
METADATA_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "split": {**TEXT, "description": "a split name (text), e.g. \"forget05\""},
        "benchmark": {**TEXT, "description": "a benchmark name (text), e.g. \"tofu\""},
        "retain_split": {"type": ["string", "null"], "description": "a split name (text), e.g. \"retain90\""},
        "mmlu_split": {**TEXT, "description": "an MMLU split name (text), e.g. \"test\""},
        "book": {**TEXT, "description": "a book name (text), e.g. \"melville-moby_dick\""},
        "heldout_book": {**TEXT, "description": "a book name (text), e.g. \"austen-emma\""},
        "n": COUNT,
        "heldout_n": COUNT,
        "subset_authors": {"type": ["integer", "null"], "minimum": 1, "description": "a whole number >= 1"},
        "difficulty": PATH,
        "data_dir": PATH,
        "data_path": PATH,
        "retain_reference": PATH,
        "detoxify_checkpoint": PATH,
        "prompt_format": {"enum": ["raw", "qa"], "description": "\"raw\" or \"qa\""},
        "renormalize": {"type": "boolean", "description": "true or false (JSON, unquoted)"},
    },
}
BOOLEAN_WORDS = ("true", "false", "yes", "no", "1", "0")
DTYPE_ARGS = ("dtype", "softmax_dtype", "mixed_precision_dtype")
FLAG_ARGS = ("reuse_prefix", "drop_finished", "trust_remote_code", "parallelize", "logits_cache",
             "use_fast_tokenizer", "truncation")
COUNT_ARGS = ("max_length", "max_batch_size", "gen_batch_size")


def lm_eval_flags(argv: Sequence[str]) -> argparse.Namespace:
    """`argv` as `lm_eval run` parses it; a parse error is one ConfigError line (not a usage block)."""
    from lm_eval._cli.run import Run

    subparsers = argparse.ArgumentParser(prog="mrd-bench eval").add_subparsers()
    Run(subparsers)
    parser = subparsers.choices["run"]

    def error(message: str):
        raise ConfigError(f"{message} (see `mrd-bench eval --help`, lm-eval's own flags)")

    parser.error = error
    try:
        return parser.parse_args(list(argv))
    except ValueError as err:  # lm-eval's dict flags raise it for a malformed value
        raise ConfigError(f"{str(err).splitlines()[0]} (see `mrd-bench eval --help`)") from None


def check_metadata(metadata: dict, tasks: Sequence[str], ours: Sequence[str]) -> None:
    """Unknown keys get a did-you-mean (and, where every task is ours, an error anyway: nothing
    would read them); known keys must have their type."""
    from jsonschema import Draft202012Validator

    known = list(METADATA_SCHEMA["properties"])
    only_ours = bool(tasks) and all(t in ours for t in tasks)
    for key in metadata:
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.7)
        if close:
            raise ConfigError(f"unknown --metadata key {key!r}; did you mean {close[0]!r}? (our tasks read "
                              f"{', '.join(known)})")
        if only_ours:
            raise ConfigError(f"unknown --metadata key {key!r}: none of the tasks reads it (ours read "
                              f"{', '.join(known)}); drop it or fix its name.")
    for err in sorted(Draft202012Validator(METADATA_SCHEMA).iter_errors(metadata), key=lambda e: list(e.path)):
        key = str(err.path[0]) if err.path else "value"
        want = METADATA_SCHEMA["properties"].get(key, {}).get("description", "")
        raise ConfigError(f"--metadata {key}: {err.message}" + (f"; {key} is {want}." if want else "."))


def check_positive_count(value: Any, flag: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{flag} must be a whole number >= 1; got {value!r}.")


def check_batch_size(value: Any, flag: str = "--batch_size") -> None:
    """lm-eval's batch sizes: a whole number >= 1, 'auto', or 'auto:N' (N re-tunings)."""
    text = str(value).strip()
    if text == "auto" or (text.startswith("auto:") and text[5:].isdigit() and int(text[5:]) >= 1):
        return
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{flag} must be a whole number >= 1, 'auto' or 'auto:N'; got {value!r}.")


def check_limit(limit: Optional[float]) -> None:
    """lm-eval's --limit: a count of documents per task, or a fraction of them below 1."""
    if limit is not None and not (math.isfinite(limit) and limit > 0):
        raise ConfigError(f"--limit must be a positive number of documents per task (or a fraction in (0, 1)); "
                          f"got {limit:g}.")


def _parameters(cls) -> set[str]:
    """Every named keyword of `cls.__init__` along its classes (a subclass passes **kwargs up)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            names |= {p.name for p in inspect.signature(klass.__init__).parameters.values()
                      if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"}
    return names


def check_model_args(model: str, args: dict) -> None:
    """For lm-eval's Hugging Face models (hf, hf-mrd): `pretrained` present and no misspelt key, a
    torch dtype, whole numbers where counts are meant, booleans where switches are."""
    import torch
    from lm_eval.api.registry import get_model
    from lm_eval.models.huggingface import HFLM

    try:
        cls = get_model(model)
    except (ValueError, KeyError):
        return  # lm-eval names the unknown model itself
    if not (isinstance(cls, type) and issubclass(cls, HFLM)):
        return
    known = _parameters(cls)
    for key in args:
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.8)
        if key not in known and close:
            raise ConfigError(f"unknown --model_args key {key!r}; did you mean {close[0]!r}?")
    if not args.get("pretrained"):
        raise ConfigError(f"--model {model} needs --model_args pretrained=PATH (a checkpoint folder, e.g. from "
                          f"`mrd-bench finetune`, or a hub id); got {_shown(args)}.")
    for key in DTYPE_ARGS:
        value = args.get(key)
        if value not in (None, "auto") and not isinstance(getattr(torch, str(value), None), torch.dtype):
            raise ConfigError(f"--model_args {key}={value!r} is not a torch dtype; choose auto, float32, bfloat16 "
                              "or float16.")
    for key in COUNT_ARGS:
        if args.get(key) is not None:
            check_positive_count(args[key], f"--model_args {key}")
    if "batch_size" in args:
        check_batch_size(args["batch_size"], "--model_args batch_size")
    for key in FLAG_ARGS:
        value = args.get(key)
        if value is not None and not isinstance(value, bool) and str(value).strip().lower() not in BOOLEAN_WORDS:
            raise ConfigError(f"--model_args {key}={value!r} is not a switch; give true or false.")


def _shown(args: dict) -> str:
    return "--model_args " + ",".join(f"{k}={v}" for k, v in args.items()) if args else "no --model_args"


def check_output_path(output_path: Optional[str]) -> None:
    """lm-eval writes a folder at --output_path (or, for a path ending in .json, files beside it):
    what cannot hold them is refused now, not after the evaluation ("Could not save results")."""
    from mrd_bench.io import check_output_path as writable

    if not output_path:
        return
    path = Path(output_path).expanduser()
    if path.suffix == ".json":
        writable(path, flag="--output_path")  # lm-eval writes <stem>_<date>.json beside it
        return
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--output_path {output_path!r} is a file; lm-eval writes a folder there (results and "
                          "samples under a model-named subfolder): give a folder path, or one ending in .json.")
    writable(path, folder=True, flag="--output_path")


def check_flags(ns: argparse.Namespace) -> None:
    """The parsed flags, before lm-eval starts."""
    if not getattr(ns, "tasks", None) and not getattr(ns, "config", None):
        raise ConfigError("--tasks is required: which tasks to run, e.g. --tasks tofu_forget_mrd "
                          "(`mrd-bench tasks-dir` holds ours).")
    check_limit(getattr(ns, "limit", None))
    if getattr(ns, "batch_size", None) is not None:
        check_batch_size(ns.batch_size)
        if (ns.model or "hf") == "hf-mrd" and not str(ns.batch_size).strip().isdigit():
            raise ConfigError(f"--batch_size {ns.batch_size}: hf-mrd takes a number (e.g. --batch_size 16); its "
                              "token-level passes do not search for a batch size.")
    if getattr(ns, "log_samples", False) and not getattr(ns, "output_path", None):
        raise ConfigError("--log_samples needs --output_path: the folder the samples are written to.")
    if not getattr(ns, "config", None):
        check_model_args(ns.model or "hf", ns.model_args or {})
    check_output_path(getattr(ns, "output_path", None))
