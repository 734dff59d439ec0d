"""The overwrite policy (issue #26), one test per writing command: a user's file in (or beside)
the target survives `--overwrite`; a command replaces only what it wrote, all at once, and
never one of its own inputs. And every JSON file written is valid JSON (no NaN, no Infinity).

In-process through the CLI's main(argv), on the tiny model and the fictitious benchmark."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mrd_bench.outputs import MANIFEST
from tests.e2e.bad_inputs import _fictitious_ids, board_and_run, measured_report
from tests.e2e.test_bad_inputs import snapshot

F10 = ["--benchmark", "fictitious", "--split", "forget10"]


def cli(capsys, *argv: str) -> tuple[int, str]:
    """Exit code and the last stderr line of `mrd-bench ARGV`, run in this process."""
    from mrd_bench.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err.strip().splitlines()
    return code, err[-1] if err else ""


def strict_json(path: Path):
    """The file parsed as valid JSON: NaN, Infinity and -Infinity are refused."""
    def refuse(constant):
        raise AssertionError(f"{path.name} holds {constant}, which is not JSON")

    text = path.read_text()
    return [json.loads(line, parse_constant=refuse) for line in text.splitlines() if line.strip()] \
        if path.suffix == ".jsonl" else json.loads(text, parse_constant=refuse)


def refused_untouched(capsys, folder: Path, *argv: str, words: str = "did not write (notes.txt)") -> None:
    """`argv` with --overwrite is refused in one line naming the user's file, and `folder` is as it was."""
    before = snapshot(folder)
    code, line = cli(capsys, *argv, "--overwrite")
    assert code == 2 and words in line, line
    assert snapshot(folder) == before


def user_notes(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text("my notes")
    return folder / "notes.txt"


def write_scores(folder: Path, name: str = "s") -> Path:
    ids = _fictitious_ids()
    rows = [{"sample_id": s, "score": 0.1 * (i + 1), "bin": ["hard", "medium", "easy"][i * 3 // len(ids)]}
            for i, s in enumerate(ids)]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / f"{name}.meta.json").write_text(json.dumps({"bin_edges": [0.35, 0.7]}))
    return folder / f"{name}.jsonl"


# ----------------------------------------------------------------------------- single-file outputs


def test_score(tmp_path, tiny_checkpoint, data_dir, capsys):
    notes, out = user_notes(tmp_path), tmp_path / "s.jsonl"
    argv = ["score", "--model", tiny_checkpoint, *F10, "--limit", "4", "--bins", "2", "--k", "1", "--no-baselines",
            "--no-progress", "--out", out]
    out.write_text("earlier scores\n")
    assert cli(capsys, *argv)[1].endswith("pass --overwrite to replace them, or choose another output path.")
    assert cli(capsys, *argv, "--overwrite") == (0, "")
    assert notes.read_text() == "my notes" and len(strict_json(out)) == 4
    strict_json(tmp_path / "s.meta.json")
    data = tmp_path / "mine.jsonl"
    data.write_text('{"question": "Who?", "answer": "Me."}\n')
    before = snapshot(tmp_path)
    code, line = cli(capsys, *argv[:-1], data, "--data-path", data, "--overwrite")
    assert code == 2 and "is --data-path" in line and snapshot(tmp_path) == before


def test_annotate(tmp_path, data_dir, capsys):
    notes, scores = user_notes(tmp_path), write_scores(tmp_path)
    argv = ["annotate", *F10, "--scores", scores, "--out", tmp_path / "ann.json"]
    assert cli(capsys, *argv) == (0, "")
    assert cli(capsys, *argv, "--overwrite") == (0, "")
    assert notes.read_text() == "my notes" and len(strict_json(tmp_path / "ann.json")["samples"]) == 10
    before = snapshot(tmp_path)
    code, line = cli(capsys, "annotate", *F10, "--scores", scores, "--out", scores, "--overwrite")
    assert code == 2 and "is --scores" in line and snapshot(tmp_path) == before


def test_updates_to_forget(tmp_path, tiny_checkpoint, data_dir, capsys):
    notes, out = user_notes(tmp_path), tmp_path / "u.jsonl"
    argv = ["updates-to-forget", "--model", tiny_checkpoint, "--benchmark", "fictitious", "--split", "forget10",
            "--max-updates", "1", "--no-progress", "--out", out]
    out.write_text("earlier results\n")
    assert cli(capsys, *argv, "--overwrite") == (0, "")
    assert notes.read_text() == "my notes" and len(strict_json(out)) == 10
    strict_json(tmp_path / "u.meta.json")


# ----------------------------------------------------------------------------- checkpoint folders


def test_export_model_replaces_its_checkpoint_whole(tmp_path, tiny_checkpoint, capsys):
    out, beside = tmp_path / "ckpt", user_notes(tmp_path)
    assert cli(capsys, "export-model", "--model", tiny_checkpoint, "--out", out) == (0, "")
    assert cli(capsys, "export-model", "--model", tiny_checkpoint, "--out", out, "--dtype", "bfloat16",
               "--overwrite") == (0, "")
    config = json.loads((out / "config.json").read_text())
    record = strict_json(out / "export_record.json")
    assert record["dtype"] == "bfloat16" and config.get("dtype", config.get("torch_dtype")) == "bfloat16"
    assert beside.read_text() == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "notes.txt"]  # nothing left aside
    user_notes(out)
    refused_untouched(capsys, tmp_path, "export-model", "--model", tiny_checkpoint, "--out", out)


def test_an_interrupted_save_leaves_the_old_checkpoint(tmp_path, tokenizer, monkeypatch):
    """Issue #26 case 5: killed after the new weights are written, the old checkpoint is whole."""
    from mrd_bench.checkpoints import save_checkpoint
    from tests.conftest import build_model

    out = tmp_path / "ckpt"
    save_checkpoint(build_model(len(tokenizer), seed=0), tokenizer, out, {"run_record.json": {"a": 1}})
    before = snapshot(tmp_path)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tokenizer, "save_pretrained", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(build_model(len(tokenizer), seed=1), tokenizer, out)
    assert snapshot(tmp_path) == before


def test_unlearn(tmp_path, tiny_checkpoint, data_dir, capsys):
    out = tmp_path / "ckpt"
    (out / "plots").mkdir(parents=True)
    (out / "model.safetensors").write_text("an earlier checkpoint")
    user_notes(out)
    refused_untouched(capsys, tmp_path, "unlearn", "--model", tiny_checkpoint, "--benchmark", "fictitious",
                      "--forget", "forget20", "--max-steps", "1", "--no-progress", "--out", out,
                      words="did not write (notes.txt, plots/)")


def test_finetune(tmp_path, tiny_checkpoint, data_dir, capsys):
    out, beside = tmp_path / "ckpt", user_notes(tmp_path)
    argv = ["finetune", "--model", tiny_checkpoint, "--benchmark", "fictitious", "--split", "forget10",
            "--max-steps", "1", "--save-every", "0", "--no-progress", "--out", out]
    assert cli(capsys, *argv) == (0, "")
    first = (out / "model.safetensors").read_bytes()
    assert cli(capsys, *argv, "--lr", "1e-3", "--overwrite") == (0, "")
    assert (out / "model.safetensors").read_bytes() != first and beside.read_text() == "my notes"
    assert json.loads((out / MANIFEST).read_text())["written_by"] == "checkpoint"
    user_notes(out)
    refused_untouched(capsys, tmp_path, *argv)


# ----------------------------------------------------------------------------- report folders


def test_report(tmp_path, capsys):
    from tests.report.test_lmeval_report import test_report_gives_counts_intervals_directions_and_why_nan as build

    build(tmp_path)  # tmp/run/mrd_report, with NaN figures
    out, beside = tmp_path / "run" / "mrd_report", user_notes(tmp_path / "run")
    report = strict_json(out / "report.json")
    assert report["table"]["t"]["fa"]["medium"] is None
    assert report["null_reasons"]["/table/t/fa/medium"] == "not a finite number (nan)"
    assert cli(capsys, "report", tmp_path / "run", "--overwrite") == (0, "")
    assert beside.read_text() == "my notes"
    user_notes(out)
    refused_untouched(capsys, tmp_path, "report", tmp_path / "run")


def test_compare_difficulty(tmp_path, capsys):
    a, b = write_scores(tmp_path, "a"), write_scores(tmp_path, "b")
    out, beside = tmp_path / "cmp", user_notes(tmp_path)
    argv = ["compare-difficulty", a, b, "--resamples", "50", "--out", out]
    assert cli(capsys, *argv) == (0, "")
    assert cli(capsys, *argv, "--overwrite") == (0, "")
    assert beside.read_text() == "my notes" and strict_json(out / "compare.json")["n"] == 10
    user_notes(out)
    refused_untouched(capsys, tmp_path, *argv)


def test_audit(tmp_path, capsys):
    from mrd_bench.lmeval.stratified import shipped_dir

    samples = json.loads((shipped_dir() / "tofu_forget10.json").read_text())["samples"]
    claim = {"schema_version": 1, "title": "a claim", "benchmark": "tofu", "forget": {"sample_ids": sorted(samples)[:40]},
             "difficulty": {"shipped": "tofu_forget10"},
             "reported": {"method": "M", "metric": "prob", "value": 0.1, "direction": "lower"}}
    (tmp_path / "claim.json").write_text(json.dumps(claim))
    out, beside = tmp_path / "claim_audit", user_notes(tmp_path)
    argv = ["audit", tmp_path / "claim.json", "--permutations", "100", "--bootstrap", "100"]
    assert cli(capsys, *argv)[0] == 0
    assert cli(capsys, *argv, "--overwrite")[0] == 0
    assert beside.read_text() == "my notes" and strict_json(out / "audit.json")["n_subset"] == 40
    user_notes(out)
    refused_untouched(capsys, tmp_path, *argv)


def test_leaderboard_submit(tmp_path, capsys):
    board_and_run(tmp_path)
    board_notes = user_notes(tmp_path / "board")
    argv = ["leaderboard", "submit", "--board", tmp_path / "board", "--run", tmp_path / "run", "--record",
            tmp_path / "run_record.json", "--name", "GA + mrd"]
    assert cli(capsys, *argv)[0] == 0
    out = tmp_path / "board" / "submissions" / "GA_mrd"
    assert cli(capsys, *argv, "--overwrite")[0] == 0
    assert board_notes.read_text() == "my notes" and (tmp_path / "board" / "board.json").is_file()
    assert json.loads((out / MANIFEST).read_text())["written_by"] == "leaderboard submit"
    user_notes(out)
    refused_untouched(capsys, tmp_path, *argv)
    refused_untouched(capsys, tmp_path, *argv[:-1], "..", words="gives no folder name")


def test_reproduce_report(tmp_path, data_dir, capsys):
    """Its report is an output: replaced only with --overwrite, only when it holds nothing else,
    and never a measured verdict by a pending one (issue #26 case 2)."""
    out, beside = tmp_path / "report", user_notes(tmp_path)
    argv = ["reproduce", "--work", tmp_path / "work", "--out", out, "--stages", "report", "--no-progress"]
    measured_report(out)
    refused_untouched(capsys, tmp_path, *argv, words="never turns a measured verdict pending")
    user_notes(out)
    refused_untouched(capsys, tmp_path, *argv)
    (out / "notes.txt").unlink()
    (out / "results.json").write_text(json.dumps({"claims": {"predicts": {"verdict": "pending"}}}))
    assert cli(capsys, *argv, "--overwrite")[0] == 0  # a pending report may replace a pending one
    assert beside.read_text() == "my notes" and not (tmp_path / "work").exists()
    written = json.loads((out / MANIFEST).read_text())
    assert written["written_by"] == "reproduce" and sorted({f.split("/")[0] for f in written["files"]}) == sorted(
        p.name for p in out.iterdir() if p.name != MANIFEST)
    assert "data/study.json" in written["files"]  # the data folder the report was computed from
    strict_json(out / "results.json")


def test_demo(tmp_path, tiny_checkpoint, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "report.md").write_text("# an earlier demo")
    user_notes(out)
    refused_untouched(capsys, tmp_path, "demo", "--model", tiny_checkpoint, "--no-progress", "--out", out)


# ----------------------------------------------------------------------------- the swap itself


def test_a_swap_killed_between_its_renames_is_mended(tmp_path, monkeypatch):
    """Without an atomic exchange the swap is two renames; killed between them, the next run puts
    the old output back before it looks."""
    from mrd_bench import outputs

    policy = {"what": "a report", "kind": "report"}
    out = tmp_path / "r"
    with outputs.replacing(out, **policy) as tmp:
        (tmp / "report.md").write_text("old")
    monkeypatch.setattr(outputs, "_exchange", lambda a, b: False)
    renames = []

    def rename(src, dst):
        renames.append(dst)
        if len(renames) == 2:
            raise KeyboardInterrupt
        os.replace(src, dst)

    monkeypatch.setattr(outputs.os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        with outputs.replacing(out, **policy) as tmp:
            (tmp / "report.md").write_text("new")
    monkeypatch.undo()
    assert not out.exists()
    outputs.folder_target(out, True, **policy)
    assert (out / "report.md").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["r"]


# ----------------------------------------------------------------------------- files written as one


def _set_of_two(folder: Path, text: str) -> list[Path]:
    from mrd_bench.io import writing_together

    paths = [folder / "s.jsonl", folder / "s.meta.json"]
    with writing_together(*paths) as staged:
        for target in staged:
            target.write_text(text)
    return paths


def test_a_set_interrupted_before_its_commit_leaves_the_old_files(tmp_path):
    from mrd_bench.io import writing_together

    paths = _set_of_two(tmp_path, "old")
    with pytest.raises(KeyboardInterrupt):
        with writing_together(*paths) as staged:
            staged[0].write_text("new")
            raise KeyboardInterrupt  # killed between the two files
    assert [p.read_text() for p in paths] == ["old", "old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.jsonl", "s.meta.json"]  # nothing staged is left


def test_a_set_interrupted_inside_its_commit_is_finished_by_the_next_reader(tmp_path, monkeypatch, data_dir):
    """Killed after the first of its renames: the folder holds new scores beside old bin edges
    until the next reader or writer looks, which completes the commit instead of reading a mix."""
    from mrd_bench import io
    from mrd_bench.annotate import read_scores_file

    old = write_scores(tmp_path)
    meta = old.with_name("s.meta.json")
    renames = []

    def replace(src, dst):
        if str(src).startswith(str(tmp_path / ".mrd-bench-set.")):
            renames.append(dst)
            if len(renames) == 2:
                raise KeyboardInterrupt
        os.rename(src, dst)

    monkeypatch.setattr(io.os, "replace", replace)
    rows = [{"sample_id": "a", "score": 1.0}, {"sample_id": "b", "score": 2.0}]
    with pytest.raises(KeyboardInterrupt):
        from mrd_bench.pipeline import write_scores as write

        write(old, rows, [1.5], {"run": "new"})
    monkeypatch.undo()
    assert len(strict_json(old)) == 2 and "run" not in json.loads(meta.read_text())  # a mix, for now
    scores, found = read_scores_file(old)
    assert scores == {"a": 1.0, "b": 2.0} and found["bin_edges"] == [1.5] and found["run"] == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.jsonl", "s.meta.json"]


def test_a_board_build_interrupted_while_drawing_leaves_the_old_board(tmp_path, monkeypatch, capsys):
    import shutil

    from mrd_bench.leaderboard import page

    board = tmp_path / "board"
    shutil.copytree(Path(__file__).parents[1] / "leaderboards" / "fictitious_forget20", board)
    before = snapshot(board)

    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(page, "plots", killed)
    assert cli(capsys, "leaderboard", "build", board, "--overwrite", "--no-progress")[0] == 130
    assert snapshot(board) == before
    monkeypatch.undo()
    assert cli(capsys, "leaderboard", "build", board, "--overwrite", "--no-progress")[0] == 0
    after = snapshot(board)
    assert sorted(after) == sorted(before) and after["scores.json"] != before["scores.json"]  # built anew


def test_an_interrupted_demo_leaves_the_old_output_and_resumes(tmp_path, tiny_checkpoint, monkeypatch, capsys):
    from mrd_bench import demo

    out = tmp_path / "demo"
    argv = ["demo", "--model", tiny_checkpoint, "--out", out, "--train-samples", "4", "--epochs", "1",
            "--forget-split", "forget10", "--holdout-split", "holdout10", "--draws", "1", "--board-runs", "none",
            "--no-progress"]
    assert cli(capsys, *argv)[0] == 0
    before = snapshot(out)
    scored = []
    real_score = demo.score_to_file

    def score_then_kill(*args, **kwargs):
        scored.append(real_score(*args, **kwargs))
        raise KeyboardInterrupt  # the scores are written; the report is not

    monkeypatch.setattr(demo, "score_to_file", score_then_kill)
    assert cli(capsys, *argv, "--sigma", "2e-4", "--overwrite")[0] == 130
    assert snapshot(out) == before  # the old demo, whole
    staging = tmp_path / ".demo.mrd-bench-new"
    assert (staging / "scores.jsonl").is_file() and scored
    monkeypatch.undo()
    assert cli(capsys, *argv, "--sigma", "2e-4", "--overwrite")[0] == 0
    assert not staging.exists() and json.loads((out / "run.json").read_text())["config"]["sigma"] == 2e-4
    assert json.loads((out / MANIFEST).read_text())["written_by"] == "demo"
