"""Baseline difficulty signals reported beside MRD, so a report can ask whether MRD says
anything beyond perplexity: answer NLL and probability, Min-K% Prob, gradient norm,
token count, and the count of rare words.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Sequence

import torch
from tqdm.auto import tqdm

from mrd_bench.models import Encoded, collate

MIN_K = 0.4  # fraction of lowest-probability tokens averaged by Min-K% Prob
FREQUENT_WORDS = 10_000  # a word outside the 10k most frequent English words is rare
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


@lru_cache(maxsize=1)
def frequent_words(n: int = FREQUENT_WORDS) -> frozenset[str]:
    from wordfreq import top_n_list

    return frozenset(top_n_list("en", n))


def rare_word_count(text: str, n: int = FREQUENT_WORDS) -> int:
    """Words of `text` outside the n most frequent English words (wordfreq's list)."""
    vocab = frequent_words(n)
    return sum(word.lower() not in vocab for word in _WORD.findall(text))


def grad_norms(model: torch.nn.Module, items: Sequence[Encoded], device: torch.device,
               progress: bool = False) -> list[float]:
    """‖∇θ mean answer NLL‖₂ per sample (one backward pass each; weights untouched)."""
    pad = getattr(model.config, "pad_token_id", None) or 0
    params = [p for p in model.parameters() if p.requires_grad]
    out = []
    with torch.enable_grad():
        for item in tqdm(items, desc="gradient norms", unit="sample", leave=False, disable=not progress):
            batch = {k: v.to(device) for k, v in collate([item], pad).items()}
            loss = model(**batch).loss
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            out.append(math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads if g is not None)))
    return out
