"""Per-sample edge attribution with EAP-IG (Hanna et al., 2024) on a Hugging Face Llama-family model.

The residual stream of a Llama decoder is a sum of node outputs: the embedding, then each
layer's attention output and MLP output. Every node reads that sum through its RMSNorm, and
the logits read the final sum through the last norm. An edge u→v is "z_u enters v's input",
for every node u before v. Its score is

    score(u→v) = Σ_{t,d} (z_u^clean − z_u^baseline)[t, d] · mean_k ∂M/∂x_v[t, d] at step k,

where x_v is v's input *as v alone sees it* (a fresh view of the residual stream fed only to v's
norm, so the skip path that carries the same tensor on to later nodes is not in its gradient),
M is the sum of the answer tokens' log-likelihoods, and the m steps interpolate the input
embeddings from the baseline to the clean input: α_k = k/m for k = 0..m−1 with a corrupted
input, as the EAP-IG reference code does; α_k = (k+1)/m with zero ablation, whose α = 0 point is
degenerate (every activation is exactly 0 there, so each RMSNorm's Jacobian is w/√eps and their
product over a deep model overflows to inf). Baselines:

- ``zero``: zero ablation, z^baseline = 0. A zero embedding makes every node output exactly
  zero in a bias-free Llama (RMSNorm(0) = 0, attention and MLP of 0 are 0), so the zero input
  embedding is the zero-ablation baseline of every node at once.
- ``corrupt``: the activations of a corrupted input of equal token length (the same question
  with another entity's name; see `corrupt.py`).

Attention sources are per layer by default, or per head (``heads=True``): a head's output is
its slice of the o_proj input times its slice of W_o. Attention *destinations* stay per layer,
because grouped-query attention shares keys and values between heads, so the gradient into a
layer's input does not split by head. Everything runs in float32, on whatever device the model is.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch

from mrd_bench.errors import ConfigError
from mrd_bench.models import IGNORE, gather_logprobs

SUPPORTED = ("llama", "mistral")
BASELINES = ("zero", "corrupt")


def check_architecture(model) -> None:
    """Only bias-free Llama-family decoders (the zero baseline relies on it)."""
    config = model.config
    kind = getattr(config, "model_type", None)
    if kind not in SUPPORTED:
        raise ConfigError(f"CUD's edge attribution supports the {', '.join(SUPPORTED)} architectures; this model "
                          f"is {kind!r}. Score it with MRD (`--metric mrd`), or use a Llama-family model.")
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        raise ConfigError("CUD's edge attribution needs a bias-free Llama (attention_bias = mlp_bias = False); "
                          "this model has biases, so a zero input is not a zero ablation.")


@dataclass(frozen=True)
class Graph:
    """Nodes in residual-stream order and the edges between them.

    Node names: ``emb``, ``a{l}`` (or ``a{l}.h{h}`` per head), ``m{l}``, ``logits``. A node's
    `layer` is 0 for the embedding, l + 1 for layer l's attention and MLP, L + 1 for the logits.
    """

    n_layers: int
    n_heads: Optional[int] = None  # None: attention sources per layer
    sources: list[str] = field(default_factory=list)
    destinations: list[str] = field(default_factory=list)
    layer: dict[str, int] = field(default_factory=dict)
    edges: list[tuple[int, int]] = field(default_factory=list)  # (source index, destination index)

    @property
    def granularity(self) -> str:
        return "head" if self.n_heads else "layer"

    def edge_names(self) -> list[str]:
        return [f"{self.sources[u]}->{self.destinations[v]}" for u, v in self.edges]

    def describe(self) -> dict:
        return {"n_layers": self.n_layers, "granularity": self.granularity, "n_heads": self.n_heads,
                "n_edges": len(self.edges)}


def build_graph(n_layers: int, n_heads: Optional[int] = None) -> Graph:
    position: dict[str, int] = {"emb": 0}  # a source's place in the residual stream
    sources, destinations, layer = ["emb"], [], {"emb": 0}
    for n in range(n_layers):
        heads = [f"a{n}.h{h}" for h in range(n_heads)] if n_heads else [f"a{n}"]
        position.update({name: 1 + 2 * n for name in heads}, **{f"m{n}": 2 + 2 * n})
        layer.update({name: n + 1 for name in heads + [f"a{n}", f"m{n}"]})
        sources += heads + [f"m{n}"]
        destinations += [f"a{n}", f"m{n}"]
    destinations.append("logits")
    layer["logits"] = n_layers + 1
    # a destination reads every source placed before it: a{n} reads up to m{n-1}, m{n} also reads a{n}
    reads = {**{f"a{n}": 1 + 2 * n for n in range(n_layers)}, **{f"m{n}": 2 + 2 * n for n in range(n_layers)},
             "logits": 2 * n_layers + 1}
    edges = [(u, v) for v, d in enumerate(destinations) for u, s in enumerate(sources) if position[s] < reads[d]]
    return Graph(n_layers, n_heads, sources, destinations, layer, edges)


def model_graph(model, heads: bool = False) -> Graph:
    check_architecture(model)
    return build_graph(model.config.num_hidden_layers, model.config.num_attention_heads if heads else None)


def _decoder(model):
    return model.model


class _Hooks:
    """Forward hooks that record source outputs, and (with `clone`) feed each destination's
    norm a fresh view of its input (a new autograd node), whose gradient is v's alone."""

    def __init__(self, model, graph: Graph, *, record: bool, clone: bool):
        self.outputs: list[torch.Tensor] = []  # per source after emb, in graph order (heads: o_proj input)
        self.inputs: list[torch.Tensor] = []  # per destination, the clones
        self.handles = []
        body = _decoder(model)
        for block in body.layers:
            if clone:
                self.handles.append(block.input_layernorm.register_forward_pre_hook(self._clone))
                self.handles.append(block.post_attention_layernorm.register_forward_pre_hook(self._clone))
            if record:
                if graph.n_heads:
                    self.handles.append(block.self_attn.o_proj.register_forward_pre_hook(self._record_in))
                else:
                    self.handles.append(block.self_attn.register_forward_hook(self._record_out))
                self.handles.append(block.mlp.register_forward_hook(self._record_out))
        if clone:
            self.handles.append(body.norm.register_forward_pre_hook(self._clone))

    def _clone(self, module, args):
        x = args[0].view_as(args[0])  # a new autograd node that only v reads (no copy)
        self.inputs.append(x)
        return (x,) + tuple(args[1:])

    def _record_out(self, module, args, output):
        self.outputs.append((output[0] if isinstance(output, tuple) else output).detach())

    def _record_in(self, module, args):
        self.outputs.append(args[0].detach())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


def answer_loglik(model, embeds: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """M per row: the sum of the answer tokens' log-likelihoods, from input embeddings: [B]."""
    hidden = _decoder(model)(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state
    targets = labels[:, 1:]
    scored = targets != IGNORE  # [B, T-1]
    logits = model.get_output_embeddings()(hidden[:, :-1][scored]).float()  # [N, V]
    logp = gather_logprobs(logits, targets[scored])
    return torch.zeros(labels.shape[0], dtype=logp.dtype, device=logp.device).index_add_(
        0, scored.nonzero()[:, 0], logp)


def _activations(model, graph: Graph, embeds, attention_mask) -> list[torch.Tensor]:
    with torch.no_grad(), _Hooks(model, graph, record=True, clone=False) as hooks:
        _decoder(model)(inputs_embeds=embeds, attention_mask=attention_mask)
    return hooks.outputs


def alphas(steps: int, *, zero: bool) -> list[float]:
    """The interpolation points: k/m (k = 0..m−1) from a corrupted input, (k+1)/m from zero."""
    return [(k + 1) / steps if zero else k / steps for k in range(steps)]


def attribute(model, graph: Graph, batch: dict[str, torch.Tensor], *, steps: int = 5,
              baseline_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
    """EAP-IG edge scores per row: [B, n_edges] float32, in `graph.edges` order.

    `batch` holds input_ids, attention_mask, labels [B, T]; `baseline_ids` [B, T] is the corrupted
    input (None: zero ablation)."""
    if steps < 1:
        raise ConfigError(f"EAP-IG needs at least 1 interpolation step; got {steps}.")
    mask, labels = batch["attention_mask"], batch["labels"]
    embed = model.get_input_embeddings()
    with torch.no_grad():
        clean = embed(batch["input_ids"]).float()
        base = torch.zeros_like(clean) if baseline_ids is None else embed(baseline_ids).float()
    if baseline_ids is not None and baseline_ids.shape != batch["input_ids"].shape:
        raise ConfigError(f"the corrupted input must have the clean input's shape {tuple(batch['input_ids'].shape)}; "
                          f"got {tuple(baseline_ids.shape)}.")
    z_clean = _activations(model, graph, clean, mask)
    z_base = ([torch.zeros_like(z) for z in z_clean] if baseline_ids is None
              else _activations(model, graph, base, mask))
    grads: Optional[list[torch.Tensor]] = None
    with torch.enable_grad():
        for alpha in alphas(steps, zero=baseline_ids is None):
            x = (base + alpha * (clean - base)).requires_grad_(True)
            with _Hooks(model, graph, record=False, clone=True) as hooks:
                m = answer_loglik(model, x, mask, labels).sum()
                g = torch.autograd.grad(m, hooks.inputs)
            grads = [a.detach().float() for a in g] if grads is None else [a + b.float() for a, b in zip(grads, g)]
    grad = torch.stack(grads) / steps  # [V, B, T, D]
    grad = grad * mask[None, :, :, None].to(grad.dtype)
    scores = _edge_scores(model, graph, clean - base, z_clean, z_base, grad)  # [B, U, V]
    u = torch.tensor([e[0] for e in graph.edges], device=scores.device)
    v = torch.tensor([e[1] for e in graph.edges], device=scores.device)
    return scores[:, u, v]


def _edge_scores(model, graph: Graph, d_emb, z_clean, z_base, grad) -> torch.Tensor:
    """[B, U, V]: Σ_{t,d} Δz_u · ḡ_v for every source u and destination v (invalid pairs included).

    One batched matrix product per layer against the gradients laid out once as [B, T·D, V]; a
    head's Δz is its slice of the o_proj input times its slice of W_o."""
    b, t, d = d_emb.shape
    g = grad.permute(1, 2, 3, 0).reshape(b, t * d, -1)  # [B, T·D, V]

    def scores(z: torch.Tensor) -> torch.Tensor:  # z: [B, U, T, D] -> [B, U, V]
        return torch.bmm(z.reshape(b, z.shape[1], t * d), g)

    parts = [scores(d_emb[:, None])]
    for n in range(graph.n_layers):
        d_attn = (z_clean[2 * n] - z_base[2 * n]).float()
        d_mlp = (z_clean[2 * n + 1] - z_base[2 * n + 1]).float()
        if graph.n_heads:
            w_o = _decoder(model).layers[n].self_attn.o_proj.weight.float()  # [D, H·dh]
            heads = graph.n_heads
            per_head = d_attn.view(b, t, heads, -1)  # [B, T, H, dh]
            z_heads = torch.einsum("bthe,dhe->bhtd", per_head, w_o.view(d, heads, -1))  # [B, H, T, D]
            parts.append(scores(torch.cat([z_heads, d_mlp[:, None]], dim=1)))
        else:
            parts.append(scores(torch.stack([d_attn, d_mlp], dim=1)))
    return torch.cat(parts, dim=1)
