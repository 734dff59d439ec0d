"""Min-K% (Shi et al., 2024): the mean log-probability of the answer's k% least likely tokens
(k = 40%, scorers/baselines.MIN_K; a baseline column of `mrd-bench score`). Even its weakest
tokens well learnt: higher = harder."""
from mrd_bench.signals.base import Signal, register


def _needs(meta: dict):
    return None if meta.get("metric", "mrd") == "mrd" else "holds CUD scores, which carry no Min-K% column"


register(Signal("min_k", "Min-K% log-probability", "harder", "scores", "min_k",
                "Mean log-probability of the least likely 40% of answer tokens: high when even the weakest tokens "
                "are memorised, which takes longer to undo.", _needs))
