"""ZLib attack (Carlini et al., 2021): the loss relative to the text's zlib-compressed length,
so that text that is merely repetitive (easy for any model) is not taken for memorised.

open-unlearning's `zlib` attack: loss / len(zlib.compress(text.encode("utf-8"))), with the loss
the mean token NLL; the member score here is its negation, (mean log p) / zlib length.
"""
from __future__ import annotations

import zlib


def zlib_length(text: str) -> int:
    """Bytes of the UTF-8 text after zlib compression (default level, as open-unlearning)."""
    return len(zlib.compress(text.encode("utf-8")))


def zlib_score(mean_logp: float, text: str) -> float:
    """Mean log p over the zlib length of `text` (higher = more likely a member)."""
    return mean_logp / zlib_length(text)
