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


def signal_of(annotation: dict) -> tuple[str, str, str]:
    """(name, label, direction) of the board's signal, from its definition (MRD for boards made
    before signals had names)."""
    name = annotation.get("signal") or str(annotation.get("metric", "mrd"))
    label = annotation.get("signal_label") or name.upper()
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
    why = ("the check chose it" if chosen == name else
           f"the check chose {check.get('signals', {}).get(chosen, chosen)}; this board keeps {label}: "
           + (annotation.get("why") or "no reason is given"))
    return {"line": f"Stratified by {label} (higher = {higher}): Spearman with updates-to-forget {parts} (n = {n}, "
                    f"{annotation['evidence']}); {why}.",
            "check": {"file": annotation["evidence"], "chosen": chosen, "n": n}}


def _num(x) -> str:
    return f"{x:+.2f}" if isinstance(x, (int, float)) and math.isfinite(x) else "n/a"
