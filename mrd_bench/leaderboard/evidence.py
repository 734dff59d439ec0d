"""What a board stratifies by, and the evidence for it, in one line.

A board definition may name a difficulty-check result (`annotation.evidence`: a
`mrd-bench difficulty-check` check.json copied into the board folder). The line gives the
board's signal with its Spearman against measured updates-to-forget for each method, and
whether the check chose that signal; without a result it says the choice is not backed here.
"""
from __future__ import annotations

import math
from pathlib import Path

from mrd_bench.leaderboard.untrusted import Invalid, confined, read


# boards defined before signals had names say only "mrd" (scored with the definition estimator)
LEGACY = {"mrd": "mrd_definition"}


def signal_of(annotation: dict) -> tuple[str, str, str]:
    """(name, label, direction) of the board's signal, from its definition (MRD for boards made
    before signals had names)."""
    metric = str(annotation.get("metric", "mrd"))
    name = annotation.get("signal") or LEGACY.get(metric, metric)
    label = annotation.get("signal_label") or metric.upper()
    return name, label, annotation.get("higher_is", "easier")


def evidence(folder: str | Path, annotation: dict) -> dict:
    """{"line": ..., "check": {...}} for the page and scores.json."""
    name, label, higher = signal_of(annotation)
    if not annotation.get("evidence"):
        return {"line": f"Stratified by {label} (higher = {higher}); no difficulty-check result is attached to this "
                        "board, so this choice of signal is not backed by evidence here (`mrd-bench difficulty-check`)."}
    try:
        check = read(confined(Path(folder), annotation["evidence"], "annotation/evidence"), "annotation/evidence")
        rows = check["table"][name]
        chosen = check["choice"]["signal"]
    except Invalid as err:
        return {"line": f"Stratified by {label} (higher = {higher}); its evidence could not be read ({err})."}
    except (KeyError, TypeError):
        return {"line": f"Stratified by {label} (higher = {higher}); the attached difficulty check "
                        f"({annotation['evidence']}) did not measure this signal."}
    parts = "; ".join(f"{_num(r.get('rho'))} [{_num((r.get('ci') or [None])[0])}, {_num((r.get('ci') or [None, None])[1])}] "
                      f"for {m}" for m, r in rows.items())
    n = len(check.get("sample_ids") or [])
    supported = (check["choice"].get("supported") or {}).get(name)
    shown = (" (its 95% CI excludes 0 in that direction for every method)" if supported else
             " (its 95% CI does not exclude 0 in that direction for every method)" if supported is False else "")
    named = check.get("signals", {}).get(chosen, chosen)
    why = ((f"the check chose it{shown}") if chosen == name else
           ("the check chose no signal" if chosen is None else f"the check chose {named}")
           + f"; this board keeps {label}: " + (annotation.get("why") or "no reason is given"))
    sign = "negative" if higher == "easier" else "positive"
    return {"line": f"Stratified by {label} (higher = {higher}, so {sign} means it points the right way): Spearman "
                    f"with updates-to-forget {parts} (n = {n}, {annotation['evidence']}); {why}.",
            "check": {"file": annotation["evidence"], "chosen": chosen, "n": n}}


def _num(x) -> str:
    return f"{x:+.2f}" if isinstance(x, (int, float)) and math.isfinite(x) else "n/a"
