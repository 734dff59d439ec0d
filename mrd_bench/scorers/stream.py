"""`mrd-bench score` to a file: streamed, resumable, optionally data-parallel.

Finished chunks go to `<out>.partial/rank-<r>.jsonl` (appended, flushed, fsynced) beside
`<out>.partial/key.json`, the cache key of the run: the weights hash, the data hash and
every setting (estimator, σ, K, seed, ...). A run finds the chunks already done under the
same key and skips them; a partial run under another key is refused unless --overwrite.
With several processes each takes every n-th chunk; the main process merges, bins and
writes `<out>` and `<out stem>.meta.json` when all are done.
"""
from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import Callable, Optional, Sequence

from tqdm.auto import tqdm

from mrd_bench.errors import DataError, MrdBenchWarning
from mrd_bench.io import append_rows, drop_torn_tail, guard_output, open_partial, read_partial_rows
from mrd_bench.models import Encoded, weights_hash
from mrd_bench.pipeline import write_scores
from mrd_bench.scorers.runner import (ScoreConfig, _ready, bin_rows, cache_key, check_items, check_scores,
                                      clamp_warning, noisy_warning, plan_chunks, score_chunk)


class Interrupted(RuntimeError):
    """Raised by `stop_after` (tests simulate a killed run with it)."""


def score_to_file(model, items: Sequence[Encoded], ids: Sequence[str], targets: Sequence[str],
                  cfg: ScoreConfig, out: str | os.PathLike, *, meta: dict, overwrite: bool = False,
                  progress: bool = True, stop_after: Optional[int] = None) -> Path:
    import torch
    from accelerate import PartialState

    # cpu=True lets accelerate join a torchrun/gloo group when there is no GPU
    state = PartialState(cpu=not torch.cuda.is_available())
    out = guard_output(out, overwrite, what="scores")
    check_items(items, ids)
    model, _ = _ready(model, state.device)
    model_hash = weights_hash(model)  # of the weights scored (a float32 copy for bf16/fp16)
    key = cache_key(model_hash, items, ids, cfg)
    partial = out.with_name(out.name + ".partial")
    estimator = cfg.build()

    def score(chunk, bar) -> list[dict]:
        return score_chunk(model, chunk, items, ids, targets, cfg, estimator, state.device,
                           None if bar.disable else bar.update)[0]

    stream_chunks(state, partial, key, plan_chunks(items, cfg), ids, score, overwrite=overwrite,
                  info={"score_config": cfg.describe()}, desc=f"MRD ({cfg.estimator})", unit="draw",
                  total=lambda todo: len(todo) * cfg.k, verb="scored", progress=progress, stop_after=stop_after)
    if state.is_main_process:
        _finish(partial, out, ids, cfg, {**meta, "model_hash": model_hash, "cache_key": key, "score_config": cfg.describe(),
                                         "processes": state.num_processes})
    state.wait_for_everyone()
    return out


def stream_chunks(state, partial: Path, key: str, chunks: list, ids: Sequence[str],
                  compute: Callable[[list, tqdm], list[dict]], *, overwrite: bool, info: dict, desc: str, unit: str,
                  total: Callable[[list], int], verb: str, progress: bool, stop_after: Optional[int]) -> None:
    """The streaming, resumable engine of every scorer. `chunks` (runner.plan_chunks) are shared out
    over the processes of `state` (accelerate's PartialState): each process computes the rows of its
    chunks that `partial` does not hold yet (`compute(chunk, bar)`), appends them to its
    `rank-<r>.jsonl` and fsyncs. `partial` is opened under the run's cache `key` (io.open_partial:
    another key's rows are refused unless `overwrite`); every process has finished on return."""
    if state.is_main_process:
        open_partial(partial, key, overwrite, **info)
    state.wait_for_everyone()
    done = read_partial_rows(partial)
    todo = [c for n, c in enumerate(chunks) if n % state.num_processes == state.process_index
            and not all(ids[i] in done for rows in c for i in rows)]
    sink_path = partial / f"rank-{state.process_index}.jsonl"
    drop_torn_tail(sink_path)
    with tqdm(total=total(todo), desc=desc, unit=unit, disable=not (progress and state.is_main_process)) as bar, \
            open(sink_path, "a", encoding="utf-8") as sink:
        if done:
            bar.write(f"Resuming: {len(done)}/{len(ids)} samples already {verb} in {partial}")
        for n, chunk in enumerate(todo):
            if stop_after is not None and n >= stop_after:
                raise Interrupted(f"stopped after {n} chunk(s)")
            append_rows(sink, compute(chunk, bar))
    state.wait_for_everyone()


def _finish(partial: Path, out: Path, ids: Sequence[str], cfg: ScoreConfig, meta: dict) -> None:
    done = read_partial_rows(partial)
    rows = [done[sid] for sid in ids]
    try:
        check_scores(rows, cfg)
    except DataError:
        shutil.rmtree(partial)  # rows that would only fail again
        raise
    edges = bin_rows(rows, cfg.bins)
    warning = noisy_warning(rows)
    for text in filter(None, (warning, clamp_warning(rows, cfg))):
        warnings.warn(text, MrdBenchWarning, stacklevel=3)
    write_scores(out, rows, edges, {**meta, "noise_warning": warning})
    shutil.rmtree(partial)
