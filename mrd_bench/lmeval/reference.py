"""Reference truth ratios of a retain-only model, for forget quality.

A reference is either
- the `--log_samples` file lm-eval writes for a forget truth-ratio task
  (`samples_tofu_forget_mrd_tr_*.jsonl`) run on the retain model: each line's
  `forget_quality` item holds that sample's truth ratio R (`{"value": R, ...}`; files
  from before 0.2 hold a list that starts with R); or
- a JSON object {"truth_ratios": {sample_id: R, ...}}.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from mrd_bench.errors import DataError


def read_reference(path: str | Path) -> dict[str, float]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"retain reference {str(path)!r} does not exist; pass the retain model's "
                        "samples_tofu_forget_mrd_tr_*.jsonl (lm-eval --log_samples) or a truth_ratios JSON.")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            ratios = json.loads(text)["truth_ratios"]
        else:
            ratios = {}
            for line in filter(None, text.split("\n")):
                row = json.loads(line)
                item = row["forget_quality"]
                ratios[row["doc"]["sample_id"]] = item["value"] if isinstance(item, dict) else item[0]
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise DataError(f"{str(path)!r} is not a retain reference ({type(err).__name__}: {err}); pass a "
                        "samples_*_tr_*.jsonl from lm-eval --log_samples or {\"truth_ratios\": {...}} JSON.") from err
    ratios = {sid: float(r) for sid, r in ratios.items() if r is not None and not math.isnan(float(r))}
    if not ratios:
        raise DataError(f"{str(path)!r} holds no truth ratios; run the retain model with the token-level "
                        "model (`mrd-bench eval --model hf-mrd`).")
    return ratios

