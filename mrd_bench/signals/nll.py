"""The answer's mean negative log-likelihood under the original model (a baseline column of
`mrd-bench score`). A poorly learnt answer has little to undo: higher NLL = easier."""
from mrd_bench.signals.base import Signal, register


def _needs(meta: dict):
    return None if meta.get("metric", "mrd") == "mrd" else "holds CUD scores, which carry no NLL column"


register(Signal("nll", "answer NLL", "easier", "scores", "nll",
                "Mean negative log-likelihood of the answer tokens: an answer the model barely learnt is quick to "
                "push below the forgetting threshold.", _needs))
