"""ROUGE-L recall (Lin, 2004) of a generated answer against the reference answer, as TOFU
(Maini et al., 2024) reports it: longest common subsequence length over the reference's
token count, on rouge_score's tokens (lowercased, non-alphanumerics dropped, Porter-stemmed).
"""
from __future__ import annotations

from functools import lru_cache

from rouge_score import rouge_scorer


@lru_cache(maxsize=1)
def _scorer() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rougeL_recall(prediction: str, reference: str) -> float:
    """LCS(prediction, reference) / |reference|; 0.0 when the reference has no tokens."""
    return float(_scorer().score(reference, prediction)["rougeL"].recall)  # score(target, prediction)
