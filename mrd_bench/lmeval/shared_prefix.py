"""Continuation log-probs with every distinct context run once.

The TOFU tasks score 4-7 answers after the same prompt (the truth ratio's paraphrase and
perturbations, the options of real authors and world facts, the forget answer that the MIA,
probability and truth-ratio tasks all score), and the chat template's system prompt is a
large part of each prompt. So requests are deduplicated (the same context and continuation
in several tasks is scored once), grouped by context, each context runs once with its KV
cache kept, and every continuation of that context is scored from the cache. The LM head
runs only where a continuation token is predicted.
"""
from __future__ import annotations

import math

from collections import Counter
from typing import Callable, Optional

import torch

from mrd_bench.models import log_probs

Pair = tuple[list[int], list[int]]  # (context ids, continuation ids), both non-empty
HEAD_ROWS = 512  # scored tokens per LM-head slice: the peak memory of a likelihood batch


def _batches(groups: list[tuple[tuple, list[int]]], size: int) -> list[list[tuple[tuple, list[int]]]]:
    """Consecutive groups, at most `size` continuations per batch (a larger group is split)."""
    pieces = [(ctx, members[i:i + size]) for ctx, members in groups for i in range(0, len(members), size)]
    out, current, count = [], [], 0
    for piece in pieces:
        if current and count + len(piece[1]) > size:
            out.append(current)
            current, count = [], 0
        current.append(piece)
        count += len(piece[1])
    return out + ([current] if current else [])


def token_stats(logits: torch.Tensor, targets: torch.Tensor, moments: bool | torch.Tensor = True
                ) -> tuple[torch.Tensor, ...]:
    """From the logits at the scored tokens ([N, V]) and those tokens ([N]): each token's log p,
    whether it was the argmax, and μ = E_v[log p(v)] and σ² = E_v[(log p(v) − μ)²] under the
    model's own next-token distribution (Min-K%++'s standardisation), all [N], on the same pass.
    The moments cost several passes over the vocabulary, so they are computed only at the tokens
    `moments` marks (a bool, or a [N] mask: the documents whose metrics read them) and are NaN
    elsewhere. Float32 at least; a vocabulary entry with p = 0 (a -inf logit) adds nothing to μ or σ²."""
    logp_all = log_probs(logits)
    logp = logp_all.gather(-1, targets[:, None]).squeeze(-1)
    correct = logits.argmax(-1) == targets
    rows = moments if isinstance(moments, torch.Tensor) else torch.full_like(targets, bool(moments), dtype=torch.bool)
    mean = torch.full_like(logp, math.nan)
    var = torch.full_like(logp, math.nan)
    if bool(rows.any()):
        sub = logp_all if bool(rows.all()) else logp_all[rows]
        p = sub.exp()
        finite = p > 0
        mu = torch.where(finite, p * sub, 0.0).sum(-1)
        mean[rows] = mu
        var[rows] = torch.where(finite, p * (sub - mu[:, None]).square(), 0.0).sum(-1)
    return logp, correct, mean, var


@torch.no_grad()
def continuation_logprobs(model: torch.nn.Module, pairs: list[Pair], batch_size: int, pad_id: int,
                          progress: Optional[Callable[[int], None]] = None,
                          moments: Optional[list[bool]] = None) -> list[tuple]:
    """For each (context, continuation): the summed log p, the log p of every continuation token,
    whether it was the argmax, and the mean and variance of log p under the model's next-token
    distribution there (`token_stats`; only for the pairs `moments` marks, default all, NaN for the
    others). Contexts are left-padded, run once per batch with the cache kept; the cache is
    copied to each continuation row, whose positions continue its context's."""
    device = next(model.parameters()).device
    keys = [(tuple(c), tuple(x)) for c, x in pairs]
    distinct = list(dict.fromkeys(keys))
    copies = Counter(keys)
    where = {key: j for j, key in enumerate(distinct)}
    wants = [moments is None] * len(distinct)  # a pair repeated across documents: moments if any wants them
    for key, flag in zip(keys, moments or []):
        wants[where[key]] = wants[where[key]] or bool(flag)
    by_context: dict[tuple, list[int]] = {}
    results: list = [None] * len(distinct)
    for j, (ctx, cont) in enumerate(distinct):
        if cont:
            by_context.setdefault(ctx, []).append(j)
        else:  # nothing to score
            results[j] = (0.0, [], [], [], [])
    # longest first, as lm-eval orders its requests: memory peaks at once, and like lengths share a batch
    groups = sorted(by_context.items(), key=lambda kv: -(len(kv[0]) + max(len(distinct[j][1]) for j in kv[1])))
    head = model.get_output_embeddings()
    for batch in _batches(groups, max(1, batch_size)):
        width = max(len(ctx) for ctx, _ in batch)
        ctx_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        ctx_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for g, (ctx, _) in enumerate(batch):
            ctx_ids[g, width - len(ctx):] = torch.tensor(ctx)
            ctx_mask[g, width - len(ctx):] = 1
        ctx_ids, ctx_mask = ctx_ids.to(device), ctx_mask.to(device)
        position = (ctx_mask.cumsum(-1) - 1).clamp(min=0)
        out = model.base_model(input_ids=ctx_ids, attention_mask=ctx_mask, position_ids=position, use_cache=True)
        first = out.last_hidden_state[:, -1]  # [G, H]: predicts each continuation's first token
        cache = out.past_key_values

        rows = [(g, j) for g, (_, members) in enumerate(batch) for j in members]
        group = torch.tensor([g for g, _ in rows], device=device)
        cache.reorder_cache(group)
        conts = [list(distinct[j][1]) for _, j in rows]
        span = max(len(c) for c in conts)
        cont_ids = torch.full((len(rows), span), pad_id, dtype=torch.long)
        cont_mask = torch.zeros((len(rows), span), dtype=torch.long)
        for r, cont in enumerate(conts):
            cont_ids[r, :len(cont)] = torch.tensor(cont)
            cont_mask[r, :len(cont)] = 1
        cont_ids, cont_mask = cont_ids.to(device), cont_mask.to(device)
        start = ctx_mask.sum(-1)[group]  # [R] each row's context length
        position = start[:, None] + torch.arange(span, device=device)[None, :]
        hidden = model.base_model(input_ids=cont_ids, attention_mask=torch.cat([ctx_mask[group], cont_mask], 1),
                                  position_ids=position, past_key_values=cache, use_cache=False).last_hidden_state

        # predictors of continuation token t: the context's last state for t = 0, else state t - 1
        lengths = [len(c) for c in conts]
        states = torch.cat([torch.cat([first[g][None], hidden[r, :n - 1]]) for r, ((g, _), n) in
                            enumerate(zip(rows, lengths))])  # [N, H]
        targets = torch.tensor([t for c in conts for t in c], device=device)
        marks = torch.tensor([wants[j] for (_, j), n in zip(rows, lengths) for _ in range(n)], device=device)
        # the LM head and the vocabulary statistics a slice of HEAD_ROWS tokens at a time: each [rows, V] tensor
        # of a whole batch (32 answers of ~100 tokens, V = 49,152) would be 0.6 GB, several alive at once
        logp, correct, mean, var = (torch.cat(part) for part in zip(*(
            token_stats(head(states[i:i + HEAD_ROWS]), targets[i:i + HEAD_ROWS], marks[i:i + HEAD_ROWS])
            for i in range(0, len(targets), HEAD_ROWS))))
        for (_, j), lp, right, mu, sd2 in zip(rows, logp.split(lengths), correct.split(lengths),
                                              mean.split(lengths), var.split(lengths)):
            results[j] = (float(lp.sum()), lp.tolist(), right.tolist(), mu.tolist(), sd2.tolist())
        if progress:
            progress(sum(copies[distinct[j]] for _, j in rows))
    return [results[where[key]] for key in keys]


def supported(model: torch.nn.Module) -> bool:
    """Models whose head is a plain projection of the last hidden state, with a KV cache."""
    config = model.config
    return (not getattr(config, "final_logit_softcapping", None) and not config.is_encoder_decoder
            and model.get_output_embeddings() is not None)
