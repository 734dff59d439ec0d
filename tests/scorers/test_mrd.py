"""The three MRD estimators against exact references on tiny models, and their guarantees."""
import math

import pytest
import torch
from torch.func import functional_call

from mrd_bench.errors import ConfigError, DataError
from mrd_bench.models import IGNORE, Encoded, collate, encode_qa
from mrd_bench.scorers.base import scored_logprobs
from mrd_bench.scorers.runner import ScoreConfig, score_items
from tests.conftest import build_model

QA = [("Who wrote the novel?", "Liesel Varnakov wrote it."),
      ("Where was she born?", "In Tartu, Estonia."),
      ("What genre?", "Historical fiction about the sea.")]


def _qa(tokenizer):
    items = [encode_qa(tokenizer, q, a) for q, a in QA]
    return items, [f"s{i}" for i in range(len(QA))], [a for _, a in QA]


def _score(model, items, ids, **cfg):
    return score_items(model, items, ids, ["x"] * len(items), ScoreConfig(baselines=False, **cfg),
                       progress=False)


def _random_items(vocab: int = 32):
    gen = torch.Generator().manual_seed(0)
    items = []
    for length, first_scored in ((9, 5), (12, 4), (7, 3)):
        ids = torch.randint(3, vocab, (length,), generator=gen).tolist()
        items.append(Encoded(ids, [IGNORE if i < first_scored else t for i, t in enumerate(ids)]))
    return items, ["a", "b", "c"]


class _Scored(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.m = model

    def forward(self, batch):
        return scored_logprobs(self.m, batch).double()


def exact_mrd(model, item, sigma: float, eps: float) -> float:
    """(σ²/2)·|Tr ∇²F| with F(θ) = Σ_t P_t(θ)/P_t(θ₀), from the full Hessian over all weights.

    This is the paper's Theorem 3.2 term (σ²/2)·Σ_t Tr(H_t)/P_t with the denominators
    held at θ₀ (and clamped the same way the estimators clamp them).
    """
    batch = collate([item], pad_id=0)
    named = list(model.named_parameters())
    flat0 = torch.cat([p.detach().reshape(-1) for _, p in named])
    with torch.no_grad():
        denom = scored_logprobs(model, batch).double().clamp(max=-eps)

    def f(flat):
        params, start = {}, 0
        for name, p in named:
            params[f"m.{name}"] = flat[start:start + p.numel()].reshape(p.shape)
            start += p.numel()
        return (functional_call(_Scored(model), params, (batch,)) / denom).sum()

    hessian = torch.autograd.functional.hessian(f, flat0, vectorize=True)
    return sigma ** 2 / 2 * abs(float(torch.diagonal(hessian).sum()))


@pytest.mark.parametrize("estimator, draws", [("definition", 400), ("hutchinson", 400)])
def test_estimators_match_the_exact_hessian_trace(estimator, draws):
    """A 1-layer, vocab-32 Llama in float64 (~1.1k weights), so the full Hessian is cheap."""
    items, ids = _random_items()
    sigma, eps = 2e-3, 1e-3
    model = build_model(32, hidden=8, layers=1, attn="eager").double()
    rows, _ = _score(model, items, ids, estimator=estimator, sigma=sigma, draws=draws, seed=1)
    for item, row in zip(items, rows):
        exact = exact_mrd(model, item, sigma, eps)
        assert abs(row["score"] - exact) <= 4 * row["se"] + 0.02 * exact, (row, exact)
        assert row["se"] < 0.25 * exact  # the test has the power to tell a wrong answer


def literal_alg1(model, item, sigma: float, draws: int, seed: int, eps: float) -> float:
    """Algorithm 1 as written: one sample, one draw at a time, full-vocabulary log-softmax.

    Draw k adds σ·δ_k, δ_k drawn per parameter tensor from a generator seeded with
    seed·1,000,003 + k (the engine's documented seeding), then restores a saved copy.
    """
    ids = torch.tensor([item.input_ids])
    labels = torch.tensor(item.labels[1:])
    scored = labels != IGNORE

    def logp():
        with torch.no_grad():
            out = model(input_ids=ids).logits[0, :-1].double().log_softmax(-1)
        return out[scored].gather(-1, labels[scored][:, None]).squeeze(-1)

    p0 = logp()
    saved = {n: p.detach().clone() for n, p in model.named_parameters()}
    total = 0.0
    for k in range(draws):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + k)
        with torch.no_grad():
            for _, p in model.named_parameters():
                p.add_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * sigma)
        total += abs(float(((p0 - logp()) / p0.clamp(max=-eps)).sum()))
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(saved[n])
    return total / draws


def test_alg1_matches_a_literal_slow_reference(tokenizer):
    model = build_model(len(tokenizer)).double()
    items, ids, _ = _qa(tokenizer)
    rows, _ = _score(model, items, ids, estimator="alg1", sigma=1e-3, draws=5, seed=3)
    for item, row in zip(items, rows):
        assert row["score"] == pytest.approx(literal_alg1(model, item, 1e-3, 5, 3, 1e-3), rel=1e-6)


@pytest.mark.parametrize("estimator", ["definition", "alg1", "hutchinson"])
def test_weights_are_bit_identical_after_scoring(tokenizer, tiny_model, estimator):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    items, ids, _ = _qa(tokenizer)
    _score(tiny_model, items, ids, estimator=estimator, sigma=1e-2, draws=2)
    after = tiny_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_same_seed_same_scores_other_seed_other_scores(tokenizer, tiny_model):
    items, ids, _ = _qa(tokenizer)
    a, _ = _score(tiny_model, items, ids, sigma=1e-2, draws=3, seed=7)
    b, _ = _score(tiny_model, items, ids, sigma=1e-2, draws=3, seed=7)
    c, _ = _score(tiny_model, items, ids, sigma=1e-2, draws=3, seed=8)
    assert a == b and [r["score"] for r in a] != [r["score"] for r in c]
    assert all(r["draws"] == 3 and r["n_tokens"] > 0 and r["se"] is not None for r in a)


def test_scores_do_not_depend_on_batching(tokenizer, tiny_model):
    items, ids, _ = _qa(tokenizer)
    whole, _ = _score(tiny_model, items, ids, sigma=1e-2, draws=2, batch_size=8)
    single, _ = _score(tiny_model, items, ids, sigma=1e-2, draws=2, batch_size=1, chunk_batches=1)
    for w, s in zip(whole, single):
        assert s["sample_id"] == w["sample_id"] and s["score"] == pytest.approx(w["score"], rel=1e-3)


def test_per_draw_values_summarize_to_the_score(tokenizer, tiny_model):
    items, ids, _ = _qa(tokenizer)
    rows, values = _score(tiny_model, items, ids, estimator="alg1", sigma=1e-2, draws=4)
    assert values.shape == (4, 3)
    for j, row in enumerate(rows):
        assert row["score"] == pytest.approx(float(values[:, j].mean()))
        assert row["se"] == pytest.approx(float(values[:, j].std() / 2))


def test_low_precision_weights_are_scored_in_float32_and_left_alone(tokenizer, tiny_model):
    model = tiny_model.to(torch.bfloat16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    items, ids, _ = _qa(tokenizer)
    with pytest.warns(UserWarning, match="float32 copy"):
        rows, _ = _score(model, items, ids, sigma=1e-2, draws=2)
    assert all(r["score"] > 0 for r in rows)
    assert all(v.dtype == torch.bfloat16 and torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_clamped_tokens_are_counted(tokenizer, tiny_model):
    items, ids, _ = _qa(tokenizer)
    rows, _ = _score(tiny_model, items, ids, sigma=1e-2, draws=1, eps=100.0)
    assert all(r["n_clamped"] == r["n_tokens"] for r in rows)  # every |log p| < 100
    assert all(r["se"] is None for r in rows)  # one draw: no standard error


@pytest.mark.parametrize("kwargs, match", [
    ({"sigma": 0.0}, "sigma"), ({"sigma": -1e-4}, "sigma"), ({"estimator": "alg1", "sigma": 0.0}, "sigma"),
    ({"estimator": "hutchinson", "sigma": -1.0}, "sigma"), ({"draws": 0}, "draws"),
    ({"estimator": "hutchinsn"}, "Did you mean 'hutchinson'")])
def test_bad_settings_are_rejected(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ScoreConfig(**kwargs).build()


def test_empty_set_and_unscorable_samples_are_rejected(tokenizer, tiny_model):
    with pytest.raises(DataError, match="no samples"):
        _score(tiny_model, [], [])
    item = encode_qa(tokenizer, "A very long question " * 5, "answer", max_length=1)
    with pytest.raises(DataError, match="no scorable tokens.*'cut'"):
        _score(tiny_model, [item], ["cut"])


def test_long_prompts_lose_their_start_not_the_answer(tokenizer):
    full = encode_qa(tokenizer, "A very long question " * 20, "the answer", max_length=10_000)
    cut = encode_qa(tokenizer, "A very long question " * 20, "the answer", max_length=12)
    n_answer = sum(label != -100 for label in full.labels)
    assert len(cut.input_ids) == 12 and n_answer < 12
    assert cut.input_ids == full.input_ids[-12:] and cut.labels == full.labels[-12:]


def test_alg1_at_small_sigma_tracks_the_gradient_norm():
    """|r(δ)| ≈ |δᵀ∇F| when σ is small, so E|r| ≈ σ‖∇F‖·√(2/π): a gradient quantity."""
    items, ids = _random_items()
    model = build_model(32, hidden=8, layers=1).double()
    rows, _ = _score(model, items, ids, estimator="alg1", sigma=1e-6, draws=300, seed=2)
    for item, row in zip(items, rows):
        batch = collate([item], pad_id=0)
        denom = scored_logprobs(model, batch).double().detach().clamp(max=-1e-3)
        grads = torch.autograd.grad((scored_logprobs(model, batch).double() / denom).sum(),
                                    list(model.parameters()))
        expected = 1e-6 * math.sqrt(sum(float(g.pow(2).sum()) for g in grads)) * math.sqrt(2 / math.pi)
        assert row["score"] == pytest.approx(expected, rel=0.15)
