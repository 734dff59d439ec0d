"""The corrupted baseline input of EAP-IG: the same question with another entity's name, of equal
token length, so the clean and the corrupted run line up position by position.

An entity is a run of capitalised words (two or more, or one that does not open the prompt),
like "Hsiao Yun-Hwa". Its replacement comes from the other entities of the same split, tried
in a seeded order: the first whose question encodes to the same tokens around the name, with a
name of exactly as many tokens, is used; failing that, a name made of two others' words
("First Last", "First Middle Last") of exactly that length; failing that, the first longer name
cut to length (recorded as ``exact: false``). A prompt without an entity has no
corrupted counterpart, and its row says so (``baseline: zero``): it is zero-ablated instead.
"""
from __future__ import annotations

import random
import re
from typing import Optional, Sequence

from mrd_bench.models import IGNORE, Encoded, encode_qa

_WORD = r"[A-Z][\w'\-]*[\w]"
_ENTITY = re.compile(rf"{_WORD}(?:\s+{_WORD})+|{_WORD}")


def entities(text: str) -> list[str]:
    """Capitalised spans, longest first, without a possessive 's; the word that opens the text is
    capitalised by grammar ("Is", "Through"), so it is never part of one."""
    found = []
    for m in _ENTITY.finditer(text):
        span, start = m.group(), m.start()
        if start == 0:  # drop the opening word
            head, _, span = span.partition(" ")
            start += len(head) + 1
        span = re.sub(r"'s$", "", span)
        if len(span) > 1 and span[0].isupper():
            found.append((span, start))
    return [s for s, _ in sorted(found, key=lambda f: (-len(f[0]), f[1]))]


def _span(a: list[int], b: list[int]) -> tuple[int, int, int]:
    """Where b differs from a: (start, end in a, end in b) after the common prefix and suffix."""
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    return start, len(a) - end, len(b) - end


def corrupt(tokenizer, prompt: str, target: str, clean: Encoded, pool: Sequence[str], *, seed: int,
            max_length: int = 512, fmt: str = "auto") -> tuple[Optional[list[int]], dict]:
    """(corrupted input ids or None, what was done)."""
    names = entities(prompt)
    if not names:
        return None, {"baseline": "zero", "reason": "no entity in the prompt"}
    entity = names[0]
    candidates = sorted({p for p in pool if p != entity and p not in entity and entity not in p})
    random.Random(f"{seed}:{prompt}").shuffle(candidates)
    first_scored = next((i for i, label in enumerate(clean.labels) if label != IGNORE), len(clean.labels))
    # after the single names, names made of two others' words ("First Last", "First Middle Last")
    pairs = list(zip(candidates, candidates[1:] + candidates[:1])) if len(candidates) > 1 else []
    made = [f"{a.split()[0]} {b.split()[-1]}" for a, b in pairs] + [f"{a} {b.split()[-1]}" for a, b in pairs]
    made = [m for m in made if m != entity and entity not in m and m not in entity]
    longer = None
    for n, other in enumerate(candidates + made):
        ids = encode_qa(tokenizer, prompt.replace(entity, other), target, max_length=max_length, fmt=fmt).input_ids
        start, end_clean, end_other = _span(clean.input_ids, ids)
        if end_clean <= start or end_clean > first_scored:  # nothing changed, or the answer did
            continue
        if len(ids) == len(clean.input_ids) and end_clean == end_other:
            return ids, {"baseline": "corrupt", "entity": entity, "replacement": other, "exact": True}
        if n < len(candidates) and longer is None and end_other - start >= end_clean - start:
            length = end_clean - start  # a real name, cut to length: the last resort
            longer = (clean.input_ids[:start] + ids[start:start + length] + clean.input_ids[end_clean:], other)
    if longer is not None:
        return longer[0], {"baseline": "corrupt", "entity": entity, "replacement": longer[1], "exact": False}
    return None, {"baseline": "zero", "reason": f"no other entity of at least {entity!r}'s token length"}


def entity_pool(prompts: Sequence[str]) -> list[str]:
    """Every prompt's first entity: the names a corrupted question can borrow."""
    return sorted({names[0] for names in map(entities, prompts) if names})
