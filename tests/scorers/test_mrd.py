"""MRD against the exact Hessian of a tiny model, and its guarantees."""
import math

import pytest
import torch
from torch.func import functional_call

from mrd_bench.errors import ConfigError, DataError
from mrd_bench.models import IGNORE, Encoded, collate, encode_qa
from mrd_bench.scorers.base import scored_logprobs
from mrd_bench.scorers.mrd import MRD
from tests.conftest import build_model

QA = [("Who wrote the novel?", "Liesel Varnakov wrote it."),
      ("Where was she born?", "In Tartu, Estonia."),
      ("What genre?", "Historical fiction about the sea.")]


def _items(tokenizer):
    return [encode_qa(tokenizer, q, a) for q, a in QA], [f"s{i}" for i in range(len(QA))]


def exact_mrd(model, item, sigma: float, eps: float) -> float:
    """(σ²/2)·|Tr ∇²F| with F(θ) = Σ_t P_t(θ)/P_t(θ₀), the exact Hessian over all weights.

    This is the paper's Theorem 3.2 term (σ²/2)·Σ_t Tr(H_t)/P_t with the denominators
    held at θ₀ (and clamped the same way the estimator clamps them).
    """
    batch = collate([item], pad_id=0)
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for _, p in model.named_parameters()])
    with torch.no_grad():
        denom = scored_logprobs(model, batch).double().clamp(max=-eps)

    def f(flat):
        params, start = {}, 0
        for name, shape in zip(names, shapes):
            n = math.prod(shape)
            params[name] = flat[start:start + n].reshape(shape)
            start += n
        wrapper = _Scored(model)
        return (functional_call(wrapper, {f"m.{k}": v for k, v in params.items()}, (batch,)) / denom).sum()

    hessian = torch.autograd.functional.hessian(f, flat0, vectorize=True)
    return sigma ** 2 / 2 * abs(float(torch.diagonal(hessian).sum()))


class _Scored(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.m = model

    def forward(self, batch):
        return scored_logprobs(self.m, batch).double()


def test_definition_matches_exact_hessian_trace():
    """A 1-layer, vocab-32 Llama in float64 (~1.1k weights), so the full Hessian is cheap."""
    gen = torch.Generator().manual_seed(0)
    items = []
    for length, first_scored in ((9, 5), (12, 4), (7, 3)):
        ids = torch.randint(3, 32, (length,), generator=gen).tolist()
        items.append(Encoded(ids, [IGNORE if i < first_scored else t for i, t in enumerate(ids)]))
    sigma, eps = 2e-3, 1e-3
    model = build_model(32, hidden=8, layers=1, attn="eager").double()
    est = MRD(sigma=sigma, draws=400, seed=1).score(model, items, ["a", "b", "c"], progress=False)
    for item, s in zip(items, est):
        exact = exact_mrd(model, item, sigma, eps)
        assert abs(s.score - exact) <= 4 * s.se + 0.02 * exact, (s.score, s.se, exact)
        assert s.se < 0.25 * exact  # the test has the power to tell a wrong answer


def test_weights_are_bit_identical_after_scoring(tokenizer, tiny_model):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    MRD(sigma=1e-2, draws=3).score(tiny_model, *_items(tokenizer), progress=False)
    after = tiny_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_same_seed_same_scores_other_seed_other_scores(tokenizer, tiny_model):
    items, ids = _items(tokenizer)
    a = MRD(sigma=1e-2, draws=3, seed=7).score(tiny_model, items, ids, progress=False)
    b = MRD(sigma=1e-2, draws=3, seed=7).score(tiny_model, items, ids, progress=False)
    c = MRD(sigma=1e-2, draws=3, seed=8).score(tiny_model, items, ids, progress=False)
    assert a == b and [s.score for s in a] != [s.score for s in c]
    assert all(s.draws == 3 and s.n_tokens > 0 and s.se is not None for s in a)


def test_scores_do_not_depend_on_batching(tokenizer, tiny_model):
    items, ids = _items(tokenizer)
    whole = MRD(sigma=1e-2, draws=2, batch_size=8).score(tiny_model, items, ids, progress=False)
    single = MRD(sigma=1e-2, draws=2, batch_size=1).score(tiny_model, items, ids, progress=False)
    for w, s in zip(whole, single):
        assert s.sample_id == w.sample_id and s.score == pytest.approx(w.score, rel=1e-3)


def test_low_precision_weights_are_scored_in_float32_and_left_alone(tokenizer, tiny_model):
    model = tiny_model.to(torch.bfloat16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.warns(UserWarning, match="float32 copy"):
        out = MRD(sigma=1e-2, draws=2).score(model, *_items(tokenizer), progress=False)
    assert all(s.score > 0 for s in out)
    assert all(v.dtype == torch.bfloat16 and torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_clamped_tokens_are_counted(tokenizer, tiny_model):
    items, ids = _items(tokenizer)
    out = MRD(sigma=1e-2, draws=1, eps=100.0).score(tiny_model, items, ids, progress=False)
    assert all(s.n_clamped == s.n_tokens for s in out)  # every |log p| < 100
    assert all(s.se is None for s in out)  # one draw: no standard error


@pytest.mark.parametrize("kwargs, match", [({"sigma": 0.0}, "sigma"), ({"sigma": -1e-4}, "sigma"),
                                           ({"draws": 0}, "draws")])
def test_bad_settings_are_rejected(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        MRD(**kwargs)


def test_empty_set_and_unscorable_samples_are_rejected(tokenizer, tiny_model):
    with pytest.raises(DataError, match="no samples"):
        MRD().score(tiny_model, [], [], progress=False)
    item = encode_qa(tokenizer, "A very long question " * 5, "answer", max_length=5)
    with pytest.raises(DataError, match="no scorable tokens.*'cut'"):
        MRD().score(tiny_model, [item], ["cut"], progress=False)
