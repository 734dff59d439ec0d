"""Difficulty signals: a name, a direction, and the file a signal is read from.

A signal turns one row of a per-sample file into a number (`value`), and says which way that
number points: `higher_is` "easier" or "harder". Every consumer (annotate, the lm-eval tasks,
reports, boards, the audit, compare-difficulty, difficulty-check) reads that direction from the
annotation the signal made; none compares a signal's name.

The files signals read are written by other commands (`source`):
- "scores":  `mrd-bench score` (MRD per sample, with the baselines NLL, Min-K%, length);
- "updates": `mrd-bench updates-to-forget` (the measured ground truth).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

from mrd_bench.errors import DataError
from mrd_bench.registry import Registry

HIGHER_IS = ("easier", "harder")
SOURCES = {"scores": "mrd-bench score", "updates": "mrd-bench updates-to-forget"}


@dataclass(frozen=True)
class Signal:
    name: str
    label: str                  # for axes and tables, e.g. "answer NLL"
    higher_is: str              # "easier" or "harder"
    source: str                 # a key of SOURCES
    column: str                 # the row's field that holds it
    about: str                  # one sentence: what it is, and why that direction
    needs: Callable[[dict], Optional[str]] = lambda meta: None  # the file's meta -> why it cannot give this signal
    per: Optional[str] = None   # divide by this field (MRD per token: score / n_tokens)
    minimum: Optional[float] = None  # values below it are refused (MRD is >= 0)

    def __post_init__(self) -> None:
        if self.higher_is not in HIGHER_IS or self.source not in SOURCES:
            raise ValueError(f"signal {self.name!r}: higher_is must be one of {HIGHER_IS}, source one of {list(SOURCES)}")

    def axis(self) -> str:
        """"MRD (definition) (higher = easier)": what every axis and table column says."""
        return f"{self.label} (higher = {self.higher_is})"

    def values(self, rows: list[dict], meta: dict, path: str) -> dict[str, float]:
        """sample_id -> the signal, from the rows of a `source` file; a file of another kind, or a
        row without a usable value, is an error naming it and the command that writes the file."""
        problem = self.needs(meta)
        if problem:
            raise DataError(f"{path}: {problem}; signal {self.name!r} reads a file from `{SOURCES[self.source]}`.")
        out: dict[str, float] = {}
        for row in rows:
            v = row.get(self.column)
            floor = "" if self.minimum is None else f" >= {self.minimum:g}"
            if not _number(v) or (self.minimum is not None and v < self.minimum):
                raise DataError(f"{path}: sample {row['sample_id']!r} has {self.column} {v!r}; {self.label} must be a "
                                f"finite number{floor}. Measure that sample again with `{SOURCES[self.source]}`.")
            if self.per is not None:
                d = row.get(self.per)
                if not _number(d) or d <= 0:
                    raise DataError(f"{path}: sample {row['sample_id']!r} has {self.per} {d!r}; {self.label} needs a "
                                    f"positive {self.per}. Write the file again with `{SOURCES[self.source]}`.")
                v = v / d
            out[row["sample_id"]] = float(v)
        return out


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


SIGNALS: Registry[Signal] = Registry("difficulty signal")


def register(signal: Signal) -> Signal:
    return SIGNALS.register(signal.name)(signal)


def direction_sign(higher_is: str) -> int:
    """+1 where a higher value means easier, -1 where it means harder."""
    if higher_is not in HIGHER_IS:
        raise DataError(f"higher_is must be 'easier' or 'harder'; got {higher_is!r}.")
    return 1 if higher_is == "easier" else -1


MRD_SIGNAL = {"label": "MRD", "higher_is": "easier"}  # what annotations made before signals had names used


def short_label(signal: Optional[dict]) -> str:
    return (signal or MRD_SIGNAL)["label"]


def direction_text(signal: Optional[dict]) -> str:
    """"easy = high MRD, hard = low MRD", from the signal's direction; for mixed signals, say so."""
    signal = signal or MRD_SIGNAL
    if signal.get("higher_is") not in HIGHER_IS:
        return "easy and hard as each annotation's signal says"
    high, low = ("easy", "hard") if signal["higher_is"] == "easier" else ("hard", "easy")
    return f"{high} = high {signal['label']}, {low} = low {signal['label']}"
