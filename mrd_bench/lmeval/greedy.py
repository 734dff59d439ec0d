"""Greedy generation in which a finished sequence leaves the batch.

Hugging Face's `generate` keeps every row of a batch until the last one stops, so a batch
costs as many steps as its longest answer, at full width. Here a row leaves the batch (and
the KV cache) as soon as it emits an end-of-sequence token or its text contains a stop
string, so each step costs only the rows still running. Greedy decoding only: the same
argmax at every step as `generate(do_sample=False)`.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch


@torch.no_grad()
def greedy(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new: int,
           eos_ids: Iterable[int], stops: list[str], decode: Callable[[list[int]], str]) -> list[list[int]]:
    """The generated tokens of each row of a left-padded batch (an end-of-sequence token included)."""
    eos = set(eos_ids)
    stops = [s for s in stops if s]
    out: list[list[int]] = [[] for _ in range(input_ids.shape[0])]
    if max_new <= 0:
        return out
    active = torch.arange(input_ids.shape[0], device=input_ids.device)
    mask = attention_mask
    position = (mask.cumsum(-1) - 1).clamp(min=0)
    step = _prefill(model, input_ids, mask, position)
    cache, following = step.past_key_values, position[:, -1] + 1
    for n in range(max_new):
        token = step.logits[:, -1].argmax(-1)  # [A]
        keep = []
        for a, t in enumerate(token.tolist()):
            row = out[int(active[a])]
            row.append(t)
            if t in eos or (stops and any(s in decode(row) for s in stops)):
                continue
            keep.append(a)
        if not keep or n == max_new - 1:
            break
        if len(keep) < len(active):
            index = torch.tensor(keep, device=input_ids.device)
            cache.reorder_cache(index)
            active, token, mask, following = active[index], token[index], mask[index], following[index]
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], 1)
        step = _decode(model, token, mask, following, cache)
        cache, following = step.past_key_values, following + 1
    return out


def _prefill(model, input_ids, mask, position):
    """The prompts' forward pass: their KV cache and the first token's logits (a function of its
    own, so that a profile tells prefill from decoding)."""
    return model(input_ids=input_ids, attention_mask=mask, position_ids=position, use_cache=True, logits_to_keep=1)


def _decode(model, token, mask, following, cache):
    """One decoding step of the rows still running."""
    return model(input_ids=token[:, None], attention_mask=mask, position_ids=following[:, None],
                 past_key_values=cache, use_cache=True)
