"""lm-eval run in this process through `mrd-bench eval` (hf-mrd model type, our tasks), its tables
to a log and its INFO lines quieted; the parsed results come back. The leaderboard's seeding
and the reproduction study evaluate their unlearned models with it."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Optional
from unittest import mock


def evaluate(model: str, tasks: list[str], metadata: dict, out: Path, *, chat_template: bool,
             batch_size: int = 16, device: str = "cpu", gen_kwargs: Optional[str] = None,
             log_samples: bool = True, samples: Optional[dict[str, list[int]]] = None) -> dict:
    """lm-eval's `results` block (task -> {metric,filter: value}); outputs in `out` (replaced)."""
    from mrd_bench.cli import run_eval

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
            mock.patch.dict(os.environ, {"LMEVAL_LOG_LEVEL": level}), mock.patch.object(sys, "argv", list(sys.argv)):
        code = run_eval(argv)
    if code:
        raise RuntimeError(f"lm-eval failed on {model}; see {out / 'lm_eval.log'}")
    found = sorted(out.rglob("results_*.json"))
    return json.loads(found[-1].read_text())["results"]
