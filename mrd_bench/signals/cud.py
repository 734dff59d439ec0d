"""CUD (mrd_bench/scorers/cud.py): how close a sample's circuit is to the known-hard samples'
rather than the known-easy ones'. The CUD paper: higher = harder."""
from mrd_bench.signals.base import Signal, register


def _needs(meta: dict):
    return None if meta.get("metric") == "cud" else "holds MRD scores, not CUD (`mrd-bench score --metric cud`)"


register(Signal("cud", "CUD", "harder", "scores", "score",
                "Circuit distance to the hard anchors minus the easy ones: a circuit like the hard samples' marks a "
                "sample that unlearning struggles with.", _needs))
