"""mrd-bench: the command line. Flags become frozen configs, validated once."""
from __future__ import annotations

import argparse
import errno
import os
import re
import sys
from typing import Optional, Sequence

from mrd_bench.errors import MrdBenchError
from mrd_bench.lmeval.paths import tasks_dir
from mrd_bench.models import EMBEDDED


def _demo(args: argparse.Namespace) -> None:
    from mrd_bench.demo import DemoConfig, run_demo

    cfg = DemoConfig(out=args.out, model=args.model, train_samples=args.train_samples,
                     forget_split=args.forget_split, holdout_split=args.holdout_split,
                     epochs=args.epochs, lr=args.lr, sigma=args.sigma, draws=args.draws,
                     seed=args.seed, overwrite=args.overwrite, board_runs=args.board_runs,
                     board_steps=args.board_steps, board_lr=args.board_lr)
    out = run_demo(cfg, progress=not args.no_progress)
    print(f"Report: {out / 'report.md'}  (plot: {out / 'mrd.png'}, scores: {out / 'scores.jsonl'})")
    if (out / "board" / "index.html").is_file():
        print(f"Leaderboard: {(out / 'board' / 'index.html').resolve().as_uri()}")


def _score(args: argparse.Namespace) -> None:
    from mrd_bench.io import guard_output
    from mrd_bench.models import torch_dtype

    guard_output(args.out, args.overwrite, what="scores", inputs=_read_paths(args, "model", "labels"))
    torch_dtype(args.dtype)
    if args.metric == "cud":
        return _score_cud(args)
    if args.metric != "mrd":
        raise MrdBenchError(f"--metric must be mrd or cud; got {args.metric!r}.")
    from mrd_bench.models import load_model
    from mrd_bench.pipeline import encode_split, targets
    from mrd_bench.provenance import data_hash, record
    from mrd_bench.scorers.runner import ScoreConfig
    from mrd_bench.scorers.stream import score_to_file

    cfg = ScoreConfig(estimator=args.estimator, sigma=args.sigma, draws=args.k, seed=args.seed,
                      eps=args.eps, batch_size=16 if args.batch_size is None else args.batch_size,
                      chunk_batches=args.chunk_batches,
                      score_prompt=args.score_prompt, baselines=not args.no_baselines, bins=args.bins)
    cfg.build()  # validates σ before any loading
    dataset = _limited(_load(args), args)
    if len(dataset) < args.bins:
        raise MrdBenchError(f"--bins {args.bins} needs at least {args.bins} samples; {args.benchmark}/{args.split} "
                            f"has {len(dataset)} here. Use fewer bins.")
    model, tokenizer = load_model(args.model, dtype=args.dtype, trust_remote_code=args.trust_remote_code)
    items = encode_split(tokenizer, dataset, max_length=args.max_length, score_prompt=args.score_prompt)
    meta = record(benchmark=args.benchmark, split=args.split, subset_authors=args.subset_authors, model=args.model,
                  data_hash=data_hash(dataset))
    out = score_to_file(model, items, dataset["sample_id"], targets(dataset), cfg, args.out, meta=meta,
                        overwrite=args.overwrite, progress=not args.no_progress)
    _main_print(f"Wrote {len(dataset)} scores to {out} (bin edges in {out.with_name(out.stem + '.meta.json')})")


def _score_cud(args: argparse.Namespace) -> None:
    from mrd_bench.data.source import prompt_and_target
    from mrd_bench.models import load_model
    from mrd_bench.pipeline import encode_split
    from mrd_bench.provenance import data_hash, record
    from mrd_bench.scorers.corrupt import corrupt, entity_pool
    from mrd_bench.scorers.cud_run import CudConfig, read_labels, score_cud_to_file
    from mrd_bench.scorers.eap import check_architecture
    from mrd_bench.scorers.runner import check_finite_weights

    cfg = CudConfig(baseline=args.baseline, steps=args.steps, heads=args.heads, top_edges=args.top_edges,
                    distance=args.distance, folds=args.folds, seed=args.seed,
                    batch_size=8 if args.batch_size is None else args.batch_size, chunk_batches=args.chunk_batches,
                    bins=args.bins)
    if not args.labels:
        raise MrdBenchError("--metric cud needs --labels (easy/hard samples from `mrd-bench cud-labels` on the "
                            "same original model and split).")
    read_labels(args.labels)
    dataset = _limited(_load(args), args)
    if len(dataset) < args.bins:
        raise MrdBenchError(f"--bins {args.bins} needs at least {args.bins} samples; {args.benchmark}/{args.split} "
                            f"has {len(dataset)} here. Use fewer bins.")
    model, tokenizer = load_model(args.model, dtype="float32", trust_remote_code=args.trust_remote_code)
    check_architecture(model)
    check_finite_weights(model)
    items = encode_split(tokenizer, dataset, max_length=args.max_length)
    pairs = [prompt_and_target(row) for row in dataset]
    if cfg.baseline == "corrupt":
        pool = entity_pool([p for p, _ in pairs])
        done = [corrupt(tokenizer, p, t, e, pool, seed=cfg.seed, max_length=args.max_length)
                for (p, t), e in zip(pairs, items)]
    else:
        done = [(None, {"baseline": "zero"}) for _ in items]
    meta = record(benchmark=args.benchmark, split=args.split, subset_authors=args.subset_authors, model=args.model,
                  data_hash=data_hash(dataset))
    out = score_cud_to_file(model, items, dataset["sample_id"], [d[0] for d in done], [d[1] for d in done],
                            args.labels, cfg, args.out, meta=meta, overwrite=args.overwrite,
                            progress=not args.no_progress)
    _main_print(f"Wrote {len(dataset)} CUD scores to {out} (bin edges and settings in "
                f"{out.with_name(out.stem + '.meta.json')}; attributions in {out.with_name(out.stem + '.attributions.npz')})")


def _read_paths(args: argparse.Namespace, *names: str) -> dict:
    """The paths a command reads, by flag (the data flags and `names`): no output may be one of them."""
    return {f"--{name.replace('_', '-')}": getattr(args, name, None) for name in ("data_path", "data_dir", *names)}


def _cud_labels(args: argparse.Namespace) -> None:
    from mrd_bench.cud_labels import LabelConfig, make_labels
    from mrd_bench.data import keep_authors, load
    from mrd_bench.io import guard_output, write_json
    from mrd_bench.models import load_model, weights_hash
    from mrd_bench.pipeline import encode_split
    from mrd_bench.provenance import data_hash, record
    from mrd_bench.unlearn import Settings, read_scores, refusal_items

    guard_output(args.out, args.overwrite, what="CUD labels", inputs=_read_paths(args, "model", "scores"))
    cfg = LabelConfig(methods=args.methods, steps=args.steps, lr=args.lr, batch_size=args.unlearn_batch_size,
                      q=args.q, min_votes=args.min_votes, seed=args.seed)
    dataset = _limited(_load(args), args)
    ids = list(dataset["sample_id"])
    scores = read_scores(args.scores, ids) if args.scores else None
    retain = None
    if args.retain:
        retain = keep_authors(load(args.benchmark, args.retain, data_dir=args.data_dir), args.benchmark,
                              args.subset_authors, args.data_dir, "error")
    model, tokenizer = load_model(args.model, dtype="float32", trust_remote_code=args.trust_remote_code)
    original_hash = weights_hash(model)
    items = encode_split(tokenizer, dataset, max_length=args.max_length)
    result = make_labels(model, items, ids, cfg,
                         retain=encode_split(tokenizer, retain, max_length=args.max_length) if retain else None,
                         refusals=refusal_items(tokenizer, dataset, args.benchmark, Settings(method="po")),
                         scores=scores, progress=not args.no_progress)
    write_json(args.out, {**result, **record(benchmark=args.benchmark, split=args.split, retain=args.retain,
                                             subset_authors=args.subset_authors, model=args.model,
                                             model_hash=original_hash, data_hash=data_hash(dataset),
                                             scores=args.scores)})
    kappa = result["agreement"]["fleiss_kappa"]
    print(f"Wrote CUD labels to {args.out}: {result['n_easy']} easy, {result['n_hard']} hard of {result['n']} "
          f"(Fleiss' kappa across {len(cfg.method_list)} unlearners: {kappa:.2f})")


def _circuits(args: argparse.Namespace) -> None:
    from mrd_bench.io import guard_output
    from mrd_bench.report.circuits import draw_circuit

    target = args.out or "circuit_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", args.sample_id) + ".png"
    guard_output(target, args.overwrite, what="a plot", inputs={"--scores": args.scores})
    out = draw_circuit(args.scores, args.sample_id, target)
    print(f"Wrote {args.sample_id}'s circuit beside the easy and hard anchors to {out}")


def _compare(args: argparse.Namespace) -> None:
    from mrd_bench.compare import compare
    from mrd_bench.io import read_json

    out = compare(args.a, args.b, args.out, overwrite=args.overwrite, resamples=args.resamples, seed=args.seed)
    result = read_json(out / "compare.json")
    s = result["spearman"]
    print(f"{result['n']} samples: Spearman {s['value']:+.3f} [{s['ci95'][0]:+.3f}, {s['ci95'][1]:+.3f}] "
          f"(oriented, + = agree on easy: {s['oriented']:+.3f}); Kendall {result['kendall']['value']:+.3f}; "
          f"bins Cohen's kappa {result['cohen_kappa_bins']:.3f}. Plot and JSON in {out}")


def _export(args: argparse.Namespace) -> None:
    from mrd_bench.models import export_model

    out = export_model(args.model, args.out, dtype=args.dtype, overwrite=args.overwrite)
    print(f"Wrote a safetensors checkpoint to {out}; lm-eval loads it with "
          f"--model hf --model_args pretrained={out}")


def _data(args: argparse.Namespace) -> None:
    from mrd_bench.data import keep_authors, load

    dataset = load(args.benchmark, args.split, data_dir=args.data_dir, path=args.data_path)
    dataset = _limited(keep_authors(dataset, args.benchmark, args.subset_authors, args.data_dir, "keep"), args)
    repeats = sum("~" in sid for sid in dataset["sample_id"])
    print(f"{args.benchmark}/{args.split}: {len(dataset)} rows{f' ({repeats} repeated)' if repeats else ''}; "
          f"fields {dataset.column_names}; first sample_id {dataset[0]['sample_id']}")


def _annotate(args: argparse.Namespace) -> None:
    from mrd_bench.annotate import annotate
    from mrd_bench.io import read_json

    dataset = _limited(_load(args), args)
    out = annotate(args.scores, dataset["sample_id"], args.out, overwrite=args.overwrite, signal=args.signal,
                   bins=args.bins, source={"benchmark": args.benchmark, "split": args.split,
                                           "subset_authors": args.subset_authors})
    made = read_json(out)
    print(f"Wrote the difficulty annotation of {args.benchmark}/{args.split} by {made['signal_label']} (higher = "
          f"{made['higher_is']}) to {out}; pass it to the tasks with --metadata '{{\"difficulty\": \"{out}\"}}'")


def _report(args: argparse.Namespace) -> None:
    from mrd_bench.report.lmeval_report import build_report

    out = build_report(args.output_dir, args.out, retain_reference=args.retain_reference, overwrite=args.overwrite)
    print(f"Report: {out / 'report.md'} and {out / 'report.html'} (plots and report.json beside them)")


def run_eval(argv: Sequence[str]) -> int:
    """lm-eval's own CLI with our task folder and the token-level model type `hf-mrd`.

    Two defaults where lm-eval's own would mislead: a batch size of 16 (32 on a GPU; lm-eval's
    default is 1) unless --batch_size is given, and a note when TOFU tasks run without
    --apply_chat_template (their raw-question prompt is meant for the chat template)."""
    import lm_eval.models  # noqa: F401  (the built-in models register first)
    from lm_eval.__main__ import cli_evaluate

    import mrd_bench.lmeval.model  # noqa: F401  (registers hf-mrd)

    argv = list(argv[1:] if argv[:1] == ["run"] else argv)
    given = {a.split("=")[0] for a in argv if a.startswith("--")}
    _check_eval_args(argv)
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
    sys.argv = ["lm_eval", "run", *argv]
    try:
        cli_evaluate()
    except ValueError as err:  # lm-eval raises this one for unknown task names, with a traceback
        if not str(err).startswith("Tasks not found"):
            raise
        from mrd_bench.errors import ConfigError

        raise ConfigError(f"{err}: neither lm-eval nor mrd_bench has such a task; `lm_eval ls tasks` lists "
                          "lm-eval's, tasks/README.md ours.") from None
    return 0


def _flag_values(argv: Sequence[str], flag: str) -> Optional[list[str]]:
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


def _check_eval_args(argv: Sequence[str]) -> None:
    """What lm-eval would answer with a traceback, or only after loading the model, as one line first:
    --metadata that is not a JSON object or not our tasks' keys and types, a misspelt mrd_bench task,
    a local model path that is missing, and the flags of lm-eval's own that lmeval/checks.py checks."""
    import difflib
    import json

    from mrd_bench.errors import ConfigError
    from mrd_bench.lmeval.paths import our_task_names
    from mrd_bench.models import check_model_path

    metadata = _flag_values(argv, "--metadata")
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
    for name in (n for value in (_flag_values(argv, "--tasks") or []) for n in value.split(",") if n):
        close = difflib.get_close_matches(name, ours, n=1, cutoff=0.75)
        if name not in ours and close:
            raise ConfigError(f"unknown task {name!r}; did you mean {close[0]!r}? (mrd_bench's tasks are listed "
                              "in tasks/README.md)")
    for value in _flag_values(argv, "--model_args") or []:
        for pair in value.replace(" ", ",").split(","):
            key, _, path = pair.partition("=")
            if key.strip() == "pretrained" and path:
                check_model_path(path.strip())
    if {"-h", "--help"} & set(argv):
        return
    from mrd_bench.lmeval.checks import check_flags, check_metadata, lm_eval_flags

    if metadata:
        tasks = [n for value in (_flag_values(argv, "--tasks") or []) for n in value.split(",") if n]
        check_metadata(parsed, tasks, ours)
    check_flags(lm_eval_flags(argv))


def _unlearn(args: argparse.Namespace) -> None:
    from mrd_bench.config import from_args
    from mrd_bench.methods.loop import LoopConfig
    from mrd_bench.unlearn import Inputs, Settings, replay, run_unlearn

    if args.replay:
        out, new, old = replay(args.replay, args.out, overwrite=args.overwrite, progress=not args.no_progress)
        same = new["model_hash"]["final"] == old["model_hash"]["final"]
        _main_print(f"Replayed {args.replay} into {out}: the final weights "
                    f"{'match the record' if same else 'DIFFER from the record (non-deterministic hardware?)'} "
                    f"(sha256 {new['model_hash']['final'][:12]})")
        return
    out, rec = run_unlearn(from_args(Inputs, args), from_args(Settings, args), from_args(LoopConfig, args),
                           args.out, overwrite=args.overwrite, progress=not args.no_progress)
    reached = rec["updates_to_threshold"]
    stop = f"; reached the stopping threshold after {reached} updates" if reached is not None else ""
    _main_print(f"Wrote the unlearned checkpoint and its run record to {out} ({rec['steps']} steps{stop}); "
                f"evaluate it with mrd-bench eval --model hf-mrd --model_args pretrained={out} ...")


def _finetune(args: argparse.Namespace) -> None:
    from mrd_bench.config import from_args
    from mrd_bench.methods.loop import LoopConfig
    from mrd_bench.unlearn import Inputs, Settings, run_finetune

    out, rec = run_finetune(from_args(Inputs, args), from_args(Settings, args), from_args(LoopConfig, args),
                            args.out, overwrite=args.overwrite, progress=not args.no_progress)
    _main_print(f"Wrote the fine-tuned checkpoint and its run record to {out} ({rec['steps']} steps, "
                f"final loss {rec['losses'][-1]:.3f})")


def _updates(args: argparse.Namespace) -> None:
    from mrd_bench.config import from_args
    from mrd_bench.methods.loop import LoopConfig
    from mrd_bench.updates import run_updates

    from mrd_bench.unlearn import Inputs, Settings

    out = run_updates(from_args(Inputs, args), from_args(Settings, args), from_args(LoopConfig, args), args.out,
                      max_updates=args.max_updates, overwrite=args.overwrite, progress=not args.no_progress)
    from mrd_bench.io import read_json

    summary = read_json(out.with_name(out.stem + ".meta.json"))["summary"]
    _main_print(f"Wrote per-sample updates to {out}: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float)
                                                                    else f"{k} {v}" for k, v in summary.items()))


def _difficulty_check(args: argparse.Namespace) -> None:
    from mrd_bench.config import from_args
    from mrd_bench.difficulty_check import CheckConfig, run_check
    from mrd_bench.unlearn import Inputs

    cfg = from_args(CheckConfig, args)
    out = run_check(from_args(Inputs, argparse.Namespace(**{**vars(args), "scores": None})), cfg, args.out,
                    scores=args.scores, overwrite=args.overwrite, progress=not args.no_progress)
    _main_print(f"Check: {out} (and check.md, check.png beside it)")


def _quiet_libraries() -> None:
    """--no-progress hides the libraries' bars too (transformers' weight loading and saving,
    datasets' maps, the hub's downloads), not only ours."""
    import datasets
    import huggingface_hub.utils
    import transformers

    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    huggingface_hub.utils.disable_progress_bars()


def _output_of(args: argparse.Namespace) -> Optional[str]:
    """What a command writes (locked while it runs): --out, or the report's default folder."""
    if args.command == "report":
        return args.out or os.path.join(args.output_dir, "mrd_report")
    if args.command == "unlearn" and args.replay:
        return args.out
    return getattr(args, "out", None)


def _main_print(text: str) -> None:
    if os.environ.get("RANK", "0") == "0":  # one line, not one per data-parallel process
        print(text)


def _lb_submit(args: argparse.Namespace) -> None:
    import re

    from mrd_bench.leaderboard.board import load_board
    from mrd_bench.leaderboard.submission import submit, validate
    from mrd_bench.leaderboard.untrusted import printable

    board = load_board(args.board)
    folder = re.sub(r"[^A-Za-z0-9_.-]+", "_", args.name).strip("_")
    if not args.out and not folder.strip("."):
        raise MrdBenchError(f"--name {args.name!r} gives no folder name under "
                            f"{os.path.join(args.board, 'submissions')!r}; use a name with a letter or digit, or "
                            "give the submission folder with --out.")
    out = args.out or os.path.join(args.board, "submissions", folder)
    path = submit(board, args.run_dir, out, name=args.name, link=args.link, description=args.description,
                  record=args.record, overwrite=args.overwrite)
    _refuse(validate(path, board)[0], f"wrote the submission {path}, but it is not valid (fix it and submit "
            "again with --overwrite)")
    print(printable(f"Wrote the submission {path}: valid for the board {board['name']!r}"))


def _lb_validate(args: argparse.Namespace) -> None:
    from pathlib import Path

    from mrd_bench.leaderboard.board import load_board
    from mrd_bench.leaderboard.build import checked, copies_of
    from mrd_bench.leaderboard.untrusted import printable

    board = load_board(args.board or os.path.normpath(os.path.join(args.submission, os.pardir, os.pardir)))
    _refuse(checked(Path(args.submission), board)[0], f"{args.submission} is not accepted")
    print(printable(f"{args.submission}: valid for the board {board['name']!r}"))
    for flag in copies_of(args.submission, board):
        print(printable(f"note: {flag} (the page flags it; verify the entries with `mrd-bench leaderboard verify`)"))


def _refuse(problems: list[str], what: str) -> None:
    """One problem: the error line itself; several: each on its own line on stderr, then one error
    line (exit code 2). Control characters from a submission are shown escaped."""
    from mrd_bench.leaderboard.untrusted import printable

    if len(problems) == 1:
        raise MrdBenchError(printable(f"{what}: {problems[0]}"))
    if problems:
        for line in problems:
            print(printable(line), file=sys.stderr)
        raise MrdBenchError(printable(f"{what} ({len(problems)} problems above)."))


def _lb_reference(args: argparse.Namespace) -> None:
    from mrd_bench.leaderboard.reference import make_reference

    out = make_reference(args.board, args.model, args.work or os.path.join(args.board, os.pardir, ".reference_work"),
                         overwrite=args.overwrite)
    print(f"Wrote the original model's evaluation {out}: the board's utility floor is relative to it")


def _lb_build(args: argparse.Namespace) -> None:
    from mrd_bench.leaderboard.build import build

    build(args.board, overwrite=args.overwrite, progress=not args.no_progress)


def _lb_verify(args: argparse.Namespace) -> None:
    from mrd_bench.leaderboard.board import load_board
    from mrd_bench.leaderboard.verify import TOLERANCE, record_path, verify

    board = load_board(args.board or os.path.normpath(os.path.join(args.submission, os.pardir, os.pardir)))
    import secrets

    seed = secrets.randbits(63) if args.seed is None else args.seed
    rec = verify(args.submission, board, args.model, fraction=args.fraction, minimum=args.min_docs, seed=seed,
                 tolerance=TOLERANCE if args.tolerance is None else args.tolerance, replay=args.replay,
                 original=args.original, work=args.work, overwrite=args.overwrite, progress=not args.no_progress)
    where = record_path(board["_folder"], rec["entry"])
    if not rec["verified"]:
        raise MrdBenchError(f"{ascii(rec['entry'])} is NOT verified: {'; '.join(rec['reasons'])} (record: {where})")
    worst = max((v for v in rec["max_abs_diff"].values() if v is not None), default=0.0)
    print(f"{ascii(rec['entry'])}: verified: {rec['n_values']} values of {rec['n_documents']} sampled documents agree "
          f"within {rec['tolerance']:g} (max |diff| {worst:.2g}); weights sha256 {rec['checkpoint_sha256'][:12]}… "
          f"is the run record's final hash{' (replayed)' if rec['replayed'] else ''}; record: {where}")


def _audit(args: argparse.Namespace) -> None:
    from mrd_bench.audit import audit

    audit(args.claim, args.out, permutations=args.permutations, bootstrap=args.bootstrap, seed=args.seed,
          overwrite=args.overwrite)


def _reproduce(args: argparse.Namespace) -> None:
    from mrd_bench.config import from_args
    from mrd_bench.reproduce.study import Study, reproduce

    if args.data:
        from mrd_bench.reproduce.study import from_data

        out = from_data(args.data, args.out, overwrite=args.overwrite, argv=["mrd-bench", *args.argv])
        _main_print(f"Recomputed the reproduction report from {args.data} into {out / 'README.md'}")
        return
    stages = [s.strip() for s in args.stages.split(",") if s.strip()] if args.stages else None
    out = reproduce(from_args(Study, args), args.out, work=args.work, stages=stages, overwrite=args.overwrite,
                    progress=not args.no_progress, argv=["mrd-bench", *args.argv])
    _main_print(f"Wrote the reproduction report to {out / 'README.md'} (figures in results.json)")


def _tasks_dir(args: argparse.Namespace) -> None:
    print(tasks_dir())


def _load(args: argparse.Namespace):
    """The split a scoring command reads: a repeated row is an error unless --dedupe drops it."""
    from mrd_bench.data import keep_authors, load

    duplicates = "drop" if args.dedupe else "error"
    rows = load(args.benchmark, args.split, data_dir=args.data_dir, path=args.data_path, duplicates=duplicates)
    return keep_authors(rows, args.benchmark, getattr(args, "subset_authors", None), args.data_dir, duplicates)


def _limited(dataset, args: argparse.Namespace):
    """The first --limit rows (the tasks' `n` metadata takes the same prefix)."""
    if args.limit is None:
        return dataset
    if args.limit < 1:
        raise MrdBenchError(f"--limit must be a positive number of rows, not {args.limit}.")
    return dataset.select(range(min(args.limit, len(dataset))))


def _data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--benchmark", required=True, help="tofu, wmdp, mmlu, whp, safe or fictitious")
    p.add_argument("--split", required=True, help="e.g. forget10 (tofu), bio (wmdp), toxic (safe)")
    p.add_argument("--data-dir", help="folder of local benchmark copies (default: $MRD_BENCH_DATA_DIR, "
                   "then the hub)")
    p.add_argument("--data-path", help="your own text/JSONL file (whp: a book; safe: prompt/response)")
    p.add_argument("--limit", type=int, help="only the first N rows of the split")
    p.add_argument("--subset-authors", type=int, help="TOFU only: keep the split's rows among the last N "
                   "authors of `full` (the setting `finetune --subset-authors N` trains)")
    p.add_argument("--dedupe", action="store_true", help="drop repeated rows (the same identifying fields), "
                   "keeping the first; without it a repeat is an error, as it would be scored twice")


def _one_line_error(parser: argparse.ArgumentParser):
    """argparse's error, as the one line every other mrd-bench error is (no usage block)."""
    def error(message: str):
        parser.exit(2, f"mrd-bench: error: {message} (see `{parser.prog} --help`)\n")

    return error


def _signal_names() -> list[str]:
    from mrd_bench.signals import SIGNALS

    return SIGNALS.names()


def build_parser() -> argparse.ArgumentParser:
    from mrd_bench.reproduce.study import Study

    parser = argparse.ArgumentParser(prog="mrd-bench", description=__doc__)
    parser.error = _one_line_error(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="fine-tune the embedded model, score MRD, write a report")
    p.add_argument("--out", default="mrd_demo", help="output folder (default: mrd_demo)")
    p.add_argument("--model", default=EMBEDDED, help=f"base model (default: the embedded {EMBEDDED})")
    p.add_argument("--train-samples", type=int, help="fine-tune on the first N samples only (quick runs)")
    p.add_argument("--forget-split", default="forget20", help="fictitious split to score (default: forget20)")
    p.add_argument("--holdout-split", default="holdout20", help="never-trained split (default: holdout20)")
    p.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs (default: 3)")
    p.add_argument("--lr", type=float, default=1e-4, help="fine-tuning learning rate (default: 1e-4)")
    p.add_argument("--sigma", type=float, default=1e-4, help="MRD noise scale σ (default: 1e-4)")
    p.add_argument("--draws", type=int, default=8, help="MRD antithetic pairs K (default: 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--board-runs", default="ga:uniform,ga:mrd,npo:uniform,npo:mrd",
                   help="METHOD:SAMPLER entries of the demo's leaderboard, or 'none' (default: GA and NPO, "
                        "each with the uniform and the mrd sampler)")
    p.add_argument("--board-steps", type=int, default=6, help="unlearning updates per entry (default: 6)")
    p.add_argument("--board-lr", type=float, default=8e-5, help="unlearning learning rate (default: 8e-5)")
    p.set_defaults(run=_demo)

    p = sub.add_parser("score", help="score per-sample difficulty (MRD, or CUD) on a benchmark split")
    p.add_argument("--model", default=EMBEDDED, help="hub id, checkpoint folder, or the embedded model")
    _data_flags(p)
    p.add_argument("--metric", default="mrd", help="mrd (default) or cud (circuit-guided unlearning difficulty)")
    g = p.add_argument_group("CUD (--metric cud)")
    g.add_argument("--labels", help="easy/hard labels from `mrd-bench cud-labels` on the same model and split")
    g.add_argument("--baseline", default="corrupt", help="EAP-IG baseline: corrupt (another entity's name, "
                   "default) or zero (zero ablation)")
    g.add_argument("--steps", type=int, default=5, help="EAP-IG interpolation steps m (default: 5)")
    g.add_argument("--heads", action="store_true", help="attention sources per head (default: per layer)")
    g.add_argument("--top-edges", type=int, default=75, help="edges kept per circuit n (default: 75)")
    g.add_argument("--distance", default="cosine", help="cosine (default), jaccard or hamming")
    g.add_argument("--folds", type=int, default=5, help="cross-fitting folds k (default: 5)")
    p.add_argument("--estimator", default="definition", help="definition (default), alg1 or hutchinson")
    p.add_argument("--sigma", type=float, help="noise scale σ (default: definition/hutchinson 1e-4, "
                   "alg1 1e-5 as in the paper)")
    p.add_argument("--k", "--draws", dest="k", type=int, help="draws K (default: definition 16 antithetic "
                   "pairs, alg1 32, hutchinson 8 probes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eps", type=float, default=1e-3, help="clamp |log p| up to eps (default: 1e-3)")
    p.add_argument("--batch-size", type=int, help="samples per batch (default: 16 for MRD, 8 for CUD)")
    p.add_argument("--chunk-batches", type=int, default=4, help="batches per resumable chunk (default: 4)")
    p.add_argument("--max-length", type=int, default=512, help="truncate samples to this many tokens")
    p.add_argument("--score-prompt", action="store_true", help="score the prompt tokens too")
    p.add_argument("--no-baselines", action="store_true", help="skip NLL, Min-K%%, gradient norm, rare words")
    p.add_argument("--bins", type=int, default=3, help="quantile difficulty bins (default: 3)")
    p.add_argument("--dtype", default="float32", help="float32, bfloat16 or float16 (scoring runs in float32)")
    p.add_argument("--trust-remote-code", action="store_true", help="run the model repo's own code")
    p.add_argument("--out", default="scores.jsonl")
    p.set_defaults(run=_score)

    p = sub.add_parser("cud-labels", help="easy/hard samples for CUD's anchors: the reference unlearners vote")
    p.add_argument("--model", required=True, help="the original (fine-tuned) model: a checkpoint folder or hub id")
    _data_flags(p)
    p.add_argument("--retain", help="retain split (graddiff and po need one), e.g. retain90 for forget10")
    p.add_argument("--scores", help="MRD scores of the split (cga samples by MRD); without it leave cga out")
    p.add_argument("--methods", default="ga,graddiff,npo,po,cga", help="unlearners (default: ga,graddiff,npo,po,cga)")
    p.add_argument("--steps", type=int, default=10, help="updates per unlearner (default: 10)")
    p.add_argument("--lr", type=float, default=2e-5, help="learning rate (default: 2e-5)")
    p.add_argument("--unlearn-batch-size", type=int, default=8, help="forget samples per update (default: 8)")
    p.add_argument("--q", type=float, default=0.25, help="share called easy and share called hard per method "
                   "(default: 0.25)")
    p.add_argument("--min-votes", type=int, default=3, help="methods that must agree (default: 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--trust-remote-code", action="store_true")
    p.add_argument("--out", required=True, help="labels JSON to write")
    p.set_defaults(run=_cud_labels)

    p = sub.add_parser("circuits", help="draw one sample's CUD circuit beside the easy and hard anchors (PNG)")
    p.add_argument("sample_id")
    p.add_argument("--scores", required=True, help="scores file from `mrd-bench score --metric cud`")
    p.add_argument("--out", help="PNG to write (default: circuit_<SAMPLE_ID>.png)")
    p.set_defaults(run=_circuits)

    p = sub.add_parser("compare-difficulty", help="agreement of two difficulty scorings: Spearman, Kendall, "
                       "Cohen's kappa of bins, scatter plot")
    p.add_argument("a", help="scores file (MRD or CUD)")
    p.add_argument("b", help="scores file (MRD or CUD)")
    p.add_argument("--out", default="compare_difficulty", help="output folder (default: compare_difficulty)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default: 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_compare)

    p = sub.add_parser("export-model", help="write a model (e.g. the embedded GGUF) as safetensors")
    p.add_argument("--model", default=EMBEDDED)
    p.add_argument("--out", required=True, help="checkpoint folder to write")
    p.add_argument("--dtype", default="float32")
    p.set_defaults(run=_export)

    p = sub.add_parser("annotate", help="join a difficulty signal (MRD, CUD, NLL, ...) to a split, with bins, "
                       "for the tasks")
    p.add_argument("--scores", required=True, help="scores.jsonl from `mrd-bench score` on the original model, or "
                   "the output of `mrd-bench updates-to-forget`")
    p.add_argument("--signal", help="the difficulty signal to bin by (default: the file's own: MRD by its estimator, "
                   "CUD, or updates); one of: " + ", ".join(_signal_names()))
    p.add_argument("--bins", type=int, help="number of equal-count bins (default: the scores file's own edges, "
                   "or 3)")
    _data_flags(p)
    p.add_argument("--out", required=True, help="annotation JSON to write")
    p.set_defaults(run=_annotate)

    sub.add_parser("eval", help="run lm-eval (its own flags) with our tasks and the hf-mrd model type",
                   add_help=False)

    p = sub.add_parser("report", help="markdown + HTML report with plots from an lm-eval output folder")
    p.add_argument("output_dir", help="lm-eval's --output_path (run with --log_samples for the plots)")
    p.add_argument("--out", help="report folder (default: OUTPUT_DIR/mrd_report)")
    p.add_argument("--retain-reference", help="retain model's truth ratios, to compute forget quality "
                   "if the run had none (samples_tofu_forget_mrd_tr_*.jsonl or a truth_ratios JSON)")
    p.set_defaults(run=_report)

    p = sub.add_parser("data", help="load a benchmark split and say what it holds")
    _data_flags(p)
    p.set_defaults(run=_data)

    from mrd_bench.config import add_arguments
    from mrd_bench.methods.loop import LoopConfig
    from mrd_bench.unlearn import FINETUNE_SETTINGS, Inputs, Settings

    p = sub.add_parser("unlearn", help="unlearn a forget set with a reference method and sampler; "
                       "writes a checkpoint and its run record")
    add_arguments(p, Inputs)
    add_arguments(p, Settings)
    add_arguments(p, LoopConfig)
    p.add_argument("--replay", help="run a run_record.json (or its checkpoint folder) again; the other "
                   "flags are ignored")
    p.add_argument("--out", required=True, help="checkpoint folder to write")
    p.set_defaults(run=_unlearn)

    p = sub.add_parser("finetune", help="fine-tune the original (full) or retain-only model on a split")
    add_arguments(p, Inputs, skip=("retain", "scores", "threshold_split"), flags={"forget": (
        "--split", "the split to train on: full (the original model) or retain90/95/99 (the retain model)")})
    add_arguments(p, Settings, only=FINETUNE_SETTINGS)
    add_arguments(p, LoopConfig, skip=("refresh_every", "check_every", "retain_batch_size"), lr=1e-5)
    p.add_argument("--out", required=True, help="checkpoint folder to write")
    p.set_defaults(run=_finetune)

    p = sub.add_parser("updates-to-forget", help="per sample alone, count the updates until its MA falls "
                       "below the threshold (MRD's ground truth)")
    add_arguments(p, Inputs, flags={"forget": (
        "--split", "the split whose samples are unlearned one at a time, e.g. forget01")})
    add_arguments(p, Settings, skip=("sampler", "tau", "floor", "mrd_sigma", "mrd_draws", "early_stop",
                                     "el_n", "el_stride", "el_horizon", "lora_rank", "lora_alpha"))
    add_arguments(p, LoopConfig, only=("lr", "weight_decay", "seed", "retain_batch_size"))
    p.add_argument("--max-updates", type=int, default=50, help="cap per sample; a sample still above the "
                   "threshold is reported as censored (default: 50)")
    p.add_argument("--out", default="updates.jsonl", help="per-sample results (default: updates.jsonl)")
    p.set_defaults(run=_updates)

    from mrd_bench.difficulty_check import CheckConfig

    p = sub.add_parser("difficulty-check", help="which difficulty signal predicts forgetting for this model and "
                       "these methods: each signal's Spearman with measured updates-to-forget")
    add_arguments(p, Inputs, skip=("scores",), flags={"forget": (
        "--split", "the forget split whose samples are measured, e.g. forget10")})
    add_arguments(p, CheckConfig)
    p.add_argument("--scores", help="scores.jsonl of the split from `mrd-bench score` on the same model (default: "
                   "the check scores it, and reuses OUT/scores.jsonl)")
    p.add_argument("--out", default="difficulty_check", help="folder of the check (default: difficulty_check)")
    p.set_defaults(run=_difficulty_check)

    p = sub.add_parser("tasks-dir", help="print the folder of our lm-eval tasks (for --include_path)")
    p.set_defaults(run=_tasks_dir)

    p = sub.add_parser("leaderboard", help="difficulty-controlled leaderboards: submit, validate, build, verify, "
                       "reference")
    boards = p.add_subparsers(dest="action", required=True, metavar="{submit,validate,build,verify,reference}")
    q = boards.add_parser("submit", help="assemble a submission folder from one `mrd-bench eval` output folder")
    q.add_argument("--board", required=True, help="the board folder (holding board.json)")
    q.add_argument("--run", dest="run_dir", required=True, help="the --output_path folder of the board's evaluation")
    q.add_argument("--name", required=True, help="the method's name, as the table shows it")
    q.add_argument("--link", default="", help="a http(s) link to the method's paper or code")
    q.add_argument("--description", default="", help="free text: what was run")
    q.add_argument("--record", help="the unlearning run's run_record.json (default: beside the evaluated model)")
    q.add_argument("--out", help="the submission folder (default: BOARD/submissions/<name>)")
    q.set_defaults(run=_lb_submit)
    q = boards.add_parser("validate", help="check a submission folder against its board (schema, ids, hashes)")
    q.add_argument("submission", help="a submission folder (holding submission.json)")
    q.add_argument("--board", help="the board folder (default: the folder two levels up, BOARD/submissions/X)")
    q.set_defaults(run=_lb_validate)
    q = boards.add_parser("build", help="score every submission from its samples: CIs, paired-bootstrap ranks, page")
    q.add_argument("board", help="the board folder (holding board.json and submissions/)")
    q.set_defaults(run=_lb_build)
    q = boards.add_parser("verify", help="re-evaluate a seeded sample of a submission's documents from its checkpoint "
                          "and compare every per-sample value; writes BOARD/verifications/<entry>.json")
    q.add_argument("submission", help="a submission folder (holding submission.json)")
    q.add_argument("--model", help="the submitted unlearned checkpoint (its weights hash must be the run record's)")
    q.add_argument("--board", help="the board folder (default: the folder two levels up, BOARD/submissions/X)")
    q.add_argument("--fraction", type=float, default=0.1, help="share of the board's scored documents to "
                   "re-evaluate (default: 0.1)")
    q.add_argument("--min-docs", type=int, default=20, help="re-evaluate at least this many documents, or all "
                   "if fewer (default: 20)")
    q.add_argument("--seed", type=int, help="seed of the document sample (default: drawn at random and recorded, "
                   "so that a submitter cannot know which documents will be checked)")
    q.add_argument("--tolerance", type=float, help="largest absolute difference allowed per value (default: 1e-4)")
    q.add_argument("--replay", action="store_true", help="first replay the run record from --original, then "
                   "verify that checkpoint (instead of --model)")
    q.add_argument("--original", help="with --replay: the board's original model (its weights hash must be the "
                   "board's)")
    q.add_argument("--work", help="keep the replayed checkpoint and the evaluation in WORK/<entry> (default: a "
                   "temporary folder)")
    q.set_defaults(run=_lb_verify)
    q = boards.add_parser("reference", help="evaluate the board's original model: what a utility floor is relative to")
    q.add_argument("board", help="the board folder (holding board.json)")
    q.add_argument("--model", required=True, help="the board's original checkpoint (its weights hash is checked)")
    q.add_argument("--work", help="folder for the lm-eval outputs (default: beside the board)")
    q.set_defaults(run=_lb_reference)
    for q in boards.choices.values():
        q.error = _one_line_error(q)
        q.add_argument("--overwrite", action="store_true", help="replace existing results")
        q.add_argument("--no-progress", action="store_true", help="hide progress bars")

    p = sub.add_parser("reproduce", help="the reproduction study of the MRD and CUD papers' claims: cached, "
                       "resumable stages, then a report with a verdict per claim")
    add_arguments(p, Study)
    p.add_argument("--out", default="reports/reproduction", help="report folder (default: reports/reproduction)")
    p.add_argument("--work", help="folder of the stages' outputs (default: a folder under the mrd_bench cache, "
                   "named by the setting)")
    p.add_argument("--stages", help="comma-separated stages to run (default: all); 'report' only rebuilds the "
                   "report from the stages already done")
    p.add_argument("--data", help="recompute the report from a study's data folder alone (e.g. "
                   "reports/reproduction/data): no stage runs, no model is loaded")
    p.set_defaults(run=_reproduce)

    p = sub.add_parser("audit", help="audit a published claim: how hard its forget set is, and what its "
                       "metric would be at the reference difficulty mix")
    p.add_argument("claim", help="the claim (JSON; see docs in mrd_bench/audit.py)")
    p.add_argument("--out", help="output folder (default: <claim>_audit beside the claim)")
    p.add_argument("--permutations", type=int, default=10000, help="random subsets for the percentile (default: 10000)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the CIs (default: 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_audit)

    for name, p in sub.choices.items():
        p.error = _one_line_error(p)
        if name not in ("data", "tasks-dir", "eval", "leaderboard"):
            p.add_argument("--overwrite", action="store_true", help="replace existing results")
            p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


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
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] != ["eval"]:
        argv = _join_negative_numbers(argv)
    args = None if argv[:1] == ["eval"] else build_parser().parse_args(argv)
    if args is not None:
        args.argv = argv  # what the run records as its command
    target = None if args is not None else next(iter(_flag_values(argv, "--output_path") or []), None)
    _one_line_warnings()
    try:
        if args is None:  # every flag after `eval` is lm-eval's
            return run_eval(argv[1:])
        from mrd_bench.io import output_lock

        _check_seed(args)
        if getattr(args, "no_progress", False):
            _quiet_libraries()
        target = _output_of(args)
        if target is None:
            args.run(args)
        else:
            from mrd_bench.models import usable_cache

            usable_cache("locks")  # where output_lock keeps its lock
            with output_lock(target):
                args.run(args)
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


def _check_seed(args: argparse.Namespace) -> None:
    """torch's and numpy's generators take seeds in [0, 2^64); a larger one is a traceback deep inside."""
    seed = getattr(args, "seed", None)
    if isinstance(seed, int) and not 0 <= seed < 2 ** 64:
        raise MrdBenchError(f"--seed must be a whole number from 0 to 2**64-1 (18446744073709551615); got {seed}.")


if __name__ == "__main__":
    sys.exit(main())
