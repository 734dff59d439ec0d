"""Our tasks under lm-eval's stock backends: the scored token counts, and a request cache that
never serves one split's prompts to another (mrd_bench.lmeval.requests)."""
from __future__ import annotations

import math

import pytest

from mrd_bench.lmeval.paths import tasks_dir
from mrd_bench.lmeval.requests import DOC_KEY, count_scored
from tests.lmeval.test_tofu_forget import chat_checkpoint  # noqa: F401  (the fixture: a tiny chat model)


def test_counts_are_the_tokens_lm_eval_scores(chat_checkpoint):  # noqa: F811 (the imported fixture)
    """count_scored against HFLM's own encoding of the same (context, continuation): a raw
    prompt with a spaced answer, a chat prompt whose trailing newline lm-eval moves into the
    continuation (one token more than the answer's own), and contexts ending in spaces."""
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=str(chat_checkpoint), device="cpu", batch_size=1)
    chat = lm.apply_chat_template([{"role": "user", "content": "Who wrote the novel?"}])
    answer = "Liesel Varnakov wrote it in 1999."
    pairs = [("Who wrote the novel?", " " + answer), (chat, answer), ("Question: Where?\nAnswer:  ", "Tartu."),
             ("the quick brown fox", " jumps over the lazy dog")]
    for context, continuation in pairs:
        assert count_scored(lm.tokenizer, context, continuation) == len(lm._encode_pair(context, continuation)[1])
    own = len(lm.tokenizer.encode(answer, add_special_tokens=False))
    assert count_scored(lm.tokenizer, chat, answer) == own + 1  # the generation prompt's newline


def _evaluate(model: str, checkpoint, tasks: list[str], metadata: dict, *, limit=4, cache=False, include=()):
    """lm-eval's simple_evaluate as its CLI calls it: the model args merged into the task metadata."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    import mrd_bench.lmeval.model  # noqa: F401  (registers hf-mrd)

    args = {"pretrained": str(checkpoint), "dtype": "float32"}
    manager = TaskManager(include_path=[str(tasks_dir()), *map(str, include)], metadata={**args, **metadata})
    return lm_eval.simple_evaluate(model=model, model_args=args, tasks=tasks, task_manager=manager, limit=limit,
                                   device="cpu", batch_size=2, cache_requests=cache, log_samples=True,
                                   bootstrap_iters=0)


def _prompts_match_documents(out: dict, task: str) -> list[str]:
    samples = out["samples"][task]
    assert samples
    for s in samples:
        context = s["arguments"][0][0]
        assert s["doc"]["question"] in context, (s["doc"]["question"], context)
    return [s["doc"]["sample_id"] for s in samples]


@pytest.mark.parametrize("order", [("forget10", "forget20"), ("forget20", "forget10")])
def test_request_cache_never_serves_another_splits_prompts(tiny_checkpoint, tmp_path, monkeypatch, caplog, order):
    """--cache_requests true, one split, then another (both orders): lm-eval's cache key leaves out
    --metadata, so without the check the second run would score the first split's prompts."""
    import lm_eval.caching.cache as cache

    monkeypatch.setattr(cache, "PATH", str(tmp_path / "lm-eval-cache"))
    (tmp_path / "lm-eval-cache").mkdir()
    runs = {}
    for split in order:
        caplog.clear()
        with caplog.at_level("WARNING", logger="mrd_bench"):
            out = _evaluate("hf", tiny_checkpoint, ["tofu_retain_qa_prob"],
                            {"benchmark": "fictitious", "retain_split": split}, cache=True)
        runs[split] = (_prompts_match_documents(out, "tofu_retain_qa_prob"),
                       out["results"]["tofu_retain_qa_prob"]["prob,none"])
        stale = "cached requests came from other documents" in caplog.text
        assert stale == (split == order[1]), caplog.text
    assert set(runs["forget10"][0]).isdisjoint(runs["forget20"][0])  # different documents, so different prompts
    fresh = _evaluate("hf", tiny_checkpoint, ["tofu_retain_qa_prob"],
                      {"benchmark": "fictitious", "retain_split": order[1]})
    assert runs[order[1]][1] == pytest.approx(fresh["results"]["tofu_retain_qa_prob"]["prob,none"], abs=1e-9)
    again = _evaluate("hf", tiny_checkpoint, ["tofu_retain_qa_prob"],
                      {"benchmark": "fictitious", "retain_split": order[1]}, cache=True)  # now a cache hit
    assert _prompts_match_documents(again, "tofu_retain_qa_prob") == runs[order[1]][0]


def test_stock_probability_is_the_mean_over_the_scored_tokens(tiny_checkpoint):
    """Under stock `hf`, the answer probability is exp(sum / scored tokens): the same as hf-mrd's
    mean of per-token log p when both score the same tokens (no chat template here)."""
    meta = {"benchmark": "fictitious", "retain_split": "forget10"}
    stock = _evaluate("hf", tiny_checkpoint, ["tofu_retain_qa_prob"], meta)
    ours = _evaluate("hf-mrd", tiny_checkpoint, ["tofu_retain_qa_prob"], meta)
    a = [s["prob"] for s in stock["samples"]["tofu_retain_qa_prob"]]
    b = [s["prob"] for s in ours["samples"]["tofu_retain_qa_prob"]]
    assert all(0 < x < 1 for x in a) and a == pytest.approx(b, rel=1e-4)
    for s in stock["samples"]["tofu_retain_qa_prob"]:  # by hand: the logged sum over the answer's tokens
        ll = float(s["resps"][0][0][0])
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(tiny_checkpoint))
        n = len(tok.encode(s["arguments"][0][0] + s["arguments"][0][1])) - len(tok.encode(s["arguments"][0][0]))
        assert s["prob"] == pytest.approx(math.exp(ll / n), rel=1e-6)


def test_a_task_variant_made_with_include_gets_per_token_values(tiny_checkpoint, tmp_path):
    """The usual lm-eval way to vary a task (`include:` one of ours, a new `task:` name) under
    hf-mrd: per-token values arrive (FA finite), because hf-mrd serves our documents, not our names."""
    variant = tmp_path / "variant"
    variant.mkdir()
    (variant / "my_forget_mia.yaml").write_text(
        f"include: {tasks_dir() / 'tofu' / 'tofu_forget_mrd_mia.yaml'}\ntask: my_forget_mia\n")
    meta = {"benchmark": "fictitious", "split": "forget10", "difficulty": str(_annotation(tiny_checkpoint, tmp_path))}
    out = _evaluate("hf-mrd", tiny_checkpoint, ["my_forget_mia"], meta, include=[variant])
    res = out["results"]["my_forget_mia"]
    assert 0.0 <= res["fa,none"] <= 1.0 and res["fa,none"] + res["ua,none"] == pytest.approx(1.0)
    assert all(DOC_KEY in s["doc"] for s in out["samples"]["my_forget_mia"])


def _annotation(checkpoint, tmp_path):
    """Every fictitious forget10 sample annotated (scores made up here: the bins are what matter)."""
    import json

    from mrd_bench.annotate import annotate
    from mrd_bench.data import load

    ids = load("fictitious", "forget10")["sample_id"]
    scores = tmp_path / "scores.jsonl"
    scores.write_text("".join(json.dumps({"sample_id": s, "score": 0.1 * (i + 1)}) + "\n" for i, s in enumerate(ids)))
    (tmp_path / "scores.meta.json").write_text(json.dumps({"bin_edges": [0.1 * len(ids) / 3, 0.2 * len(ids) / 3]}))
    return annotate(scores, ids, tmp_path / "annotation.json", source={"benchmark": "fictitious", "split": "forget10"})


def test_hf_mrd_refuses_an_automatic_batch_size(tiny_checkpoint, capsys):
    """--batch_size auto is refused in one line, never silently replaced by another size."""
    from mrd_bench.cli import main
    from mrd_bench.errors import ConfigError
    from mrd_bench.lmeval.model import TokenLevelHFLM

    with pytest.raises(ConfigError, match="hf-mrd: --batch_size auto: give a number"):
        TokenLevelHFLM(pretrained=str(tiny_checkpoint), device="cpu", batch_size="auto")
    code = main(["eval", "--model", "hf-mrd", "--model_args", f"pretrained={tiny_checkpoint}", "--tasks",
                 "tofu_forget_mrd", "--batch_size", "auto:2"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and "hf-mrd takes a number" in err, err


def test_counts_are_unknown_where_they_cannot_be_told_apart(tiny_checkpoint, caplog):
    """Two tasks that build other requests from one document (process_results cannot tell which
    task a result is from) and a tokenizer that cannot be loaded both give unknown counts (None),
    never another task's; the same task rebuilt keeps its own counts."""
    from types import SimpleNamespace

    from mrd_bench.lmeval import requests

    doc = {DOC_KEY: "test.loader:1", "sample_id": "s1", "member": 1}

    def built(name, args, model=str(tiny_checkpoint), doc=doc):
        inst = SimpleNamespace(doc=doc, doc_id=0, idx=0, request_type="loglikelihood", args=args)
        task = SimpleNamespace(eval_docs=[doc], instances=[inst],
                               config=SimpleNamespace(task=name, metadata={"pretrained": model}))
        requests._checked(task, None, (), {})

    built("a", ("Who wrote it?", " Liesel wrote it."))
    [n] = requests.scored_tokens(doc)
    built("a", ("Who wrote it?", " Liesel wrote it in 1999."))  # the same task again (another run): its own
    assert requests.scored_tokens(doc)[0] > n
    built("b", ("Question: Who wrote it?\nAnswer:", " Liesel."))  # another task, other requests: unknown
    assert requests.scored_tokens(doc) is None
    with caplog.at_level("WARNING", logger="mrd_bench"):
        other = {**doc, "sample_id": "s2"}
        built("c", ("Who?", " Liesel."), model=str(tiny_checkpoint / "no-such-tokenizer"), doc=other)
        assert requests.scored_tokens(other) is None
    assert "could not be loaded here" in caplog.text
