"""CUD scoring to a file: an interrupted run resumes to the uninterrupted result; labels from
another model are refused; rows with and without a corrupted input keep their own baselines."""
from __future__ import annotations

import json

import pytest

from mrd_bench.errors import DataError
from mrd_bench.models import encode_qa, weights_hash
from mrd_bench.scorers.corrupt import corrupt, entity_pool
from mrd_bench.scorers.cud_run import CudConfig, score_cud_to_file
from mrd_bench.scorers.stream import Interrupted
from tests.conftest import build_model

PAIRS = [(f"Who is {name}?", answer) for name, answer in
         [("Liesel Varnakov", "She wrote it."), ("Varnakov Liesel", "He wrote it in 1999."),
          ("Tartu Estonia", "A city."), ("Ab Cd", "The author."), ("Liesel Tartu", "The sea."),
          ("Cd Ab", "Fiction about the sea."), ("Estonia Tartu", "No."), ("Abc Def", "The lighthouse.")]]
PAIRS += [("what genre?", "historical fiction"), ("where?", "by the fire")]


def _inputs(tokenizer, baseline="corrupt"):
    items = [encode_qa(tokenizer, q, a) for q, a in PAIRS]
    ids = [f"s{i}" for i in range(len(PAIRS))]
    pool = entity_pool([q for q, _ in PAIRS])
    done = ([corrupt(tokenizer, q, a, e, pool, seed=0) for (q, a), e in zip(PAIRS, items)] if baseline == "corrupt"
            else [(None, {"baseline": "zero"})] * len(items))
    return items, ids, [d[0] for d in done], [d[1] for d in done]


def _labels(path, model_hash=None):
    labels = {"s0": "easy", "s1": "easy", "s2": "easy", "s3": "easy", "s4": "hard", "s5": "hard", "s6": "hard",
              "s7": "hard"}
    path.write_text(json.dumps({"labels": labels, **({"model_hash": model_hash} if model_hash else {})}))
    return path


def test_an_interrupted_run_resumes_to_the_same_scores(tokenizer, tmp_path):
    model = build_model(len(tokenizer), seed=4)
    items, ids, base, info = _inputs(tokenizer)
    assert sum(b is None for b in base) == 2 and info[-1]["baseline"] == "zero"  # no entity in the last two
    labels = _labels(tmp_path / "labels.json", weights_hash(model))
    cfg = CudConfig(steps=2, top_edges=5, folds=2, batch_size=2, chunk_batches=1)
    whole = score_cud_to_file(model, items, ids, base, info, labels, cfg, tmp_path / "whole.jsonl", meta={},
                              progress=False)
    with pytest.raises(Interrupted):
        score_cud_to_file(model, items, ids, base, info, labels, cfg, tmp_path / "cut.jsonl", meta={},
                          progress=False, stop_after=2)
    partial = tmp_path / "cut.jsonl.partial"
    assert len((partial / "rank-0.jsonl").read_text().splitlines()) == 4  # two chunks of two samples
    again = score_cud_to_file(model, items, ids, base, info, labels, cfg, tmp_path / "cut.jsonl", meta={},
                              progress=False)
    assert not partial.exists()
    a = [json.loads(x) for x in whole.read_text().splitlines()]
    b = [json.loads(x) for x in again.read_text().splitlines()]
    for x, y in zip(a, b):
        assert x["sample_id"] == y["sample_id"] and x["score"] == pytest.approx(y["score"], abs=1e-6)
    assert [r["baseline"]["baseline"] for r in a][-2:] == ["zero", "zero"]


def test_labels_from_another_model_are_refused(tokenizer, tmp_path):
    model = build_model(len(tokenizer), seed=4)
    items, ids, base, info = _inputs(tokenizer, "zero")
    labels = _labels(tmp_path / "labels.json", "f" * 64)
    with pytest.raises(DataError, match="different model"):
        score_cud_to_file(model, items, ids, base, info, labels, CudConfig(steps=1, folds=2),
                          tmp_path / "x.jsonl", meta={}, progress=False)
    assert not (tmp_path / "x.jsonl.partial").exists()  # refused before any work
