"""Each loss against the arithmetic spelled out by hand, from HF's own per-row NLL."""
import math

import pytest
import torch

from mrd_bench.methods import METHODS, Batch
from mrd_bench.models import collate, encode_qa
from tests.conftest import build_model

FORGET = [("Who wrote the novel?", "Liesel Varnakov wrote it."), ("Where was she born?", "In Tartu.")]
RETAIN = [("What genre?", "Historical fiction about the sea."), ("When?", "In 1999."),
          ("Which city?", "The author was born in Tartu, Estonia.")]


def hf_nll(model, tokenizer, pairs):
    """Mean answer NLL and answer length of each pair, one HF forward per row (its own loss)."""
    out = []
    for q, a in pairs:
        e = encode_qa(tokenizer, q, a)
        with torch.no_grad():
            loss = model(input_ids=torch.tensor([e.input_ids]), labels=torch.tensor([e.labels])).loss
        out.append((float(loss), sum(label != -100 for label in e.labels[1:])))
    return out


def batch_of(model, tokenizer, forget=FORGET, retain=None, refusal=None, reference=None):
    enc = lambda pairs: collate([encode_qa(tokenizer, q, a) for q, a in pairs], 0)  # noqa: E731
    return Batch(model, enc(forget), retain=enc(retain) if retain else None,
                 refusal=enc(refusal) if refusal else None, reference=reference)


def test_ga_is_minus_the_mean_answer_nll(tokenizer, tiny_model):
    expected = [-nll for nll, _ in hf_nll(tiny_model, tokenizer, FORGET)]
    with torch.no_grad():
        got = METHODS.get("ga")().per_sample_loss(batch_of(tiny_model, tokenizer))
    assert got.tolist() == pytest.approx(expected, rel=1e-5)


def test_cga_has_ga_loss_and_the_mrd_sampler(tokenizer, tiny_model):
    cga = METHODS.get("cga")()
    with torch.no_grad():
        got = cga.per_sample_loss(batch_of(tiny_model, tokenizer))
    assert got.tolist() == pytest.approx([-nll for nll, _ in hf_nll(tiny_model, tokenizer, FORGET)], rel=1e-5)
    assert cga.default_sampler == "mrd"


def test_graddiff_adds_the_weighted_retain_nll(tokenizer, tiny_model):
    forget = hf_nll(tiny_model, tokenizer, FORGET)
    retain = hf_nll(tiny_model, tokenizer, RETAIN)
    retain_mean = sum(n for n, _ in retain) / 3
    with torch.no_grad():
        got = METHODS.get("graddiff")(retain_weight=0.5).per_sample_loss(
            batch_of(tiny_model, tokenizer, retain=RETAIN))
    assert got.tolist() == pytest.approx([-f + 0.5 * retain_mean for f, _ in forget], rel=1e-5)


def test_po_trains_toward_the_refusal_plus_retain(tokenizer, tiny_model):
    refusal = [(q, "I'm unfamiliar with that topic.") for q, _ in FORGET]
    r = hf_nll(tiny_model, tokenizer, refusal)
    retain_mean = sum(n for n, _ in hf_nll(tiny_model, tokenizer, RETAIN)) / 3
    with torch.no_grad():
        got = METHODS.get("po")().per_sample_loss(batch_of(tiny_model, tokenizer, retain=RETAIN, refusal=refusal))
    assert got.tolist() == pytest.approx([n + retain_mean for n, _ in r], rel=1e-5)


def test_npo_against_eq3_by_hand(tokenizer):
    policy, reference = build_model(len(tokenizer), seed=0), build_model(len(tokenizer), seed=1)
    beta = 0.1
    expected = []
    for (p_nll, n), (r_nll, _) in zip(hf_nll(policy, tokenizer, FORGET), hf_nll(reference, tokenizer, FORGET)):
        log_ratio = -p_nll * n - (-r_nll * n)  # summed answer log-probs
        expected.append(-2 / beta * math.log(1 / (1 + math.exp(beta * log_ratio))))
    with torch.no_grad():
        got = METHODS.get("npo")(beta=beta).per_sample_loss(batch_of(policy, tokenizer, reference=reference))
    assert got.tolist() == pytest.approx(expected, rel=1e-4)


def test_npo_at_the_reference_is_2_ln2_over_beta(tokenizer, tiny_model):
    with torch.no_grad():
        got = METHODS.get("npo")(beta=0.5).per_sample_loss(batch_of(tiny_model, tokenizer, reference=tiny_model))
    assert got.tolist() == pytest.approx([2 / 0.5 * math.log(2)] * 2, rel=1e-6)


def test_losses_have_gradients_that_reach_the_weights(tokenizer, tiny_model):
    loss = METHODS.get("ga")().per_sample_loss(batch_of(tiny_model, tokenizer)).mean()
    loss.backward()
    assert tiny_model.model.layers[0].mlp.up_proj.weight.grad.abs().sum() > 0


def test_unknown_method_suggests_a_name():
    from mrd_bench.errors import ConfigError

    with pytest.raises(ConfigError, match="Did you mean 'npo'"):
        METHODS.get("npoo")
