"""MRD by each of its three estimators (mrd_bench/scorers/mrd.py): the relative change of the
answer's log-likelihood under small weight noise. The MRD paper: higher MRD = easier to forget."""
from mrd_bench.signals.base import Signal, register


def _by(estimator: str):
    def needs(meta: dict):
        made = (meta.get("score_config") or {}).get("estimator") or meta.get("estimator")
        if meta.get("metric", "mrd") != "mrd":
            return f"holds {meta.get('metric')!r} scores, not MRD"
        if made is not None and made != estimator:
            return f"holds MRD by the {made!r} estimator, not {estimator!r}"
        return None
    return needs


for _estimator in ("definition", "alg1", "hutchinson"):
    register(Signal(f"mrd_{_estimator}", f"MRD ({_estimator})", "easier", "scores", "score",
                    "MRD of the original model: a large relative change under weight noise marks a sample that "
                    "sits in a sharp region, which the MRD paper finds quick to forget.", _by(_estimator), minimum=0.0))
