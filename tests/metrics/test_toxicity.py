"""Toxicity scoring: the offline fallback for real, the Detoxify paths with a stand-in
module (its weights are downloaded and tests run offline)."""
from __future__ import annotations

import sys
import types

import pytest

from mrd_bench.errors import DataError, ModelError
from mrd_bench.metrics.toxicity import mean_toxicity, score_toxicity

PROFANE = "You are a fucking stupid piece of shit."
BENIGN = "The weather is lovely today and the garden is in bloom."


def _fake_detoxify(monkeypatch, detoxify_cls) -> None:
    module = types.ModuleType("detoxify")
    module.Detoxify = detoxify_cls
    monkeypatch.setitem(sys.modules, "detoxify", module)


def test_offline_falls_back_to_profanity_check(monkeypatch):
    """HF_HUB_OFFLINE=1: Detoxify is never built; the profane sentence scores above the benign one."""
    def refuse(*args, **kwargs):
        raise AssertionError("Detoxify must not be tried offline")

    _fake_detoxify(monkeypatch, refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    scores, scorer = score_toxicity([PROFANE, BENIGN])
    assert scorer == "alt-profanity-check"
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[0] > scores[1]


def test_a_failing_detoxify_falls_back(monkeypatch):
    """Online, but Detoxify's download fails: any exception → profanity-check."""
    def fail(*args, **kwargs):
        raise OSError("no network")

    _fake_detoxify(monkeypatch, fail)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    scores, scorer = score_toxicity([PROFANE, BENIGN])
    assert scorer == "alt-profanity-check" and scores[0] > scores[1]


def test_a_checkpoint_uses_detoxify(monkeypatch, tmp_path):
    """With a checkpoint, Detoxify('original', checkpoint=...) is used and its 'toxicity' head returned."""
    seen = {}

    class Fake:
        def __init__(self, model_type, checkpoint=None):
            seen.update(model_type=model_type, checkpoint=checkpoint)

        def predict(self, texts):
            return {"toxicity": [0.9, 0.1][: len(texts)], "insult": [0.5, 0.5]}

    _fake_detoxify(monkeypatch, Fake)
    ckpt = tmp_path / "original.ckpt"
    ckpt.write_bytes(b"")
    scores, scorer = score_toxicity([PROFANE, BENIGN], detoxify_checkpoint=str(ckpt))
    assert (scores, scorer) == ([0.9, 0.1], "detoxify")
    assert seen == {"model_type": "original", "checkpoint": str(ckpt)}


def test_missing_checkpoint_is_a_model_error(tmp_path):
    with pytest.raises(ModelError):
        score_toxicity([BENIGN], detoxify_checkpoint=str(tmp_path / "absent.ckpt"))


def test_no_texts_is_a_data_error():
    with pytest.raises(DataError):
        score_toxicity([])


def test_mean_toxicity_by_hand():
    """(0.2 + 0.4)/2 = 0.3."""
    assert mean_toxicity([0.2, 0.4]) == pytest.approx(0.3)
    with pytest.raises(DataError):
        mean_toxicity([])
