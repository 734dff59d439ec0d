"""EAP-IG edge scores against exact gradients of an edge-gated model, written here independently:
v's norm input gets + β·(z_u^clean − z_u^baseline) and nothing else does, so dM/dβ at β = 0,
averaged over the interpolation steps, is what score(u→v) must be."""
from __future__ import annotations

import pytest
import torch

from mrd_bench.errors import ConfigError
from mrd_bench.models import IGNORE, collate, encode_qa
from mrd_bench.scorers.eap import attribute, build_graph, check_architecture, model_graph
from tests.conftest import build_model

STEPS = 3


def _batch(tokenizer, pairs):
    return collate([encode_qa(tokenizer, q, a) for q, a in pairs], pad_id=0)


def _norm_of(model, dest: str):
    if dest == "logits":
        return model.model.norm
    layer = model.model.layers[int(dest[1:])]
    return layer.input_layernorm if dest.startswith("a") else layer.post_attention_layernorm


def _source_output(model, source: str, embeds, mask) -> torch.Tensor:
    """z_u for the given input embeddings, by a plain forward with one hook."""
    if source == "emb":
        return embeds.detach()
    n = int(source[1:].split(".")[0])
    layer = model.model.layers[n]
    seen = {}
    if ".h" in source:
        h = int(source.split(".h")[1])
        o_proj = layer.self_attn.o_proj
        dh = o_proj.in_features // model.config.num_attention_heads
        handle = o_proj.register_forward_pre_hook(lambda m, a: seen.setdefault(
            "z", a[0][..., h * dh:(h + 1) * dh] @ o_proj.weight[:, h * dh:(h + 1) * dh].T))
    else:
        module = layer.self_attn if source.startswith("a") else layer.mlp
        handle = module.register_forward_hook(lambda m, a, out: seen.setdefault(
            "z", out[0] if isinstance(out, tuple) else out))
    with torch.no_grad():
        model.model(inputs_embeds=embeds, attention_mask=mask)
    handle.remove()
    return seen["z"].detach()


def _loglik(model, embeds, batch):
    logits = model(inputs_embeds=embeds, attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    keep = labels != IGNORE
    logp = logits.log_softmax(-1).gather(-1, labels.clamp(min=0)[..., None]).squeeze(-1)
    return (logp * keep).sum()


def _exact(model, batch, source, dest, baseline_ids):
    embed = model.get_input_embeddings()
    mask = batch["attention_mask"]
    clean = embed(batch["input_ids"]).detach()
    base = torch.zeros_like(clean) if baseline_ids is None else embed(baseline_ids).detach()
    z_clean = _source_output(model, source, clean, mask)
    z_base = torch.zeros_like(z_clean) if baseline_ids is None else _source_output(model, source, base, mask)
    delta = z_clean - z_base
    total = torch.zeros(batch["input_ids"].shape[0])
    # EAP-IG's points from a corrupted input; from zero, α = 0 is degenerate (all activations 0)
    points = [(k + 1) / STEPS for k in range(STEPS)] if baseline_ids is None else [k / STEPS for k in range(STEPS)]
    for alpha in points:
        per_row = []
        for row in range(batch["input_ids"].shape[0]):
            beta = torch.zeros((), requires_grad=True)
            keep = torch.zeros_like(delta)
            keep[row] = delta[row]
            handle = _norm_of(model, dest).register_forward_pre_hook(lambda m, a: (a[0] + beta * keep,))
            x = base + alpha * (clean - base)
            (grad,) = torch.autograd.grad(_loglik(model, x, batch), beta)
            handle.remove()
            per_row.append(grad)
        total += torch.stack(per_row)
    return total / STEPS


@pytest.mark.parametrize("baseline", ["zero", "corrupt"])
@pytest.mark.parametrize("heads", [False, True])
def test_edge_scores_match_exact_gradients_of_the_edge_gated_model(tokenizer, baseline, heads):
    model = build_model(len(tokenizer), seed=3, layers=3)
    batch = _batch(tokenizer, [("Who wrote the novel about the lighthouse?", "Liesel Varnakov wrote it."),
                               ("Where was the author born?", "In Tartu, Estonia.")])
    baseline_ids = None
    if baseline == "corrupt":
        g = torch.Generator().manual_seed(0)
        baseline_ids = batch["input_ids"].clone()
        prompt = batch["labels"] == IGNORE
        baseline_ids[prompt] = torch.randint(5, len(tokenizer), (int(prompt.sum()),), generator=g)
    graph = model_graph(model, heads=heads)
    scores = attribute(model, graph, batch, steps=STEPS, baseline_ids=baseline_ids)
    assert scores.shape == (2, len(graph.edges))
    names = graph.edge_names()
    picks = ["emb->a0", "a0->m0", "m0->a2", "a1->logits", "m2->logits", "emb->logits", "a2->m2"]
    if heads:
        picks = ["a0.h1->m0", "a1.h3->logits", "a0.h0->a2", "emb->m1", "m1->a2"]
    for name in picks:
        source, dest = name.split("->")
        want = _exact(model, batch, source, dest, baseline_ids)
        got = scores[:, names.index(name)]
        torch.testing.assert_close(got, want, rtol=2e-4, atol=2e-5, msg=lambda m: f"{name}: {m}")
        assert want.abs().max() > 1e-4  # the check is not a comparison of zeros


def test_head_scores_sum_to_the_layer_score(tokenizer):
    model = build_model(len(tokenizer), seed=1)
    batch = _batch(tokenizer, [("What genre does she write?", "Historical fiction about the sea.")])
    layer = attribute(model, model_graph(model), batch, steps=2)
    heads = attribute(model, model_graph(model, heads=True), batch, steps=2)
    lnames, hnames = model_graph(model).edge_names(), model_graph(model, heads=True).edge_names()
    summed = sum(heads[0, hnames.index(f"a1.h{h}->logits")] for h in range(4))
    torch.testing.assert_close(summed, layer[0, lnames.index("a1->logits")], rtol=1e-4, atol=1e-5)


def test_a_row_scores_the_same_alone_and_in_a_padded_batch(tokenizer):
    model = build_model(len(tokenizer), seed=2)
    pairs = [("Who wrote the novel about the lighthouse?", "Liesel Varnakov wrote it in 1999."), ("Where?", "Tartu.")]
    graph = model_graph(model)
    both = attribute(model, graph, _batch(tokenizer, pairs), steps=2)
    alone = attribute(model, graph, _batch(tokenizer, pairs[1:]), steps=2)
    torch.testing.assert_close(both[1], alone[0], rtol=1e-4, atol=1e-5)


def test_graph_edges_run_forward_only():
    graph = build_graph(2)
    assert graph.edge_names() == ["emb->a0", "emb->m0", "a0->m0", "emb->a1", "a0->a1", "m0->a1", "emb->m1",
                                  "a0->m1", "m0->m1", "a1->m1", "emb->logits", "a0->logits", "m0->logits",
                                  "a1->logits", "m1->logits"]
    # a_n: emb + 3n; m_n: + its 2 heads
    assert len(build_graph(3, 2).edges) == sum(1 + 3 * n for n in range(3)) + sum(3 + 3 * n for n in range(3)) + 10


def test_unsupported_architecture_names_the_supported_ones(tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50))
    with pytest.raises(ConfigError, match="llama, mistral"):
        check_architecture(gpt2)
    model = build_model(len(tokenizer))
    model.config.attention_bias = True
    with pytest.raises(ConfigError, match="bias"):
        model_graph(model)


def test_zero_ablation_stays_finite_on_a_deep_model(tokenizer):
    """At α = 0 every activation of a zero input is 0 and the norms' Jacobians (w/√eps) multiply
    past float32's range over many layers; the zero baseline's points avoid α = 0."""
    model = build_model(len(tokenizer), seed=5, hidden=16, layers=24)
    with torch.no_grad():  # trained-size projections (a random init's 0.02 keeps the product small)
        for name, p in model.named_parameters():
            if "proj" in name:
                p.mul_(10)
    batch = _batch(tokenizer, [("Who wrote the novel about the lighthouse?", "Liesel Varnakov wrote it.")])
    scores = attribute(model, model_graph(model), batch, steps=2)
    assert torch.isfinite(scores).all()
