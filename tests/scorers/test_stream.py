"""Streaming to a file: resume after an interruption, key checks, data-parallel equality."""
import json

import pytest

from mrd_bench.errors import OutputExistsError
from mrd_bench.models import encode_qa
from mrd_bench.scorers.runner import ScoreConfig
from mrd_bench.scorers.stream import Interrupted, score_to_file
from tests.e2e.test_cli import one_and_two_processes

QA = [(f"Question number {i}?", "Answer " + "word " * (i % 5 + 1)) for i in range(10)]


def _args(tokenizer):
    items = [encode_qa(tokenizer, q, a) for q, a in QA]
    return items, [f"s{i}" for i in range(len(QA))], [a for _, a in QA]


CFG = ScoreConfig(sigma=1e-2, draws=2, batch_size=2, chunk_batches=1)


def test_resume_after_interruption_gives_identical_output(tokenizer, tiny_model, tmp_path):
    items, ids, targets = _args(tokenizer)
    straight = score_to_file(tiny_model, items, ids, targets, CFG, tmp_path / "a.jsonl", meta={}, progress=False)
    with pytest.raises(Interrupted):
        score_to_file(tiny_model, items, ids, targets, CFG, tmp_path / "b.jsonl", meta={}, progress=False,
                      stop_after=2)
    partial = tmp_path / "b.jsonl.partial"
    assert not (tmp_path / "b.jsonl").exists()
    done_before = sum(1 for _ in open(partial / "rank-0.jsonl"))
    assert done_before == 4  # two chunks of two samples
    with open(partial / "rank-0.jsonl", "a") as handle:
        handle.write('{"sample_id": "s9", "sco')  # a torn line, as a kill mid-write leaves
    resumed = score_to_file(tiny_model, items, ids, targets, CFG, tmp_path / "b.jsonl", meta={}, progress=False)
    assert resumed.read_text() == straight.read_text()
    assert not partial.exists()
    meta_a, meta_b = (json.loads(p.with_name(p.stem + ".meta.json").read_text()) for p in (straight, resumed))
    assert meta_a["cache_key"] == meta_b["cache_key"] and meta_a["bin_edges"] == meta_b["bin_edges"]


def _resumed(tokenizer, model, tmp_path, monkeypatch, cfg):
    """Interrupt a run after 3 of its 5 chunks, resume it with `cfg`: (chunks scored, output)."""
    import mrd_bench.scorers.stream as stream

    items, ids, targets = _args(tokenizer)
    with pytest.raises(Interrupted):
        score_to_file(model, items, ids, targets, CFG, tmp_path / "s.jsonl", meta={}, progress=False,
                      stop_after=3)
    calls = []
    real = stream.score_chunk
    monkeypatch.setattr(stream, "score_chunk", lambda *a, **k: calls.append(1) or real(*a, **k))
    out = score_to_file(model, items, ids, targets, cfg, tmp_path / "s.jsonl", meta={}, progress=False)
    return len(calls), out


def test_resume_skips_finished_chunks(tokenizer, tiny_model, tmp_path, monkeypatch):
    calls, _ = _resumed(tokenizer, tiny_model, tmp_path, monkeypatch, CFG)
    assert calls == 2  # 5 chunks, 3 were done


def test_other_bins_resume_the_same_partial_run(tokenizer, tiny_model, tmp_path, monkeypatch):
    """Bins only label finished scores: a run interrupted with 3 bins resumes under 2."""
    from dataclasses import replace

    calls, out = _resumed(tokenizer, tiny_model, tmp_path, monkeypatch, replace(CFG, bins=2))
    assert calls == 2 and {json.loads(r)["bin"] for r in out.read_text().splitlines()} == {"easy", "hard"}


def test_a_partial_run_with_other_settings_is_not_mixed_in(tokenizer, tiny_model, tmp_path):
    items, ids, targets = _args(tokenizer)
    with pytest.raises(Interrupted):
        score_to_file(tiny_model, items, ids, targets, CFG, tmp_path / "s.jsonl", meta={}, progress=False,
                      stop_after=1)
    other = ScoreConfig(sigma=2e-2, draws=2, batch_size=2, chunk_batches=1)
    with pytest.raises(OutputExistsError, match="partial run with other settings"):
        score_to_file(tiny_model, items, ids, targets, other, tmp_path / "s.jsonl", meta={}, progress=False)
    out = score_to_file(tiny_model, items, ids, targets, other, tmp_path / "s.jsonl", meta={}, progress=False,
                        overwrite=True)
    assert len(out.read_text().splitlines()) == 10


def test_finished_scores_are_not_overwritten(tokenizer, tiny_model, tmp_path):
    items, ids, targets = _args(tokenizer)
    out = score_to_file(tiny_model, items, ids, targets, CFG, tmp_path / "s.jsonl", meta={}, progress=False)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        score_to_file(tiny_model, items, ids, targets, CFG, out, meta={}, progress=False)


def test_two_processes_give_the_same_scores_as_one(tiny_checkpoint, tmp_path):
    """torchrun with 2 CPU processes (gloo) against one process, each with one thread."""
    args = ["score", "--model", str(tiny_checkpoint), "--benchmark", "fictitious", "--split", "forget20",
            "--k", "2", "--sigma", "1e-2", "--batch-size", "4", "--chunk-batches", "1", "--no-progress"]
    _, two = one_and_two_processes(args, tmp_path / "one.jsonl", tmp_path / "two.jsonl", 29517,
                                   env={"MRD_BENCH_DATA_DIR": ""})
    assert two.stdout.count("Wrote 20 scores") == 1
    meta = json.loads((tmp_path / "two.meta.json").read_text())
    assert meta["processes"] == 2
    assert (tmp_path / "two.jsonl").read_text() == (tmp_path / "one.jsonl").read_text()


def test_an_eps_that_clamps_every_token_is_warned_about(tokenizer, tiny_model, tmp_path):
    items, ids, targets = _args(tokenizer)
    with pytest.warns(UserWarning, match=r"--eps 1e\+10 clamps all \d+ scored tokens"):
        score_to_file(tiny_model, items, ids, targets, ScoreConfig(sigma=1e-2, draws=1, eps=1e10),
                      tmp_path / "s.jsonl", meta={}, progress=False)


def test_non_finite_weights_and_scores_are_errors_never_a_bin(tokenizer, tiny_model, tmp_path):
    import torch

    from mrd_bench.errors import DataError, ModelError

    items, ids, targets = _args(tokenizer)
    with torch.no_grad():
        tiny_model.lm_head.weight.fill_(3e38)  # finite weights whose logits overflow
    with pytest.raises(DataError, match="10 of 10 MRD scores are not finite"):
        score_to_file(tiny_model, items, ids, targets, CFG, tmp_path / "s.jsonl", meta={}, progress=False)
    assert not (tmp_path / "s.jsonl").exists() and not (tmp_path / "s.jsonl.partial").exists()
    with torch.no_grad():
        tiny_model.lm_head.weight[0, 0] = float("inf")
    with pytest.raises(ModelError, match=r"1 of \d+ tensors hold NaN or Inf \(e\.g\. 'lm_head\.weight'\)"):
        score_to_file(tiny_model, items, ids, targets, CFG, tmp_path / "s.jsonl", meta={}, progress=False)
