"""Measured updates-to-forget (`mrd-bench updates-to-forget`): how many single-sample updates
the method needed before the sample's memorisation accuracy fell below the threshold. The
ground truth the other signals try to predict, and the costliest: higher = harder."""
from mrd_bench.signals.base import Signal, register


def _needs(meta: dict):
    return None if meta.get("kind") == "updates_to_forget" else "is not an updates-to-forget file"


register(Signal("updates", "updates to forget", "harder", "updates", "updates",
                "Updates the unlearning method needed before the sample's MA fell below the threshold (runs that "
                "never reached it count as the cap).", _needs))
