"""End-to-end: drive the installed `mrd-bench` command."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path



def mrd_bench(*args: str, env: dict | None = None, timeout: int | None = None) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("mrd-bench")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "mrd_bench.cli"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("mrd-bench: error:"), proc.stderr
    for needle in needles:
        assert needle in last, last


def test_data_command_reads_the_shared_copy(data_dir):
    proc = mrd_bench("data", "--benchmark", "tofu", "--split", "forget01")
    assert proc.returncode == 0, proc.stderr
    assert "tofu/forget01: 40 rows" in proc.stdout


def test_occupied_output_is_never_overwritten(tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "report.md").write_text("earlier results")
    proc = mrd_bench("demo", "--out", str(out))
    assert_one_line_error(proc, "already holds", "--overwrite")
    assert (out / "report.md").read_text() == "earlier results"


def test_score_command_on_a_tiny_model(tiny_checkpoint, tmp_path):
    out = tmp_path / "scores.jsonl"
    args = ["score", "--model", str(tiny_checkpoint), "--benchmark", "fictitious", "--split", "forget10",
            "--estimator", "definition", "--k", "3", "--sigma", "1e-2", "--out", str(out), "--no-progress"]
    proc = mrd_bench(*args)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 10 and {r["bin"] for r in rows} == {"easy", "medium", "hard"}
    assert all(r["draws"] == 3 and r["score"] > 0 and r["n_tokens"] > 0 for r in rows)
    easiest = max(rows, key=lambda r: r["score"])
    assert easiest["bin"] == "easy"
    meta = json.loads(out.with_name("scores.meta.json").read_text())
    assert len(meta["bin_edges"]) == 2 and meta["score_config"]["draws"] == 3
    assert meta["score_config"]["estimator"] == "definition" and len(meta["cache_key"]) == 64
    assert all(r["grad_norm"] > 0 and r["nll"] > 0 and 0 < r["prob"] < 1 and r["rare_words"] >= 0 for r in rows)
    assert len(meta["model_hash"]) == 64 and len(meta["data_hash"]) == 64
    assert "torch" in meta["versions"] and "cpu_count" in meta["hardware"]
    assert_one_line_error(mrd_bench(*args), "already holds")


def _demo(model: str, out: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return mrd_bench("demo", "--model", model, "--out", str(out), "--train-samples", "8", "--epochs", "1",
                     "--forget-split", "forget10", "--holdout-split", "holdout10", "--draws", "2",
                     "--no-progress", *extra, env=env)


def test_demo_on_a_tiny_model_caches_the_original(tiny_checkpoint, tmp_path):
    out = tmp_path / "demo"
    first = _demo(str(tiny_checkpoint), out, "--sigma", "1e-2", "--board-runs", "ga:uniform,npo:mrd")
    assert first.returncode == 0, first.stderr
    assert f"Report: {out / 'report.md'}" in first.stdout
    assert {p.name for p in out.iterdir()} == {"report.md", "mrd.png", "scores.jsonl", "scores.meta.json", "run.json",
                                               "board", "work", ".mrd_bench_files.json"}
    run = json.loads((out / "run.json").read_text())
    assert run["original_model_cached"] is False and run["base_model_hash"] != run["original_model_hash"]
    # the main job ends with its purpose: a board of the unlearned entries, its ranking and its page
    board = json.loads((out / "board" / "scores.json").read_text())
    assert sorted(e["method"]["name"] for e in board["entries"]) == ["GA + uniform", "NPO + mrd"]
    assert board["rejected"] == [] and board["original_model"]["weights_sha256"] == run["original_model_hash"]
    assert f"Leaderboard: {(out / 'board' / 'index.html').resolve().as_uri()}" in first.stdout
    assert "GA + uniform" in first.stdout and "NPO + mrd" in first.stdout  # the ranking is printed
    assert not list((out / "work" / "runs").rglob("*.safetensors"))  # only run records are kept
    second = _demo(str(tiny_checkpoint), out, "--sigma", "1e-2", "--overwrite", "--board-runs", "none")
    assert second.returncode == 0, second.stderr
    assert json.loads((out / "run.json").read_text())["original_model_cached"] is True
    assert "loaded from cache" in (out / "report.md").read_text()


def test_demo_on_the_embedded_model(tmp_path):
    out = tmp_path / "demo"
    proc = _demo("smollm2-135m-instruct", out, "--board-runs", "ga:uniform,npo:mrd", "--board-steps", "2",
                 env={"MRD_BENCH_DATA_DIR": ""})  # needs no data dir
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    assert len(rows) == 10 and all(r["score"] > 0 and r["se"] is not None for r in rows)
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["model"] == "smollm2-135m-instruct" and run["timings"]["total_s"] > 0
    assert (out / "mrd.png").stat().st_size > 10_000
    board = json.loads((out / "board" / "scores.json").read_text())
    assert len(board["entries"]) == 2 and board["rejected"] == []
    assert board["bin_counts"] == {"easy": 4, "medium": 3, "hard": 3} or sum(board["bin_counts"].values()) == 10


def one_and_two_processes(args: list[str], out_one: Path, out_two: Path, port: int, env: dict | None = None):
    """`python -m mrd_bench.cli ARGS --out OUT` in one process and under torchrun with 2 (gloo),
    each process with one thread; both must succeed. Returns the two finished runs."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    cli = ["-m", "mrd_bench.cli", *args]
    one = subprocess.run([sys.executable, *cli, "--out", str(out_one)], env=env, capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                          str(port), *cli, "--out", str(out_two)], env=env, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr
    return one, two


def test_eval_defaults_the_batch_size_and_notes_the_prompt(monkeypatch, capsys):
    """`mrd-bench eval` hands lm-eval a batch size of 16 on CPU unless one is given, and says when
    TOFU tasks run without the chat template their prompt is meant for."""
    import lm_eval.__main__

    from mrd_bench.cli import main

    seen = []
    monkeypatch.setattr(lm_eval.__main__, "cli_evaluate", lambda: seen.append(list(sys.argv)))
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert main(["eval", "--model", "hf-mrd", "--model_args", "pretrained=gpt2", "--tasks", "tofu_forget_mrd"]) == 0
    argv = seen[-1]
    assert argv[argv.index("--batch_size") + 1] == "16"
    assert "--apply_chat_template" in capsys.readouterr().err
    assert main(["eval", "--model", "hf-mrd", "--model_args", "pretrained=gpt2", "--tasks", "tofu_forget_mrd",
                 "--batch_size=4", "--apply_chat_template"]) == 0
    assert seen[-1].count("--batch_size=4") == 1 and "--batch_size" not in seen[-1]
    assert capsys.readouterr().err == ""


def test_export_writes_provenance_and_no_progress_hides_library_bars(tiny_checkpoint, tmp_path):
    out = tmp_path / "exported"
    proc = mrd_bench("export-model", "--model", str(tiny_checkpoint), "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "Loading weights" not in proc.stderr and "Writing model shards" not in proc.stderr
    rec = json.loads((out / "export_record.json").read_text())
    assert rec["source"] == str(tiny_checkpoint) and rec["dtype"] == "float32"
    assert len(rec["model_hash"]) == 64 and "versions" in rec and "hardware" in rec
    # a second export replaces only its own files
    (out / "notes.txt").write_text("mine")
    again = mrd_bench("export-model", "--model", str(tiny_checkpoint), "--out", str(out), "--overwrite")
    assert_one_line_error(again, "did not write (notes.txt)")
    (out / "notes.txt").unlink()
    again = mrd_bench("export-model", "--model", str(tiny_checkpoint), "--out", str(out), "--overwrite",
                      "--no-progress")
    assert again.returncode == 0, again.stderr
