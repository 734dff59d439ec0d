"""MRD per answer token: MRD sums over the answer's tokens, so it grows with length
(Spearman +0.91 in the reproduction study); this divides that out."""
from mrd_bench.signals.base import Signal, register


def _needs(meta: dict):
    return None if meta.get("metric", "mrd") == "mrd" else f"holds {meta.get('metric')!r} scores, not MRD"


register(Signal("mrd_per_token", "MRD per answer token", "easier", "scores", "score",
                "MRD divided by the number of answer tokens: the part of MRD that is not answer length.", _needs,
                per="n_tokens", minimum=0.0))
