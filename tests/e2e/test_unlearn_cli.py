"""End-to-end: `mrd-bench unlearn`, `finetune` and `updates-to-forget` on a tiny model."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from tests.e2e.test_cli import assert_one_line_error, mrd_bench, one_and_two_processes

FICT = ["--benchmark", "fictitious", "--forget", "forget20", "--no-progress"]


def weights(folder):
    return load_file(str(folder / "model.safetensors"))


def record(folder):
    return json.loads((folder / "run_record.json").read_text())


@pytest.mark.parametrize("method, extra", [("ga", []), ("graddiff", ["--retain", "retain80"]),
                                           ("po", ["--retain", "retain80"]), ("npo", []),
                                           ("cga", ["--refresh-every", "2"])])
def test_each_method_changes_the_weights_and_writes_a_run_record(tiny_checkpoint, tmp_path, method, extra):
    out = tmp_path / method
    proc = mrd_bench("unlearn", "--model", str(tiny_checkpoint), *FICT, "--method", method, "--epochs", "1",
                     "--batch-size", "2", "--lr", "1e-3", "--mrd-draws", "1", *extra, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    before, after = weights(tiny_checkpoint), weights(out)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    rec = record(out)
    assert rec["settings"]["method"] == method and rec["steps"] == 10  # 20 samples, batch 2
    assert rec["settings"]["sampler"] is None and rec["scores_source"] == ("scored" if method == "cga" else None)
    assert rec["model_hash"]["initial"] != rec["model_hash"]["final"]
    for key in ("versions", "hardware", "data_hash", "wall_time_s", "losses", "loop", "inputs"):
        assert key in rec
    assert rec["versions"]["torch"] == torch.__version__.split("+")[0] or rec["versions"]["torch"]


def test_replay_reproduces_the_checkpoint_bit_for_bit(tiny_checkpoint, tmp_path):
    first = tmp_path / "first"
    proc = mrd_bench("unlearn", "--model", str(tiny_checkpoint), *FICT, "--method", "npo", "--sampler", "mrd",
                     "--retain", "retain80", "--max-steps", "3", "--batch-size", "2", "--lr", "1e-3",
                     "--mrd-draws", "1", "--seed", "7", "--out", str(first))
    assert proc.returncode == 0, proc.stderr
    again = mrd_bench("unlearn", "--replay", str(first / "run_record.json"), "--out", str(tmp_path / "again"),
                      "--no-progress")
    assert again.returncode == 0, again.stderr
    assert "match the record" in again.stdout
    a, b = weights(first), weights(tmp_path / "again")
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = mrd_bench("unlearn", "--model", str(tiny_checkpoint), *FICT, "--method", "npo", "--sampler", "mrd",
                      "--retain", "retain80", "--max-steps", "3", "--batch-size", "2", "--lr", "1e-3",
                      "--mrd-draws", "1", "--seed", "8", "--out", str(tmp_path / "other"))
    assert other.returncode == 0, other.stderr
    assert record(tmp_path / "other")["model_hash"]["final"] != record(first)["model_hash"]["final"]


def test_early_stopping_records_the_updates_to_the_threshold(tiny_checkpoint, tmp_path):
    out = tmp_path / "stop"
    proc = mrd_bench("unlearn", "--model", str(tiny_checkpoint), *FICT, "--method", "ga", "--early-stop",
                     "--threshold-split", "forget20", "--max-steps", "5", "--batch-size", "2", "--lr", "1e-2",
                     "--el-stride", "8", "--el-horizon", "4", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    rec = record(out)
    # the threshold is the forget set's own mean on the initial model: it is not below it at step 0
    assert rec["checks"][0]["step"] == 0 and not rec["checks"][0]["below"]
    assert rec["threshold"]["ma"] == pytest.approx(rec["checks"][0]["ma"])
    first_below = next((c["step"] for c in rec["checks"] if c["below"]), None)
    assert rec["updates_to_threshold"] == first_below
    if first_below is not None:
        assert rec["steps"] == first_below  # it stopped there


def test_bad_input_is_a_one_line_error(tiny_checkpoint, tmp_path):
    m = ["--model", str(tiny_checkpoint)]
    cases = [
        (["--benchmark", "fictitious", "--forget", "forget20", "--method", "gaa"], ["unknown method", "'ga'"]),
        (["--benchmark", "fictitious", "--forget", "forget20", "--sampler", "mrdd"], ["unknown sampler", "'mrd'"]),
        (["--benchmark", "fictitious", "--forget", "forget20", "--method", "graddiff", "--retain", "full"],
         ["retain samples are also in the forget set", "disjoint"]),
        (["--benchmark", "fictitious", "--forget", "forget20", "--method", "graddiff"], ["needs a retain set"]),
        (["--benchmark", "fictitious", "--forget", "forget20", "--method", "cga", "--sampler", "uniform"],
         ["cga is ga with the mrd sampler"]),
        (["--benchmark", "fictitious", "--forget", "forget20", "--sampler", "mrd", "--scores", "/no/scores.jsonl"],
         ["does not exist", "mrd-bench score"]),
    ]
    for args, needles in cases:
        assert_one_line_error(mrd_bench("unlearn", *m, *args, "--out", str(tmp_path / "x")), *needles)
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "f").write_text("keep")
    assert_one_line_error(mrd_bench("unlearn", *m, *FICT, "--out", str(occupied)), "--overwrite")
    assert (occupied / "f").read_text() == "keep"


def test_an_empty_forget_set_is_refused(tiny_checkpoint, tmp_path, data_dir):
    # forget01 is TOFU's last 2 authors; the retain split's first authors hold none of it
    proc = mrd_bench("unlearn", "--model", str(tiny_checkpoint), "--benchmark", "tofu", "--forget", "retain90",
                     "--subset-authors", "2", "--out", str(tmp_path / "x"), "--no-progress")
    assert_one_line_error(proc, "is empty", "--subset-authors")


def test_finetune_on_an_author_subset_then_the_retain_model(tiny_checkpoint, tmp_path, data_dir):
    full = tmp_path / "full"
    proc = mrd_bench("finetune", "--model", str(tiny_checkpoint), "--benchmark", "tofu", "--split", "full",
                     "--subset-authors", "3", "--epochs", "2", "--lr", "3e-3", "--batch-size", "20",
                     "--prompt-format", "qa", "--out", str(full), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    rec = record(full)
    assert rec["kind"] == "finetune" and rec["steps"] == 2 * 60 // 20  # 3 authors x 20 QA pairs
    assert rec["losses"][-1] < rec["losses"][0]
    assert set(rec["settings"]) == {"max_length", "prompt_format", "lora_rank", "lora_alpha"}
    retain = tmp_path / "retain"
    proc = mrd_bench("finetune", "--model", str(tiny_checkpoint), "--benchmark", "tofu", "--split", "retain99",
                     "--subset-authors", "3", "--epochs", "1", "--batch-size", "20", "--out", str(retain),
                     "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert record(retain)["steps"] == 1  # the subset's one author outside forget01 (TOFU's last 2 authors)
    from transformers import AutoModelForCausalLM  # what lm-eval's hf model does with the folder

    assert AutoModelForCausalLM.from_pretrained(full).config.vocab_size > 0


def test_lora_trains_adapters_and_saves_merged_weights(tiny_checkpoint, tmp_path):
    out = tmp_path / "lora"
    proc = mrd_bench("unlearn", "--model", str(tiny_checkpoint), *FICT, "--lora-rank", "4", "--lr", "1e-2",
                     "--max-steps", "2", "--batch-size", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    before, after = weights(tiny_checkpoint), weights(out)
    assert set(before) == set(after)  # an ordinary checkpoint, adapters merged
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed and all("embed_tokens" not in k and "norm" not in k for k in changed)


def test_updates_to_forget_counts_censors_and_resumes(tiny_checkpoint, tmp_path):
    scores = tmp_path / "scores.jsonl"
    proc = mrd_bench("score", "--model", str(tiny_checkpoint), "--benchmark", "fictitious", "--split", "forget20",
                     "--k", "1", "--sigma", "1e-2", "--no-baselines", "--out", str(scores), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "updates.jsonl"
    args = ["updates-to-forget", "--model", str(tiny_checkpoint), "--benchmark", "fictitious", "--split",
            "forget20", "--threshold-split", "holdout20", "--method", "ga", "--lr", "5e-2", "--max-updates", "3",
            "--scores", str(scores), "--out", str(out), "--no-progress"]
    proc = mrd_bench(*args)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 20
    for r in rows:
        assert 0 <= r["updates"] <= 3 and (r["censored"] == (r["ma_final"] >= r["ma_initial"] and r["updates"] == 3)
                                            or not r["censored"])
        assert r["censored"] or r["ma_final"] < json.loads(out.with_name("updates.meta.json").read_text())[
            "threshold"]["ma"]
    meta = json.loads(out.with_name("updates.meta.json").read_text())
    assert meta["summary"]["samples"] == 20 and "spearman_mrd_updates" in meta["summary"]
    assert out.with_name("updates.png").stat().st_size > 0
    # a killed run resumes: a partial folder with one finished row (marked) under the same key
    resumed = tmp_path / "resumed.jsonl"
    partial = tmp_path / "resumed.jsonl.partial"
    partial.mkdir()
    (partial / "key.json").write_text(json.dumps({"key": meta["resume_key"]}))
    (partial / "rank-0.jsonl").write_text(json.dumps({**rows[0], "updates": 99}) + "\n" + '{"torn')
    proc = mrd_bench(*args[:-3], "--out", str(resumed), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    again = [json.loads(line) for line in resumed.read_text().splitlines()]
    assert again[0]["updates"] == 99 and again[1:] == rows[1:]  # the finished row was kept, not redone
    assert not partial.exists()


def test_two_processes_train_like_one(tiny_checkpoint, tmp_path):
    """torchrun with 2 CPU processes: each takes half of every batch; accelerate averages the gradients."""
    args = ["unlearn", "--model", str(tiny_checkpoint), *FICT, "--method", "graddiff", "--retain", "retain80",
            "--max-steps", "3", "--batch-size", "2", "--lr", "1e-3"]
    _, two = one_and_two_processes(args, tmp_path / "one", tmp_path / "two", 29519)
    assert two.stdout.count("Wrote the unlearned checkpoint") == 1
    assert record(tmp_path / "two")["processes"] == 2
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_a_run_that_changed_no_weight_says_so():
    import warnings

    from mrd_bench.methods.loop import LoopConfig, LoopResult
    from mrd_bench.unlearn import warn_if_unchanged

    with pytest.warns(UserWarning, match=r"no update changed the weights: after 1 step\(s\)"):
        warn_if_unchanged({"initial": "a", "final": "a"}, LoopConfig(warmup_steps=100), LoopResult(steps=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_unchanged({"initial": "a", "final": "b"}, LoopConfig(), LoopResult(steps=1))


def test_a_record_older_than_the_adamw_choice_replays_with_torchs_default(tiny_checkpoint, tmp_path):
    """Records made before --adamw existed were trained by torch's default AdamW; their replay uses it. A
    fused run's record replays fused, bit for bit, and its weights differ from the default's."""
    runs = {}
    for impl in ("default", "fused"):
        runs[impl] = tmp_path / impl
        proc = mrd_bench("unlearn", "--model", str(tiny_checkpoint), *FICT, "--method", "ga", "--max-steps", "3",
                         "--batch-size", "2", "--lr", "1e-3", "--adamw", impl, "--out", str(runs[impl]))
        assert proc.returncode == 0, proc.stderr
    rec = record(runs["default"])
    assert rec["loop"].pop("adamw") == "default"
    (runs["default"] / "run_record.json").write_text(json.dumps(rec))
    for impl in ("default", "fused"):
        again = tmp_path / f"again-{impl}"
        proc = mrd_bench("unlearn", "--replay", str(runs[impl] / "run_record.json"), "--out", str(again),
                         "--no-progress")
        assert proc.returncode == 0, proc.stderr
        assert record(again)["loop"]["adamw"] == impl
        a, b = weights(runs[impl]), weights(again)
        assert all(torch.equal(a[k], b[k]) for k in a)
    default, fused = weights(runs["default"]), weights(runs["fused"])
    assert any(not torch.equal(default[k], fused[k]) for k in default)  # the two differ in the last bits
