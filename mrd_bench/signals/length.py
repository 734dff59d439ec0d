"""Answer length in tokens (a column of `mrd-bench score`). Declared higher = easier, the
direction MRD implies: MRD tracks length (Spearman +0.91 in the reproduction study) and higher
MRD means fewer updates to forget. `mrd-bench difficulty-check` measures it for a model."""
from mrd_bench.signals.base import Signal, register


register(Signal("length", "answer length (tokens)", "easier", "scores", "n_tokens",
                "The number of answer tokens; its direction is MRD's, which tracks length, and difficulty-check "
                "measures whether it holds."))
