"""hf-mrd's speed paths give the outputs of the plain ones: shared contexts scored once from their
KV cache (against each pair run alone), and greedy generation that drops finished rows, in batches
of any width (against lm-eval's own HFLM.generate_until), then a whole TOFU group through the
lm-eval CLI both ways."""
from __future__ import annotations

import json
import math

import pytest
import torch

from mrd_bench.lmeval.greedy import greedy
from mrd_bench.lmeval.requests import DOC_KEY
from mrd_bench.metrics.min_k_plus_plus import min_k_pp_score
from tests.e2e.test_cli import mrd_bench

CONTEXTS = ["Question: Who wrote the novel about the lighthouse?\nAnswer:", "Where was the author born?",
            "Question: What genre does she write?\nAnswer:", "the quick brown fox"]
ANSWERS = [" Liesel Varnakov wrote it in 1999.", " The author was born in Tartu, Estonia.",
           " She writes historical fiction about the sea.", " jumps over the lazy dog", " In 1999."]


def _lm(checkpoint, **flags):
    from mrd_bench.lmeval.model import TokenLevelHFLM

    return TokenLevelHFLM(pretrained=str(checkpoint), device="cpu", batch_size=3, **flags)


def _requests(kind, pairs, tasks, doc=None):
    """Instances of `pairs`; their document is one of ours (hf-mrd serves it) unless `doc` is given."""
    from lm_eval.api.instance import Instance

    doc = {DOC_KEY: "tofu.load_forget:0", "vocab_moments": True} if doc is None else doc
    return [Instance(kind, doc, p, i, (tasks[i % len(tasks)], i, 1)) for i, p in enumerate(pairs)]


@pytest.mark.parametrize("head_rows", [512, 7], ids=["one LM-head slice", "LM head in slices of 7 tokens"])
def test_shared_contexts_score_as_each_pair_alone(tiny_checkpoint, head_rows, monkeypatch):
    monkeypatch.setattr("mrd_bench.lmeval.shared_prefix.HEAD_ROWS", head_rows)
    # 4 contexts x up to 5 answers; the same pairs again under other task names (scored once)
    pairs = [(c, a) for i, c in enumerate(CONTEXTS) for a in ANSWERS[:2 + i]]
    pairs += pairs[:5] + [(CONTEXTS[0], " " + "sea " * 200)]  # one past max_length: truncated from the left
    tasks = ["tofu_forget_mrd_mia", "tofu_forget_mrd_tr", "tofu_real_authors_prob"]
    # max_length 160: the long pair loses part of its context
    fast, plain = _lm(tiny_checkpoint, max_length=160), _lm(tiny_checkpoint, max_length=160, reuse_prefix="False")
    assert fast.reuse_prefix and not plain.reuse_prefix
    got, want = fast.loglikelihood(_requests("loglikelihood", pairs, tasks)), \
        plain.loglikelihood(_requests("loglikelihood", pairs, tasks))
    model = fast.model
    for (context, answer), a, b in zip(pairs, got, want):
        assert len(a.logprobs) == len(b.logprobs) > 0
        # a sum of ~100 float32 log-probabilities: a few ulps (1.5e-5 at |ll| ~ 136) apart at most
        assert a.ll == pytest.approx(b.ll, rel=1e-6, abs=1e-6) and a.correct == b.correct and a.is_greedy == b.is_greedy
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-6)
        # sums over the vocabulary in float32: a few ulps apart
        assert a.vocab_mean == pytest.approx(b.vocab_mean, rel=1e-6) and a.vocab_var == pytest.approx(b.vocab_var, rel=1e-5)
        # and each pair alone, no batch, no cache, written out here
        ctx, cont = fast._encode(context, answer)
        ids = (ctx + cont[-159:])[-160:]  # the continuation keeps at most max_length - 1 tokens
        with torch.no_grad():
            logp = model(torch.tensor([ids])).logits[0].log_softmax(-1)
        n = len(a.logprobs)
        alone = [float(logp[len(ids) - n - 1 + t, ids[len(ids) - n + t]]) for t in range(n)]
        assert a.logprobs == pytest.approx(alone, abs=1e-5)
        # Min-K%++'s moments, as open-unlearning writes them, in float64 from the same logits
        lp64 = logp.double()[len(ids) - n - 1:len(ids) - 1]
        mu = (lp64.exp() * lp64).sum(-1)
        var = (lp64.exp() * lp64.square()).sum(-1) - mu.square()
        assert a.vocab_mean == pytest.approx(mu.tolist(), abs=1e-5)
        assert a.vocab_var == pytest.approx(var.tolist(), rel=1e-3, abs=1e-7)
        z = ((lp64.gather(-1, torch.tensor(ids[len(ids) - n:])[:, None]).squeeze(-1) - mu)
             / var.clamp(min=1e-6).sqrt()).tolist()
        ou = -sum(sorted(z)[:max(1, int(n * 0.4))]) / max(1, int(n * 0.4))
        assert min_k_pp_score(a.logprobs, a.vocab_mean, a.vocab_var) == pytest.approx(-ou, rel=1e-3)


def test_dropping_finished_rows_generates_what_hflm_generates(tiny_checkpoint, monkeypatch):
    from lm_eval.models.huggingface import HFLM

    import mrd_bench.lmeval.model as hf_mrd

    calls = []
    monkeypatch.setattr(hf_mrd, "greedy", lambda *a, **k: calls.append(a[1].shape) or greedy(*a, **k))
    lm = _lm(tiny_checkpoint, gen_batch_size=3)
    # stop strings the random model hits at different steps, a budget some rows reach, left padding
    pairs = [(c + suffix, {"until": ["ea", "\nQ"], "max_gen_toks": 24, "do_sample": False})
             for c in CONTEXTS for suffix in ("", " the")]
    pairs.append((CONTEXTS[1], {"until": ["zzz"], "max_gen_toks": 9, "do_sample": False}))
    requests = _requests("generate_until", pairs, ["tofu_forget_mrd_rouge", "tofu_real_authors_rouge"])
    ours = lm.generate_until(requests)
    assert [shape[0] for shape in calls] == [3, 3, 2, 1]  # our path ran: 8 greedy rows in 3s, then the other kwargs
    stock = HFLM.generate_until(lm, requests)
    assert ours == stock
    lengths = {len(lm.tok_encode(s)) for s in ours}
    assert len(lengths) > 2  # rows did stop at different steps
    calls.clear()
    wide = _lm(tiny_checkpoint)  # gen_batch_size's default: 2 x batch_size rows a batch, the same texts
    assert wide.gen_batch_size == 6 and wide.generate_until(requests) == stock
    assert [shape[0] for shape in calls] == [6, 2, 1]
    calls.clear()
    assert lm.generate_until(_requests("generate_until", pairs, ["some_other_task"], doc={})) == stock
    assert calls == []  # another task's documents: HFLM's own path


@pytest.mark.usefixtures("data_dir")
def test_a_tofu_group_through_lm_eval_gives_the_same_samples_both_ways(tiny_checkpoint, tmp_path):
    runs = {}
    for name, extra in (("fast", ""), ("plain", ",reuse_prefix=False,drop_finished=False")):
        out = tmp_path / name
        proc = mrd_bench("eval", "--model", "hf-mrd", "--model_args", f"pretrained={tiny_checkpoint}{extra}",
                         "--tasks", "tofu_forget_mrd,tofu_real_authors", "--metadata", '{"split": "forget01"}',
                         "--limit", "6", "--gen_kwargs", "max_gen_toks=16", "--device", "cpu", "--log_samples",
                         "--output_path", str(out))
        assert proc.returncode == 0, proc.stderr
        samples = {}
        for path in sorted(out.rglob("samples_*.jsonl")):
            task = path.name.split("_2")[0].removeprefix("samples_")
            samples[task] = [json.loads(line) for line in path.read_text().splitlines()]
        runs[name] = samples
    assert set(runs["fast"]) == set(runs["plain"]) and len(runs["fast"]) == 5
    for task, rows in runs["fast"].items():
        for a, b in zip(rows, runs["plain"][task], strict=True):
            assert a["doc_id"] == b["doc_id"]
            gap = _gap(a["filtered_resps"], b["filtered_resps"])
            assert gap <= 1e-6, (task, a["doc_id"], gap)


def _gap(a, b) -> float:
    """The largest difference between two logged responses, relative to the value where it is
    above 1 (a float32 sum near -257 moves by one ulp, 3e-5, when its terms are summed in another
    order): 0 when equal, inf when they differ other than numerically (lm-eval logs numbers as strings)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return max((_gap(x, y) for x, y in zip(a, b)), default=0.0) if len(a) == len(b) else float("inf")
    if a == b:
        return 0.0
    try:
        return abs(float(a) - float(b)) / max(1.0, abs(float(a)), abs(float(b)))
    except (TypeError, ValueError):
        return float("inf")


def test_token_stats_moments_by_hand_and_with_a_masked_vocabulary_entry():
    from mrd_bench.lmeval.shared_prefix import token_stats

    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [2.0, 0.0, -float("inf"), 1.0]])
    logp, correct, mean, var = token_stats(logits, torch.tensor([1, 0]))
    assert mean[0] == pytest.approx(-torch.log(torch.tensor(4.0)).item(), abs=1e-6)  # uniform: E log p = log 1/4
    assert var[0] == pytest.approx(0.0, abs=1e-6)  # uniform: log p is constant
    p = torch.tensor([2.0, 0.0, 1.0]).double().softmax(-1)  # the -inf entry has p = 0 and adds nothing
    mu = float((p * p.log()).sum())
    assert mean[1] == pytest.approx(mu, abs=1e-6) and not torch.isnan(var).any()
    assert var[1] == pytest.approx(float((p * p.log().square()).sum()) - mu ** 2, abs=1e-6)
    assert correct.tolist() == [False, True] and logp[1] == pytest.approx(float(p[0].log()), abs=1e-6)


def test_token_stats_computes_moments_only_where_marked():
    from mrd_bench.lmeval.shared_prefix import token_stats

    torch.manual_seed(0)
    logits, targets = torch.randn(5, 11), torch.tensor([0, 3, 1, 10, 4])
    full = token_stats(logits, targets)
    marks = torch.tensor([True, False, True, False, False])
    part = token_stats(logits, targets, marks)
    assert torch.equal(part[0], full[0]) and torch.equal(part[1], full[1])  # log p and argmax everywhere
    for got, want in zip(part[2:], full[2:]):
        assert torch.equal(got[marks], want[marks]) and torch.isnan(got[~marks]).all()
    none = token_stats(logits, targets, False)
    assert torch.isnan(none[2]).all() and torch.isnan(none[3]).all() and torch.equal(none[0], full[0])


def test_only_the_membership_documents_pay_for_the_vocabulary_moments(tiny_checkpoint, tmp_path):
    """The mia task's documents are marked `vocab_moments`, so Min-K%++ still gets its moments when
    the truth-ratio task's requests (unmarked, sharing the same contexts) run in the same batches."""
    out = tmp_path / "run"
    proc = mrd_bench("eval", "--model", "hf-mrd", "--model_args", f"pretrained={tiny_checkpoint}",
                     "--tasks", "tofu_forget_mrd_mia,tofu_forget_mrd_tr", "--metadata", '{"split": "forget01"}',
                     "--limit", "4", "--device", "cpu", "--log_samples", "--output_path", str(out))
    assert proc.returncode == 0, proc.stderr
    results = json.loads(next(out.rglob("results_*.json")).read_text())["results"]
    assert math.isfinite(results["tofu_forget_mrd_mia"]["min_k_pp_auc,none"])
    rows = [json.loads(x) for x in next(out.rglob("samples_tofu_forget_mrd_mia_*.jsonl")).read_text().splitlines()]
    assert all(r["doc"]["vocab_moments"] for r in rows)
    assert all(math.isfinite(r["min_k_pp_auc"]["value"]) for r in rows)


def test_moments_follow_the_marked_documents_on_both_paths(tiny_checkpoint):
    """Only requests whose document is marked `vocab_moments` get the moments (NaN otherwise);
    a pair asked twice, once marked, gets them on the shared-context path (scored once)."""
    from lm_eval.api.instance import Instance

    pairs = [(c, a) for c in CONTEXTS[:2] for a in ANSWERS[:3]]
    pairs += pairs[:2]  # asked again: the first copy unmarked (index 0), the second marked (index 6)
    marked = [i % 2 == 0 for i in range(len(pairs))]
    marked[0] = False
    reqs = [Instance("loglikelihood", {DOC_KEY: "tofu.load_forget:0", "vocab_moments": m}, p, i, ("t", i, 1))
            for i, (p, m) in enumerate(zip(pairs, marked))]
    fast, plain = _lm(tiny_checkpoint), _lm(tiny_checkpoint, reuse_prefix="False")
    got, want = fast.loglikelihood(reqs), plain.loglikelihood(reqs)
    for i, (pair, a, b) in enumerate(zip(pairs, got, want)):
        any_marked = any(m for p, m in zip(pairs, marked) if p == pair)
        assert all(math.isnan(x) for x in b.vocab_mean) != marked[i]  # one request, one answer
        assert all(math.isnan(x) for x in a.vocab_mean) != any_marked
        if marked[i]:
            assert a.vocab_mean == pytest.approx(b.vocab_mean, rel=1e-6)
            assert a.vocab_var == pytest.approx(b.vocab_var, rel=1e-5)
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-6)
    assert not marked[0] and marked[6] and pairs[0] == pairs[6]  # the case the docstring names was run
    assert not any(math.isnan(x) for x in got[0].vocab_mean) and all(math.isnan(x) for x in want[0].vocab_mean)
