"""What the claim modules share: the smallest effects of interest, the baselines MRD is judged
against, and the pieces of a claim's result and of its report text."""
from __future__ import annotations

import math
from typing import Optional

BASELINES = {"nll": "answer NLL", "min_k": "Min-K% Prob", "grad_norm": "gradient norm", "n_tokens": "answer length"}
SESOI_RHO = 0.1  # a Spearman weaker than this is no practical ranking signal
SESOI_DELTA = 0.147  # Cliff's δ below Romano et al.'s (2006) "small" is negligible
SESOI_AUC = 0.05  # an AUC within 0.05 of chance separates nothing usable
SESOI_THETA = 1.0  # subsets that spread utility no more than the seed does
SESOI_LOG_RATIO = math.log(1 / 0.9)  # a sampler saving less than 10% of the updates
SESOI_PROB = 0.01  # a change of retain answer probability or forget UA under 0.01 (absolute) is negligible


def pending(claim: dict, needs: list[str]) -> dict:
    return {**claim, "verdict": "pending", "needs": needs, "finding": "Not measured yet.",
            "summary": "not measured yet: the stage(s) " + ", ".join(needs) + " have not run"}


def ci(c: dict, key: str = "rho", fmt: str = "+.2f") -> str:
    return f"{c[key]:{fmt}} [{c['ci'][0]:{fmt}}, {c['ci'][1]:{fmt}}]"


def result(test: dict, key: str = "rho") -> dict:
    return {"estimate": test[key], "ci": test["ci"], "p": test["p"], "n": test["n"]}


def fmt(x: Optional[float], sign: bool = True) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:+.2f}" if sign else f"{x:.2f}"


def rho(c: dict) -> str:
    return f"{fmt(c['rho'])} [{fmt(c['ci'][0])}, {fmt(c['ci'][1])}]"


def p_text(p: float) -> str:
    return "n/a" if not math.isfinite(p) else f"{p:.2g}"


def reach_by(runs: list[dict], group) -> dict[str, float]:
    """The share of runs that reached the MA threshold, per group (`group(run)`: method, or method/sampler)."""
    out: dict[str, list[bool]] = {}
    for r in runs:
        out.setdefault(group(r), []).append(not r["censored"])
    return {name: sum(v) / len(v) for name, v in sorted(out.items())}
