"""Sample characteristics for the MRD paper's Table 7 / Section 4.2, from the text alone.

- entity frequency: the sample's named entities (runs of capitalised words, not counting a
  sentence's first word) and, for each, the number of training QA pairs that mention it;
  the sample's value is the mean over its entities (0 without one);
- lexical diversity: the moving-average type-token ratio of the answer (window 10 words,
  MATTR), which unlike the plain ratio does not fall with length;
- syntactic depth: a parser-free proxy, since no parser model can be installed offline:
  1 + the number of subordinate-clause markers (subordinating conjunctions, relative
  pronouns, commas before them) per sentence, averaged over the answer's sentences;
- rare words: the count of the answer's words outside the 10,000 most frequent English
  words (wordfreq); "with rare words" = more than 3.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

from mrd_bench.scorers.baselines import rare_word_count

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_ENTITY = re.compile(r"\b([A-Z][a-z]+(?:[\s-][A-Z][a-z]+)*)")
SUBORDINATORS = frozenset("""which who whom whose that because although though while whereas when whenever where
wherever if unless since until before after as whether""".split())
STOP_CAPS = frozenset("The A An In On At Of And But Or For To From With By As His Her Their Its This That These "
                      "Those He She They It I We You What Who How When Where Why Which Yes No".split())
RARE_MIN = 4  # "more than 3 words outside the frequent-word list"


def entities(text: str) -> list[str]:
    found = []
    for sentence in _SENTENCE.split(text.strip()):
        words = sentence.split()
        body = " ".join(words[1:])  # a sentence's first word is capitalised anyway
        found += [m.group(1) for m in _ENTITY.finditer(body) if m.group(1).split()[0] not in STOP_CAPS]
    return found


def entity_frequency(texts: Sequence[str], training: Sequence[str]) -> list[float]:
    """Mean number of training texts mentioning each of a text's entities."""
    mentions: Counter = Counter()
    for text in training:
        mentions.update(set(entities(text)))
    out = []
    for text in texts:
        names = set(entities(text))
        out.append(sum(mentions[n] for n in names) / len(names) if names else 0.0)
    return out


def lexical_diversity(text: str, window: int = 10) -> float:
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return 0.0
    if len(words) <= window:
        return len(set(words)) / len(words)
    ratios = [len(set(words[i:i + window])) / window for i in range(len(words) - window + 1)]
    return sum(ratios) / len(ratios)


def syntactic_depth(text: str) -> float:
    sentences = [s for s in _SENTENCE.split(text.strip()) if s]
    if not sentences:
        return 0.0
    depth = [1 + sum(w.lower() in SUBORDINATORS for w in _WORD.findall(s)) for s in sentences]
    return sum(depth) / len(depth)


def characteristics(questions: Sequence[str], answers: Sequence[str], training: Sequence[str]) -> dict[str, list]:
    texts = [f"{q} {a}" for q, a in zip(questions, answers)]
    return {"entity_frequency": entity_frequency(texts, training),
            "lexical_diversity": [lexical_diversity(a) for a in answers],
            "syntactic_depth": [syntactic_depth(a) for a in answers],
            "rare_words": [rare_word_count(a) for a in answers]}
