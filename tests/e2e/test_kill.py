"""Killed mid-run and started again with the same command, every long command finishes with
the same bytes as a run that was never interrupted (on a CPU)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_cli import mrd_bench

FICT = ["--benchmark", "fictitious", "--no-progress"]


def kill_when(args: list[str], ready, what: str, sig: int = signal.SIGKILL) -> subprocess.CompletedProcess:
    """Start `python -m mrd_bench.cli ARGS`, send it `sig` (SIGKILL) as soon as `ready()` holds; it
    must not have finished by then."""
    # SIGINT as a terminal delivers it: a suite started in the background (`make test &`) runs with
    # SIGINT ignored, which children inherit, and Python then keeps ignoring it (no Ctrl-C to test)
    proc = subprocess.Popen([sys.executable, "-m", "mrd_bench.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    while proc.poll() is None and not ready():
        time.sleep(0.002)
    if proc.poll() is not None:
        out, err = proc.communicate()
        pytest.fail(f"the run ended (rc {proc.returncode}) before {what}; it must be killed mid-run:\n{err[-2000:]}")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def _same_bytes(a: Path, b: Path) -> None:
    assert a.read_bytes() == b.read_bytes(), f"{a} and {b} differ"


@pytest.mark.parametrize("command, extra", [
    ("unlearn", ["--forget", "forget20", "--method", "npo", "--sampler", "mrd", "--retain", "retain80",
                 "--mrd-draws", "1", "--refresh-every", "20", "--batch-size", "2", "--max-steps", "60"]),
    ("finetune", ["--split", "full", "--batch-size", "4", "--max-steps", "60"]),
])
def test_killed_training_resumes_to_the_same_weights(tiny_checkpoint, tmp_path, command, extra, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as kill_when's run: the thread count changes float sums
    args = [command, "--model", str(tiny_checkpoint), *FICT, *extra, "--lr", "1e-3", "--seed", "3",
            "--save-every", "5"]
    whole = mrd_bench(*args, "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "killed"
    state = out.with_name("killed.partial") / "state.pt"
    kill_when([*args, "--out", str(out)], state.is_file, "its first saved state")
    assert not out.exists() and state.is_file()
    again = mrd_bench(*args, "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert "Resuming after step" in again.stdout + again.stderr
    _same_bytes(tmp_path / "whole" / "model.safetensors", out / "model.safetensors")
    assert not state.parent.exists()  # the resume state is gone once the checkpoint is written


def _rows_in(partial: Path, n: int):
    def ready() -> bool:
        files = list(partial.glob("rank-*.jsonl"))
        return sum(f.read_text().count("\n") for f in files) >= n if files else False
    return ready


@pytest.mark.parametrize("command, extra, name", [
    ("score", ["--split", "forget20", "--k", "12", "--sigma", "1e-2", "--batch-size", "2", "--chunk-batches", "1",
               "--no-baselines"], "scores.jsonl"),
    ("updates-to-forget", ["--split", "forget10", "--threshold-split", "holdout10", "--lr", "1e-3",
                           "--max-updates", "4"], "updates.jsonl"),
])
def test_killed_scoring_resumes_to_the_same_file(tiny_checkpoint, tmp_path, command, extra, name):
    args = [command, "--model", str(tiny_checkpoint), *FICT, *extra]
    whole = mrd_bench(*args, "--out", str(tmp_path / "whole" / name))
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "killed" / name
    partial = out.with_name(name + ".partial")
    kill_when([*args, "--out", str(out)], _rows_in(partial, 2), "its first finished rows")
    assert not out.exists()
    again = mrd_bench(*args, "--out", str(out))
    assert again.returncode == 0, again.stderr
    _same_bytes(tmp_path / "whole" / name, out)
    assert not partial.exists()


def test_a_second_run_into_the_same_output_is_refused_naming_the_first(tiny_checkpoint, tmp_path):
    from mrd_bench.io import lock_path

    out = tmp_path / "scores.jsonl"
    # long enough (K = 80, small batches) that the first run still holds the lock while the second
    # interpreter starts, even on a loaded machine
    args = ["score", "--model", str(tiny_checkpoint), *FICT, "--split", "forget20", "--k", "80", "--sigma", "1e-2",
            "--batch-size", "2", "--chunk-batches", "1", "--no-baselines", "--out", str(out)]
    first = subprocess.Popen([sys.executable, "-m", "mrd_bench.cli", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    partial = out.with_name("scores.jsonl.partial")
    while first.poll() is None and not (partial / "key.json").is_file():
        time.sleep(0.01)
    assert first.poll() is None, "the first run ended before the second started"
    second = mrd_bench(*args)
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert f"another mrd-bench run (PID {first.pid})" in second.stderr.strip().splitlines()[-1]
    _, err = first.communicate()
    assert first.returncode == 0, err  # the first run finished undisturbed
    assert len(out.read_text().splitlines()) == 20 and not partial.exists()
    assert not lock_path(out).exists()  # released


def test_ctrl_c_is_one_line_exit_130_and_the_same_command_resumes(tiny_checkpoint, tmp_path):
    args = ["score", "--model", str(tiny_checkpoint), *FICT, "--split", "forget10", "--k", "80", "--sigma", "1e-2",
            "--batch-size", "2", "--chunk-batches", "1", "--no-baselines"]
    whole = mrd_bench(*args, "--out", str(tmp_path / "whole" / "scores.jsonl"))
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "stopped" / "scores.jsonl"
    partial = out.with_name("scores.jsonl.partial")
    stopped = kill_when([*args, "--out", str(out)], _rows_in(partial, 2), "its first finished rows", signal.SIGINT)
    assert stopped.returncode == 130, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert stopped.stderr.strip().splitlines()[-1] == "mrd-bench: error: interrupted; run the same command to resume"
    assert not out.exists() and partial.is_dir()
    again = mrd_bench(*args, "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert "Resuming:" in again.stdout + again.stderr
    _same_bytes(tmp_path / "whole" / "scores.jsonl", out)
