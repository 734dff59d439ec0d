"""Memorization Accuracy and Extraction Likelihood (Tirumala et al., 2022; Jang et al., 2023).

MA(x) = mean over t of 1[argmax p(·|x_<t) = x_t].
EL_n(x) = mean over t of OVERLAP_n(greedy continuation from x_<t, x_≥t), with
OVERLAP_n(a, b) = |n-grams(a) ∩ n-grams(b)| / |n-grams(b)| (as sets). Positions whose
true suffix is shorter than n have no n-grams and are left out.
"""
from __future__ import annotations

from typing import Sequence


def memorization_accuracy(predicted: Sequence[int], target: Sequence[int]) -> float:
    """Share of positions where the greedy next token is the true one."""
    if len(predicted) != len(target) or not target:
        raise ValueError(f"need equally long, non-empty token lists; got {len(predicted)} and {len(target)}")
    return sum(int(p == t) for p, t in zip(predicted, target)) / len(target)


def ngrams(tokens: Sequence[int], n: int) -> set[tuple[int, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def ngram_overlap(generated: Sequence[int], reference: Sequence[int], n: int) -> float:
    """|n-grams(generated) ∩ n-grams(reference)| / |n-grams(reference)|."""
    ref = ngrams(reference, n)
    if not ref:
        raise ValueError(f"the reference has fewer than n = {n} tokens")
    return len(ngrams(generated, n) & ref) / len(ref)


def extraction_likelihood(continuations: Sequence[Sequence[int]], suffixes: Sequence[Sequence[int]],
                          n: int) -> float:
    """EL_n: the mean n-gram overlap of each prefix's continuation with its true suffix."""
    pairs = [(c, s) for c, s in zip(continuations, suffixes, strict=True) if len(s) >= n]
    if not pairs:
        raise ValueError(f"no suffix has n = {n} tokens")
    return sum(ngram_overlap(c, s, n) for c, s in pairs) / len(pairs)
