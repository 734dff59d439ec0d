"""lm-eval, run for mrd_bench: the `mrd-bench eval` command (lm-eval's own CLI with our task
folder and the `hf-mrd` model type) and `evaluate`, which library code calls: lm-eval's
`simple_evaluate` in this process, its outputs written as lm-eval's CLI writes them, its results
returned as a value. The leaderboard's seeding and verification, the demo and the reproduction
study evaluate their models through `evaluate`."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Optional, Sequence
from unittest import mock

from mrd_bench.lmeval.paths import tasks_dir


def evaluate(model: str, tasks: list[str], metadata: dict, out: Path, *, chat_template: bool,
             batch_size: int = 16, device: str = "cpu", gen_kwargs: Optional[str] = None,
             log_samples: bool = True, samples: Optional[dict[str, list[int]]] = None) -> dict:
    """lm-eval's results of `tasks` on `model` (hf-mrd): its `results` block (task -> {metric,filter:
    value}) and, with `log_samples`, `samples` (task -> the rows its samples file holds). Its files
    go to `out` (replaced), its tables and log lines to `out/lm_eval.log`."""
    argv = ["--model", "hf-mrd", "--model_args", f"pretrained={model},dtype=float32", "--tasks", ",".join(tasks),
            "--metadata", json.dumps(metadata), "--batch_size", str(batch_size), "--output_path", str(out),
            "--device", device]
    if log_samples:
        argv.append("--log_samples")
    if chat_template:
        argv.append("--apply_chat_template")
    if gen_kwargs:
        argv += ["--gen_kwargs", gen_kwargs]
    if samples is not None:  # only these documents of each task (lm-eval's --samples; ascending indices)
        argv += ["--samples", json.dumps({task: sorted(idx) for task, idx in samples.items()})]
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    level = os.environ.get("LMEVAL_LOG_LEVEL") or "ERROR"
    with open(out / "lm_eval.log", "w") as log, contextlib.redirect_stdout(log), \
            mock.patch.dict(os.environ, {"LMEVAL_LOG_LEVEL": level}):
        from lm_eval.utils import setup_logging

        setup_logging()
        return _simple_evaluate(prepare(argv))


def _simple_evaluate(argv: list[str]) -> dict:
    """What lm-eval's `run` command does with `argv` (its parser, its config, `simple_evaluate`, its
    tracker's files), with the results returned instead of only printed."""
    from lm_eval import simple_evaluate
    from lm_eval._cli import HarnessCLI
    from lm_eval.config.evaluate_config import EvaluatorConfig
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.utils import handle_non_serializable, make_table

    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    cfg = EvaluatorConfig.from_cli(HarnessCLI()._parser.parse_args(["run", *argv]))
    if cfg.output_path:
        cfg.hf_hub_log_args["output_path"] = cfg.output_path
    tracker = EvaluationTracker(**cfg.hf_hub_log_args)
    with _task_names_checked():
        task_manager = cfg.process_tasks(cfg.metadata)
        results = simple_evaluate(
            model=cfg.model, model_args=cfg.model_args, tasks=cfg.tasks, num_fewshot=cfg.num_fewshot,
            batch_size=cfg.batch_size, max_batch_size=cfg.max_batch_size, device=cfg.device, use_cache=cfg.use_cache,
            limit=cfg.limit, samples=cfg.samples, check_integrity=cfg.check_integrity, write_out=cfg.write_out,
            log_samples=cfg.log_samples, evaluation_tracker=tracker, system_instruction=cfg.system_instruction,
            apply_chat_template=cfg.apply_chat_template, fewshot_as_multiturn=cfg.fewshot_as_multiturn,
            gen_kwargs=cfg.gen_kwargs, task_manager=task_manager, verbosity=cfg.verbosity,
            predict_only=cfg.predict_only, confirm_run_unsafe_code=cfg.confirm_run_unsafe_code,
            cache_requests=cfg.cache_requests.get("cache_requests", False),
            rewrite_requests_cache=cfg.cache_requests.get("rewrite_requests_cache", False),
            delete_requests_cache=cfg.cache_requests.get("delete_requests_cache", False),
            random_seed=cfg.seed[0] if cfg.seed else None, numpy_random_seed=cfg.seed[1] if cfg.seed else None,
            torch_random_seed=cfg.seed[2] if cfg.seed else None,
            fewshot_random_seed=cfg.seed[3] if cfg.seed else None, metadata=cfg.metadata)
    samples = results.pop("samples") if cfg.log_samples else None
    tracker.save_results_aggregated(results=results, samples=samples)
    if samples is not None:
        for task in results["configs"]:
            tracker.save_results_samples(task_name=task, samples=samples[task])  # sanitises the rows in place
        # the rows as the samples files hold them
        results["samples"] = {task: [json.loads(json.dumps(row, default=handle_non_serializable, ensure_ascii=False))
                                     for row in rows] for task, rows in samples.items()}
    print(make_table(results))
    if "groups" in results:
        print(make_table(results, "groups"))
    return results


def run_eval(argv: Sequence[str]) -> int:
    """lm-eval's own CLI with our task folder and the token-level model type `hf-mrd`.

    Two defaults where lm-eval's own would mislead: a batch size of 16 (32 on a GPU; lm-eval's
    default is 1) unless --batch_size is given, and a note when TOFU tasks run without
    --apply_chat_template (their raw-question prompt is meant for the chat template)."""
    from lm_eval.__main__ import cli_evaluate

    argv = prepare(argv)
    sys.argv = ["lm_eval", "run", *argv]
    with _task_names_checked():
        cli_evaluate()
    return 0


def prepare(argv: Sequence[str]) -> list[str]:
    """lm-eval's flags with our defaults added, checked first (`check_eval_args`); registers hf-mrd."""
    import lm_eval.models  # noqa: F401  (the built-in models register first)

    import mrd_bench.lmeval.model  # noqa: F401  (registers hf-mrd)

    argv = list(argv[1:] if argv[:1] == ["run"] else argv)
    given = {a.split("=")[0] for a in argv if a.startswith("--")}
    check_eval_args(argv)
    if "--include_path" not in given:
        argv += ["--include_path", str(tasks_dir())]
    if "--batch_size" not in given and not {"-h", "--help"} & given:
        import torch

        argv += ["--batch_size", "32" if torch.cuda.is_available() else "16"]
    tasks = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--tasks"), "")
    if "tofu" in tasks and "--apply_chat_template" not in given and '"qa"' not in " ".join(argv):
        print("mrd-bench: note: the TOFU tasks' prompt is the raw question, meant for the chat template; pass "
              "--apply_chat_template (as `mrd-bench finetune` trains a chat model), or "
              "--metadata '{\"prompt_format\": \"qa\"}' for a \"Question: ...\\nAnswer:\" prompt.",
              file=sys.stderr)
    return argv


@contextlib.contextmanager
def _task_names_checked():
    try:
        yield
    except ValueError as err:  # lm-eval raises this one for unknown task names, with a traceback
        if not str(err).startswith("Tasks not found"):
            raise
        from mrd_bench.errors import ConfigError

        raise ConfigError(f"{err}: neither lm-eval nor mrd_bench has such a task; `lm_eval ls tasks` lists "
                          "lm-eval's, tasks/README.md ours.") from None


def flag_values(argv: Sequence[str], flag: str) -> Optional[list[str]]:
    """The values of an lm-eval flag (`--flag a b`, `--flag=a`), or None where it is absent."""
    for i, arg in enumerate(argv):
        if arg == flag:
            values = []
            for value in argv[i + 1:]:
                if value.startswith("--"):
                    break
                values.append(value)
            return values
        if arg.startswith(flag + "="):
            return [arg[len(flag) + 1:]]
    return None


def check_eval_args(argv: Sequence[str]) -> None:
    """What lm-eval would answer with a traceback, or only after loading the model, as one line first:
    --metadata that is not a JSON object or not our tasks' keys and types, a misspelt mrd_bench task,
    a local model path that is missing, and the flags of lm-eval's own that lmeval/checks.py checks."""
    import difflib

    from mrd_bench.errors import ConfigError
    from mrd_bench.lmeval.paths import our_task_names
    from mrd_bench.models import check_model_path

    metadata = flag_values(argv, "--metadata")
    if metadata:
        text = " ".join(metadata)
        try:
            parsed = json.loads(text)
        except ValueError as err:
            raise ConfigError(f"--metadata is not JSON ({err}): {text!r}; give an object, e.g. "
                              "'{\"split\": \"forget01\"}' (single quotes around it in the shell).") from None
        if not isinstance(parsed, dict):
            raise ConfigError(f"--metadata must be a JSON object of settings, not {type(parsed).__name__} {text!r}.")
    ours = our_task_names()
    for name in (n for value in (flag_values(argv, "--tasks") or []) for n in value.split(",") if n):
        close = difflib.get_close_matches(name, ours, n=1, cutoff=0.75)
        if name not in ours and close:
            raise ConfigError(f"unknown task {name!r}; did you mean {close[0]!r}? (mrd_bench's tasks are listed "
                              "in tasks/README.md)")
    for value in flag_values(argv, "--model_args") or []:
        for pair in value.replace(" ", ",").split(","):
            key, _, path = pair.partition("=")
            if key.strip() == "pretrained" and path:
                check_model_path(path.strip())
    if {"-h", "--help"} & set(argv):
        return
    from mrd_bench.lmeval.checks import check_flags, check_metadata, lm_eval_flags

    if metadata:
        tasks = [n for value in (flag_values(argv, "--tasks") or []) for n in value.split(",") if n]
        check_metadata(parsed, tasks, ours)
    check_flags(lm_eval_flags(argv))
